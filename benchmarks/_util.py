"""Shared helpers for the asv suite: pick the implementation, set the cache, make seeded data.

Kept free of any import from ``skyfast._bench`` so that the suite can run
against older commits of skyfast (asv benchmarks the current suite against
each built commit).
"""

from __future__ import annotations

import importlib
import os
import random
import socket
from types import ModuleType
from typing import List, Tuple

IMPLEMENTATIONS = ["cython", "python"]
CACHE_MODES = ["warm", "cold"]
DEFAULT_TTL = 0.020
SEED = 20240601
KIB = 1024
MIB = 1024 * 1024

_MODULES = {"cython": "skyfast._core", "python": "skyfast._core_py"}
POD_ENV_VARS = (
    "SKYPILOT_POD_CPU_CORE_LIMIT",
    "SKYPILOT_POD_MEMORY_GB_LIMIT",
    "SKYPILOT_POD_MEMORY_BYTES_LIMIT",
)


def load(impl: str, cache: str = "warm") -> ModuleType:
    """The implementation module for the ``impl`` parameter, its cache set to ``cache``.

    Only a missing compiled core skips (NotImplementedError is asv's "skip this
    combination"), and not even that when SKYFAST_REQUIRE_EXTENSIONS is set
    (asv.conf.json sets it): a missing or broken skyfast is an error, never a
    silently empty result.
    """
    name = _MODULES[impl]
    importlib.import_module("skyfast")  # ImportError here is a real failure
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        if e.name != name or _flag("SKYFAST_REQUIRE_EXTENSIONS"):
            raise
        raise NotImplementedError(f"{name} is not built: {e}") from e
    module.set_cache_ttl(DEFAULT_TTL if cache == "warm" else 0.0)
    return module


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def unset_pod_env() -> None:
    """The host figures, not the SKYPILOT_POD_* overrides (asv runs each benchmark in its own
    process, so nothing needs restoring)."""
    for name in POD_ENV_VARS:
        os.environ.pop(name, None)


def write_random_file(path: str, size: int, seed: int = SEED) -> str:
    """``size`` seeded random bytes at ``path``; returns the absolute path."""
    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            block = rng.randbytes(min(left, 4 * MIB))
            f.write(block)
            left -= len(block)
    return os.path.abspath(path)


_WORDS = (
    "sky launch cluster node gpu worker job task sync rsync mount bucket file "
    "provision ready stopped running pending cloud region zone spot instance "
    "retry timeout error warning info debug ssh head controller serve replica"
).split()


def write_log(path: str, size: int, seed: int = SEED) -> str:
    """A log file of about ``size`` bytes of seeded lines (repeating 1 MiB blocks)."""
    rng = random.Random(seed)
    blocks = []
    for _ in range(4):
        lines = []
        total = 0
        t = 1_700_000_000
        while total < MIB:
            t += rng.randrange(1, 5000)
            msg = " ".join(rng.choices(_WORDS, k=rng.randrange(3, 24)))
            line = f"{rng.choice('IIIIIWED')} {t} [worker-{rng.randrange(32)}] {msg}\n"
            lines.append(line)
            total += len(line)
        blocks.append("".join(lines).encode())
    written = 0
    with open(path, "wb") as f:
        i = 0
        while written < size:
            f.write(blocks[i % 4])
            written += len(blocks[i % 4])
            i += 1
    return os.path.abspath(path)


def write_no_newline(path: str, size: int, seed: int = SEED) -> str:
    """``size`` bytes of printable ASCII without a single '\\n' (one huge line)."""
    table = bytes(32 + b % 95 for b in range(256))
    block = random.Random(seed).randbytes(MIB).translate(table)
    with open(path, "wb") as f:
        left = size
        while left:
            part = block[: min(left, MIB)]
            f.write(part)
            left -= len(part)
    return os.path.abspath(path)


def make_entries(directory: str, count: int) -> str:
    """A directory holding ``count`` empty files."""
    os.makedirs(directory)
    for i in range(count):
        path = os.path.join(directory, f"entry-{i:06d}")
        try:
            os.mknod(path, 0o644)
        except PermissionError:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
    return os.path.abspath(directory)


def text_with_spaces(length: int, seed: int = SEED) -> str:
    """``length`` characters of seeded words separated by single spaces."""
    rng = random.Random(seed + length)
    parts: List[str] = []
    total = 0
    while total < length:
        word = rng.choice(_WORDS)
        parts.append(word)
        total += len(word) + 1
    return " ".join(parts)[:length]


def hold_ports(count: int) -> Tuple[int, List[socket.socket]]:
    """Bind ``count`` consecutive ports on '' above the ephemeral range, the next one free.

    Returns (first held port, sockets to close in teardown).
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            high = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        high = 60999
    begin = high + 1 if high + 4 * (count + 1) < 65535 else 40001
    for base in range(max(begin, 40001), 65535 - count - 1, count + 1):
        socks: List[socket.socket] = []
        for port in range(base, base + count + 1):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("", port))
            except OSError:
                s.close()
                break
            socks.append(s)
        else:
            socks.pop().close()
            return base, socks
        for s in socks:
            s.close()
    raise NotImplementedError(f"no run of {count + 1} free ports above {begin}")
