"""How long a test waits for a child process or thread before it calls it hung.

A guard against a hang, never a measure of speed (tests assert behaviour, not
rates): a child that is only slow must still finish.  Under qemu-user an arm64
interpreter runs 10-50x slower than natively, two of them side by side on two
cores, where a child importing SkyPilot can take minutes: the guard is far
above anything slow but working.
"""

HANG_GUARD = 600.0  # seconds
