"""Pieces both implementations share: exception types, messages, text parsers.

Following psutil's split, the compiled core does the system calls and the
byte shuffling in C; turning the (rare, tiny) text of an environment variable
or a cgroup file into a number is done here, once, in plain Python, so the two
implementations cannot disagree about it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
from types import ModuleType
from typing import Iterator, Optional, Tuple

__all__ = [
    "CGROUP_ROOT",
    "PROC_ROOT",
    "FileNotFoundAssertionError",
    "cgroup_memory_limit",
    "cgroup_v1_cpu_quota",
    "cgroup_v2_cpu_quota",
    "cpu_count_from_env",
    "env_flag",
    "fd_limit_warning",
    "keep_tracebacklimit",
    "mem_gb_from_bytes_env",
    "mem_gb_from_gb_env",
    "meminfo_total_bytes",
    "pipefs_device",
]

PROC_ROOT = "/proc"
CGROUP_ROOT = "/sys/fs/cgroup"

_FALSE_WORDS = ("", "0", "false", "no")


def env_flag(name: str) -> bool:
    """True unless the variable is unset or one of '', '0', 'false', 'no' (any case)."""
    return os.environ.get(name, "").strip().lower() not in _FALSE_WORDS


@contextlib.contextmanager
def keep_tracebacklimit() -> Iterator[None]:
    """Restore ``sys.tracebacklimit`` (or its absence) on leaving.

    SkyPilot sets it while raising some errors and may leave it changed; the
    benchmark and the differential tests call SkyPilot inside this, so one
    reference call cannot change how later failures are reported.
    """
    saved = getattr(sys, "tracebacklimit", None)
    try:
        yield
    finally:
        if saved is None:
            if hasattr(sys, "tracebacklimit"):
                del sys.tracebacklimit
        else:
            sys.tracebacklimit = saved


def load_implementation(
    compiled: str, python: str, *, want_compiled: Optional[bool] = None
) -> Tuple[ModuleType, str]:
    """The compiled module and 'cython', or the pure-Python one and 'python' (SPEC 5).

    SKYFAST_NO_EXTENSIONS picks the pure-Python module, unless ``want_compiled``
    passes a choice already made (so later modules follow the core's choice
    even if the environment changed since); with SKYFAST_REQUIRE_EXTENSIONS a
    compiled module that does not import is an ImportError, never a silent
    slow path.
    """
    if want_compiled is None:
        want_compiled = not env_flag("SKYFAST_NO_EXTENSIONS")
    if want_compiled:
        try:
            return importlib.import_module(compiled), "cython"
        except ImportError as e:
            if env_flag("SKYFAST_REQUIRE_EXTENSIONS"):
                raise ImportError(
                    f"SKYFAST_REQUIRE_EXTENSIONS is set but {compiled} cannot be imported "
                    f"(build skyfast with Cython and a C compiler): {e}"
                ) from e
    return importlib.import_module(python), "python"


class FileNotFoundAssertionError(AssertionError, FileNotFoundError):
    """``read_last_n_lines`` on a missing path.

    SkyPilot raises a bare AssertionError here; callers written for it catch
    AssertionError, callers written for Python's conventions catch
    FileNotFoundError.  Both work.
    """


# hash_file on a FIFO nobody writes to: SkyPilot's open() would wait for a writer.
FIFO_NO_WRITER = "Is a FIFO with no writer; refusing to wait for one"


@functools.cache
def pipefs_device() -> int:
    """``st_dev`` of anonymous pipes: all live on the kernel's one pipefs.

    Opening an anonymous pipe by path (``/dev/stdin``, ``/proc/self/fd/N``,
    ``<(cmd)``) never waits for a writer, unlike a named FIFO's open.
    """
    r, w = os.pipe()
    try:
        return os.fstat(r).st_dev
    finally:
        os.close(r)
        os.close(w)


def fd_limit_warning(fd_limit: int) -> str:
    return (
        f"Open file descriptor limit ({fd_limit}) is low. File sync to remote "
        "clusters may be slow. Consider increasing the limit using "
        "`ulimit -n <number>` or modifying system limits."
    )


# --- environment variables (read through os.environ by the callers) ---------


def cpu_count_from_env(value: str) -> int:
    """``SKYPILOT_POD_CPU_CORE_LIMIT`` -> cores, never below 1 (SPEC 2.2)."""
    try:
        cores = int(float(value))
    except (ValueError, OverflowError) as e:
        # OverflowError is 'inf': the reference leaks it; SPEC 3 makes it the
        # same parse error as any other unusable value.
        raise ValueError(f"Failed to parse the number of CPUs from {value}") from e
    return max(cores, 1)


def mem_gb_from_gb_env(value: str) -> float:
    try:
        return float(value)
    except ValueError as e:
        raise ValueError(f"Failed to parse the memory size from {value} (GB)") from e


def mem_gb_from_bytes_env(value: str) -> float:
    try:
        return float(value) / (1024**3)
    except ValueError as e:
        raise ValueError(f"Failed to parse the memory size from {value} (bytes)") from e


# --- cgroup files at the namespace root (what SkyPilot 0.14.1 reads) ----------
# Each takes the file's text (decoded as UTF-8, strictly) and returns the
# limit, or None for "no limit" -- including for text no kernel would write.


def cgroup_v2_cpu_quota(text: str) -> Optional[float]:
    """``cpu.max`` ("<quota|max> <period>") -> cores, or None."""
    fields = text.split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota = float(fields[0])
        period = float(fields[1])
    except ValueError:
        return None
    return _cores(quota, period)


def cgroup_v1_cpu_quota(quota_text: str, period_text: str) -> Optional[float]:
    """``cpu.cfs_quota_us`` and ``cpu.cfs_period_us`` -> cores, or None (-1 = no quota)."""
    try:
        quota = float(quota_text)
        period = float(period_text)
    except ValueError:
        return None
    return _cores(quota, period)


def _cores(quota: float, period: float) -> Optional[float]:
    # The kernel only writes positive integers; a zero or negative period, or
    # a quota that makes no finite number, is treated as unreadable ("no
    # limit") instead of leaking ZeroDivisionError or OverflowError.
    if not (quota > 0 and period > 0):
        return None
    cores = quota / period
    if cores != cores or cores == float("inf"):
        return None
    return cores


def cgroup_memory_limit(text: str) -> Optional[int]:
    """``memory.max`` / ``memory.limit_in_bytes`` -> bytes, or None ('max', empty, <= 0)."""
    value = text.strip()
    if value == "max" or not value:
        return None
    try:
        limit = int(value)
    except ValueError:
        return None
    return limit if limit > 0 else None


# --- /proc/meminfo ----------------------------------------------------------------


def meminfo_total_bytes(data: bytes) -> int:
    """``MemTotal`` of /proc/meminfo in bytes, parsed as psutil parses it for SkyPilot.

    psutil.virtual_memory() splits every line on whitespace and reads its second
    field as KiB, so a line it cannot parse raises its IndexError or ValueError
    here too, and a file without ``MemTotal`` or ``MemFree`` its KeyError.
    Only real kernels' files are ever this regular; the errors are SkyPilot's.
    """
    lines = data.split(b"\n")
    if not lines[-1]:
        lines.pop()  # iterating a file yields no empty piece after the last newline
    mems = {}
    for line in lines:
        fields = line.split()
        mems[fields[0]] = int(fields[1]) * 1024
    total = mems[b"MemTotal:"]
    mems[b"MemFree:"]  # psutil reads it next, and raises without it
    return total
