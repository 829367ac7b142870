"""How long a test waits for a child process or thread before it calls it hung.

A guard against a hang, never a measure of speed (tests assert behaviour, not
rates): a child that is only slow must still finish.  Under qemu-user an arm64
interpreter runs 10-50x slower than natively, two of them side by side on two
cores; there a child that imports SkyPilot once took over 60 s (aarch64 cp313,
the full matrix at 1f1df5f), where a 60 s guard failed a test that was right.
"""

HANG_GUARD = 600.0  # seconds
