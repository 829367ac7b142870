"""The SkyPilot code skyfast's contract is verified against: what the drop-in may replace.

``FINGERPRINTS`` holds, per SkyPilot module and function, the fingerprints
(``_fingerprint.py``) of the code the differential suite has compared skyfast
with.  A function whose fingerprint is listed is replaced; any other is left
alone.  ``VERIFIED_FILES`` maps the SHA-256 of a whole module file of a
verified release to that release: the same bytes parse to the same functions,
so a listed file needs no parsing at start-up.

To add a release (docs/skypilot.md, "Adding a SkyPilot release"): install it
in a fresh venv with skyfast, run ``bash .ci/skypilot-releases.sh RELEASE``
(the differential smoke against it and the fingerprints it has), then add the
release to ``VERIFIED_RELEASES``, its two files to ``VERIFIED_FILES``, and any
new fingerprint -- only once the smoke passed.
"""

from __future__ import annotations

from typing import Dict, Tuple

# The releases the differential smoke has passed against, oldest first.
VERIFIED_RELEASES: Tuple[str, ...] = (
    "skypilot==0.12.3.post1",
    "skypilot==0.13.0",
    "skypilot==0.14.1",
    "skypilot-nightly==1.0.0.dev20261027",
)

# module -> function -> accepted fingerprints.  The ten functions and their
# helpers are the same code in every release above.
FINGERPRINTS: Dict[str, Dict[str, Tuple[str, ...]]] = {
    "sky.utils.common_utils": {
        "base36_encode": ("4087a7f09c9208a3bfa4474a3a53ffc4ed7ca36af57de49b980235c403d1d3e1",),
        "find_free_port": ("5d1704b3e5e20117a80f4f57c401fed80cffcb50a1b02c504087d3dfa0c23fb6",),
        "format_float": ("7f94378d62635a6e53d71c9ac923793745e06738e15f310d6a033281b29ec1ac",),
        "get_cpu_count": ("a52b168554ec302ebd486a5fedaf506a5795506e60c013de9342584cc9d937f4",),
        "get_mem_size_gb": ("9226a47251e481b7dfe53470a8968046106bbf964408b2a872e56839d15bbc5b",),
        "hash_file": ("1e2087a8adb82dd836e672f83e851a85f4d272643170211bbf123665979dfd98",),
        "read_last_n_lines": (
            "ddaa6bd20200c4c6c1495ab6ba39f39d1f9cfbf37e4e856b2c8d53d634381f14",
        ),
        "truncate_long_string": (
            "fc62dbe1e88d5931db5a88293b594de18e30ba0032ddf286b806dcf11c6d438a",
        ),
    },
    "sky.utils.subprocess_utils": {
        "get_max_workers_for_file_mounts": (
            "c431785208f36029f9e9af1f113f0c2ea277e01b38bd5674f5e28efc0b216a41",
        ),
        "get_parallel_threads": (
            "8064573ed3413cf89597a3b359ea918a7fe8fa9a50cbe4ee1257b29dabb62e9e",
        ),
    },
}

# SHA-256 of a module file -> (module, release) for the releases above.
VERIFIED_FILES: Dict[str, Tuple[str, str]] = {
    "199ce0c98c2ba9791ce8e0d6c8541110a029a92802a9aa6910a8e574b6611539":
        ("sky.utils.common_utils", "skypilot==0.12.3.post1"),
    "116a6c8f2ec1d884b4c893f5defd2b9467dfd2c248a28d9133174ecd9de64759":
        ("sky.utils.subprocess_utils", "skypilot==0.12.3.post1"),
    "5e2fab21c3ad95fda2c3968187daba0bb6d8c3913022c59cd4a5d0146b3a33ba":
        ("sky.utils.common_utils", "skypilot==0.13.0"),
    "80fde31db9534e9c15d0da91785b3976a6c3c01fff8c67d676d9b467b5e57ae7":
        ("sky.utils.subprocess_utils", "skypilot==0.13.0"),
    "528f2c1c4f1e3df66cc954293e17c572b937494445c32b11bd677a74924375d4":
        ("sky.utils.common_utils", "skypilot==0.14.1"),
    "a065de729bb6282fb14f45e2b990932e0d361a8b9f210d6d7a1a2ab79a32dbcc":
        ("sky.utils.subprocess_utils", "skypilot==0.14.1"),
    "06f93d1382d2bd5925555239eb327d34f333d598d17f975e5a92326511453fb1":
        ("sky.utils.common_utils", "skypilot-nightly==1.0.0.dev20261027"),
    "2e022408f02c8534f1db651f48a9eb19aa945935d005967f0f7ca953bd7c4e1e":
        ("sky.utils.subprocess_utils", "skypilot-nightly==1.0.0.dev20261027"),
}
