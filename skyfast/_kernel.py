"""The kernel layer both implementations share: one file reader, one parser per file.

Following psutil's split, what the kernel writes as text is parsed here, in
plain Python, once: the compiled core and the pure-Python twin call the same
functions, so they cannot disagree about a file.  The grammars are SkyPilot
0.14.1's where SkyPilot reads the file (``cpu.max``, ``cpu.cfs_*``,
``memory.max``/``memory.limit_in_bytes``, ``/proc/meminfo``), so the EXACT
functions keep SkyPilot's answer even on odd text; the container-limits code
uses the same parsers.  Each parser returns None for "no limit", including for
text no kernel writes.
"""

from __future__ import annotations

import functools
import importlib
import os
import stat
import sys
from typing import Any, Optional

from . import _cache

__all__ = [
    "CGROUP_ROOT",
    "MAX_FILE",
    "ON_LINUX",
    "PROC_ROOT",
    "affinity_cpus",
    "alive_from_procfs",
    "alive_without_pidfd",
    "cfs_cores",
    "cfs_quota_may_limit",
    "cpu_max_cores",
    "meminfo_total_bytes",
    "memory_limit_bytes",
    "pid_exists",
    "pipefs_device",
    "read_file",
    "read_text",
    "same_start",
    "total_memory_bytes",
]

# psutil, and so SkyPilot, reads /proc on Linux and asks the system elsewhere
# (SkyPilot's client runs on macOS too): the twin follows the same split.
ON_LINUX = sys.platform.startswith("linux")

PROC_ROOT = "/proc"
CGROUP_ROOT = "/sys/fs/cgroup"
MAX_FILE = 64 << 20  # the mountinfo of a host with very many mounts fits

# O_NONBLOCK: a FIFO planted where a kernel file should be cannot block the open.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)


# --- the one reader -----------------------------------------------------------------


def read_file(path: str) -> Optional[bytes]:
    """A kernel file's bytes, or None for anything that is not a readable regular file.

    Reads until read() returns 0 (procfs and FUSE files return short reads);
    None past MAX_FILE bytes.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except (OSError, ValueError):  # ValueError: a NUL in the path
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        total = 0
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > MAX_FILE:
                return None
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_text(path: str) -> Optional[str]:
    """read_file() decoded as strict UTF-8 (SkyPilot's ``encoding='utf-8'``), or None."""
    data = read_file(path)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# --- cgroup files at the namespace root (what SkyPilot 0.14.1 reads) ----------
# Each takes the file's text (decoded as UTF-8, strictly) and returns the
# limit, or None for "no limit" -- including for text no kernel would write.


def cpu_max_cores(text: str) -> Optional[float]:
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


def cfs_quota_may_limit(quota_text: str) -> bool:
    """Whether ``cfs_cores(quota_text, period)`` can be a number for some period.

    False for -1 (no quota), zero, NaN and text ``float()`` rejects: the
    answer is None whatever the period file holds, so it need not be read.
    """
    try:
        return float(quota_text) > 0
    except ValueError:
        return False


def cfs_cores(quota_text: str, period_text: str) -> Optional[float]:
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


def memory_limit_bytes(text: str) -> Optional[int]:
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


def total_memory_bytes(proc_root: str) -> int:
    """The host's memory as ``psutil.virtual_memory().total`` gives it to SkyPilot.

    On Linux ``MemTotal`` of ``{proc_root}/meminfo`` (its OSError when the file
    cannot be opened, its parse errors); elsewhere the physical pages ``sysconf``
    reports, which is what psutil asks macOS and the BSDs for.
    """
    if not ON_LINUX:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    with open(f"{proc_root}/meminfo", "rb") as f:
        return meminfo_total_bytes(f.read())


def affinity_cpus() -> Optional[int]:
    """CPUs in this thread's affinity mask, or None where there is no such mask (macOS)."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    return None if getaffinity is None else len(getaffinity(0))


# --- pipes -----------------------------------------------------------------------------


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


# --- liveness from procfs (no pidfd: old kernels, seccomp) ----------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def alive_without_pidfd(
    proc_root: str, pid: int, create_time: Optional[float], allow_zombie: bool
) -> bool:
    """Liveness where pidfd_open is missing: procfs on Linux, psutil elsewhere."""
    if ON_LINUX:
        return alive_from_procfs(proc_root, pid, create_time, allow_zombie)
    if not pid_exists(pid):
        return False
    if create_time is None and allow_zombie:
        return True
    try:
        psutil: Any = importlib.import_module("psutil")  # optional: not a dependency
    except ImportError:
        raise RuntimeError(
            "is_process_alive needs psutil on this platform to tell zombies and reused "
            "pids apart (pip install psutil), or allow_zombie=True without create_time"
        ) from None
    try:
        process = psutil.Process(pid)
        if not allow_zombie and process.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(process.create_time() - create_time) < 0.01
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process: it exists, its details are hidden
        return create_time is None


def alive_from_procfs(
    proc_root: str, pid: int, create_time: Optional[float], allow_zombie: bool
) -> bool:
    """Liveness without pidfd (old kernels, seccomp): kill(pid, 0) plus /proc/<pid>/status."""
    if not pid_exists(pid):
        return False
    status = read_text(f"{proc_root}/{pid}/status")
    if status is None:
        return False
    fields = dict(
        line.split(":", 1) for line in status.splitlines() if ":" in line
    )
    if fields.get("Tgid", "").strip() != str(pid):
        return False
    if fields.get("State", "").strip()[:1] == "Z" and not allow_zombie:
        # The leader's state is Z also when only the main thread has exited
        # (pthread_exit) and other threads still run: that process is alive,
        # as its pidfd says.  A real zombie has "Threads: 1" left.
        if not _other_threads_run(proc_root, pid, fields.get("Threads", "")):
            return False
    return create_time is None or same_start(proc_root, pid, create_time)


def _other_threads_run(proc_root: str, pid: int, threads: str) -> bool:
    """Has the process threads besides its leader (status ``Threads:``, else task/)?"""
    try:
        return int(threads) > 1
    except ValueError:
        pass
    try:
        return len(os.listdir(f"{proc_root}/{pid}/task")) > 1
    except OSError:
        return False


def _boot_time(proc_root: str) -> Optional[float]:
    text = read_text(f"{proc_root}/stat")
    for line in (text or "").splitlines():
        if line.startswith("btime"):
            return float(line.split()[1])
    return None


def same_start(proc_root: str, pid: int, create_time: float) -> bool:
    """Does the process's start time match ``create_time`` within one clock tick?"""
    text = read_text(f"{proc_root}/{pid}/stat")
    boot = _cache.cached(f"boot_time {proc_root}", lambda: _boot_time(proc_root))
    if text is None or boot is None:
        return False
    # Field 22 (starttime, in clock ticks since boot) counts from after the
    # ")" that closes the command name, which may itself contain spaces.
    fields = text[text.rfind(")") + 2 :].split()
    started = boot + int(fields[19]) / _CLOCK_TICKS
    return abs(started - create_time) <= 1.0 / _CLOCK_TICKS + 1e-6
