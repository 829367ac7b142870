"""Seeded benchmark inputs: the one home of the data both benchmarks measure.

``skyfast bench`` (``skyfast/_bench.py``) and the asv suite (``benchmarks/``)
write their files, logs, directories and strings with these functions, so the
command line and asv measure the same inputs.  Standard library only and no
import from ``skyfast``: ``benchmarks/_util.py`` loads this file by path from
the checkout, so asv can benchmark older commits of skyfast with today's data.
"""

from __future__ import annotations

import os
import random
import socket
from typing import List, Tuple

SEED = 20240601
KIB = 1024
MIB = 1024 * 1024


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
