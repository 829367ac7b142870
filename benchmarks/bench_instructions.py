"""Instructions per call of the twelve functions, counted by callgrind (asv ``track_``).

The time benchmarks (``bench_<function>.py``) say how long a call takes on
this machine at this moment; on a shared machine that moves by tens of percent
from run to run. These count what a call executes, which only a change of code
(skyfast's, or CPython's, libc's, OpenSSL's) moves: a step in their history is
a commit that changed the work done. See docs/benchmarks.md, "Instructions".

One class a function, parametrized over ``impl`` and a few cases. All of them
are counted in one run of ``valgrind --tool=callgrind`` (a forked child per
combination, see ``_instructions.py``), about a minute, before the first of
them reports. Without valgrind every combination is n/a.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from typing import ClassVar, Dict

from ._instructions import Args, Case, Inputs, _Instructions
from ._util import (
    KIB,
    MIB,
    SEED,
    hold_ports,
    make_entries,
    text_with_spaces,
    write_log,
    write_random_file,
)


def _hex(digits: int) -> str:
    value = random.Random(SEED + digits).getrandbits(4 * digits) | 1 << (4 * digits - 1)
    return f"{value:x}"


def _reaped_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid names no process (until the kernel reuses it)
    return child.pid


def _ports(inputs: Inputs, taken: int) -> Args:
    """Hold 50 ports (until every case is counted); start ``taken`` ports before the free one."""
    base, held = hold_ports(50)
    for s in held:
        inputs.hold(s)
    return (base + 50 - taken,)


def _no_args(inputs: Inputs) -> Args:
    return ()


class IsProcessAlive(_Instructions):
    """is_process_alive(pid): a live process (the benchmark's own) and a reaped one."""

    function = "is_process_alive"
    cases: ClassVar[Dict[str, Case]] = {
        # The benchmark's own process (the valgrind run's parent): pidfd_open and poll.
        "alive": Case(lambda i: (os.getpid(),), 500),
        "no such process": Case(lambda i: (_reaped_pid(),), 500),
    }


class GetCpuCount(_Instructions):
    """get_cpu_count() from the host: cached (warm) and read from the kernel (cold)."""

    function = "get_cpu_count"
    cases: ClassVar[Dict[str, Case]] = {
        "warm": Case(_no_args, 500),
        "cold": Case(_no_args, 100, "cold"),
    }


class GetMemSizeGb(_Instructions):
    """get_mem_size_gb() from the host: cached (warm) and read from the kernel (cold)."""

    function = "get_mem_size_gb"
    cases: ClassVar[Dict[str, Case]] = {
        "warm": Case(_no_args, 500),
        "cold": Case(_no_args, 100, "cold"),
    }


class GetParallelThreads(_Instructions):
    """get_parallel_threads(None), cached (warm) and cold."""

    function = "get_parallel_threads"
    cases: ClassVar[Dict[str, Case]] = {
        "warm": Case(lambda i: (None,), 500),
        "cold": Case(lambda i: (None,), 100, "cold"),
    }


class GetMaxWorkersForFileMounts(_Instructions):
    """get_max_workers_for_file_mounts({}), cached (warm) and cold."""

    function = "get_max_workers_for_file_mounts"
    cases: ClassVar[Dict[str, Case]] = {
        "{}, warm": Case(lambda i: ({},), 500),
        "{}, cold": Case(lambda i: ({},), 100, "cold"),
    }


class Base36Encode(_Instructions):
    """base36_encode(hex_str): 32 hex digits (a uuid4().hex) and 256."""

    function = "base36_encode"
    cases: ClassVar[Dict[str, Case]] = {
        "32 hex digits": Case(lambda i: (_hex(32),), 500),
        "256 hex digits": Case(lambda i: (_hex(256),), 50),
    }


class HashFile(_Instructions):
    """hash_file(path, alg) on seeded random files (page cache warm)."""

    function = "hash_file"
    cases: ClassVar[Dict[str, Case]] = {
        "sha256, 4 KiB": Case(lambda i: (write_random_file(i.path("f"), 4 * KIB), "sha256"), 200),
        "md5, 4 KiB": Case(lambda i: (write_random_file(i.path("f"), 4 * KIB), "md5"), 200),
        "sha256, 1 MiB": Case(lambda i: (write_random_file(i.path("f"), MIB), "sha256"), 3),
    }


class ReadLastNLines(_Instructions):
    """read_last_n_lines(path, n) on a 1 MB seeded log."""

    function = "read_last_n_lines"
    cases: ClassVar[Dict[str, Case]] = {
        "1 MB log, n=10": Case(lambda i: (write_log(i.path("app.log"), 1_000_000), 10), 200),
        "1 MB log, n=1000": Case(lambda i: (write_log(i.path("app.log"), 1_000_000), 1000), 20),
    }


class FormatFloat(_Instructions):
    """format_float(num[, precision])."""

    function = "format_float"
    cases: ClassVar[Dict[str, Case]] = {
        "3.14159": Case(lambda i: (3.14159,), 500),
        "1234567.891, 2": Case(lambda i: (1234567.891, 2), 500),
    }


class EstimateFdForDir(_Instructions):
    """estimate_fd_for_dir(path) on a directory of 1,000 empty files."""

    function = "estimate_fd_for_dir"
    cases: ClassVar[Dict[str, Case]] = {
        "1,000 entries": Case(lambda i: (make_entries(i.path("d"), 1000),), 20),
    }


class FindFreePort(_Instructions):
    """find_free_port(start): the first port free, and the first 50 held by the benchmark."""

    function = "find_free_port"
    cases: ClassVar[Dict[str, Case]] = {
        "first port free": Case(lambda i: _ports(i, 0), 200),
        "first 50 taken": Case(lambda i: _ports(i, 50), 50),
    }


class TruncateLongString(_Instructions):
    """truncate_long_string(s, 35): 80 and 10,000 characters of words."""

    function = "truncate_long_string"
    cases: ClassVar[Dict[str, Case]] = {
        "80 chars": Case(lambda i: (text_with_spaces(80), 35, False), 500),
        "10,000 chars": Case(lambda i: (text_with_spaces(10_000), 35, False), 200),
    }
