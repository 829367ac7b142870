"""The pure-Python implementation of skyfast: the readable twin of ``_core.pyx``.

Every function here keeps the same contract as its compiled namesake (§2 of
the "Behaviour contract" page of the docs, ``docs/contract.md`` in the
repository); the test suite runs each case against both and against SkyPilot
0.14.1.  This module is also the fallback when the extension is not built, and
the compiled core hands the odd-typed inputs it does not fast-path to the
functions here, so both raise the same errors.
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import operator
import os
import resource
import select
import socket
import stat
import threading
from typing import Any, List, Mapping, Optional, Tuple, Union

from . import _common, _kernel
from ._cache import cached as _cached
from ._cache import clear_cache as clear_cache
from ._cache import get_cache_ttl as get_cache_ttl
from ._cache import set_cache_ttl as set_cache_ttl
from ._common import FileNotFoundAssertionError

StrPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

_logger = logging.getLogger("skyfast")

# Kernel-provided values are cached in the one cache, ``_cache`` (imported above).


def _set_roots(proc: Optional[str] = None, cgroup: Optional[str] = None) -> None:
    """Point the procfs and cgroupfs readers elsewhere (tests build fake trees)."""
    global _proc_root, _cgroup_root
    _proc_root = _kernel.PROC_ROOT if proc is None else proc
    _cgroup_root = _kernel.CGROUP_ROOT if cgroup is None else cgroup
    clear_cache()


_proc_root = _kernel.PROC_ROOT
_cgroup_root = _kernel.CGROUP_ROOT


# ---------------------------------------------------------------------------
# 2.1 is_process_alive
# ---------------------------------------------------------------------------

_PID_T_MAX = 2**31 - 1


def is_process_alive(
    pid: int, *, create_time: Optional[float] = None, allow_zombie: bool = False
) -> bool:
    """True when ``pid`` names a live process (a thread-group leader) on this host."""
    if not isinstance(pid, int) or isinstance(pid, bool):
        raise TypeError(f"pid must be an int, not {type(pid).__name__}")
    if create_time is not None and not isinstance(create_time, (int, float)):
        raise TypeError(f"create_time must be a number or None, not {type(create_time).__name__}")
    # pid 0 and negative pids name process groups: never probe them.
    if pid <= 0 or pid > _PID_T_MAX:
        return False
    if create_time is None and pid == os.getpid():
        # The caller itself: running, a group leader, not a zombie (as the compiled
        # core answers; no pidfd needed, so no EMFILE when descriptors run out).
        return True
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:  # Python < 3.9 builds without it, or not Linux
        return _kernel.alive_without_pidfd(_proc_root, pid, create_time, allow_zombie)
    try:
        pidfd = pidfd_open(pid)
    except ProcessLookupError:
        return False
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.ENOENT):
            # A thread id, not a thread-group leader (EINVAL before Linux
            # 6.9, ENOENT since pidfds can name threads).
            return False
        if e.errno in (errno.ENOSYS, errno.EPERM):  # an old kernel, seccomp
            return _kernel.alive_without_pidfd(_proc_root, pid, create_time, allow_zombie)
        raise
    try:
        exited = bool(select.select([pidfd], [], [], 0)[0])
        if exited and not (allow_zombie and _kernel.pid_exists(pid)):
            return False
        if create_time is not None and not _kernel.same_start(_proc_root, pid, create_time):
            return False
        # A pidfd pins the process: if it has not exited by now, the stat we
        # read above was its own, not that of a process that reused the pid.
        return exited or not select.select([pidfd], [], [], 0)[0]
    finally:
        os.close(pidfd)


# ---------------------------------------------------------------------------
# 2.2 get_cpu_count, 2.5 get_mem_size_gb
# ---------------------------------------------------------------------------


def _is_cgroup_v2() -> bool:
    return os.path.isfile(f"{_cgroup_root}/cgroup.controllers")


def _cgroup_cpu_quota() -> Optional[float]:
    if _is_cgroup_v2():
        text = _kernel.read_text(f"{_cgroup_root}/cpu.max")
        return None if text is None else _kernel.cpu_max_cores(text)
    quota = _kernel.read_text(f"{_cgroup_root}/cpu/cpu.cfs_quota_us")
    if quota is None or not _kernel.cfs_quota_may_limit(quota):
        return None  # no quota (-1): the period cannot change that, so it is not read
    period = _kernel.read_text(f"{_cgroup_root}/cpu/cpu.cfs_period_us")
    return None if period is None else _kernel.cfs_cores(quota, period)


def _host_cpu_limit() -> int:
    """min(online CPUs, int(cgroup quota)); affinity is applied per call, uncached."""
    cpus = os.sysconf("SC_NPROCESSORS_ONLN")
    quota = _cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, int(quota))
    return cpus


def get_cpu_count() -> int:
    """CPUs this process may use: env override, else min(online, affinity, cgroup quota); >= 1."""
    value = os.environ.get("SKYPILOT_POD_CPU_CORE_LIMIT")
    if value is not None:
        return _common.cpu_count_from_env(value)
    cpus = _cached("host_cpu_limit", _host_cpu_limit)
    affinity = _kernel.affinity_cpus()  # None where the platform has no affinity mask
    if affinity is not None:
        cpus = min(cpus, affinity)
    return max(cpus, 1)


def _host_mem_bytes() -> int:
    # MemTotal from /proc/meminfo, as psutil reads it for SkyPilot: LXCFS (LXD,
    # some Kubernetes pods) puts the container's memory there, while sysconf()
    # still reports the host's.  An unreadable file raises what psutil raises.
    total = _kernel.total_memory_bytes(_proc_root)
    path = "memory.max" if _is_cgroup_v2() else "memory/memory.limit_in_bytes"
    text = _kernel.read_text(f"{_cgroup_root}/{path}")
    limit = None if text is None else _kernel.memory_limit_bytes(text)
    return total if limit is None else min(total, limit)


def get_mem_size_gb() -> float:
    """Memory in GiB: env overrides, else min(MemTotal, cgroup limit at the namespace root)."""
    env = os.environ
    value = env.get("SKYPILOT_POD_MEMORY_GB_LIMIT")
    if value is not None:
        return _common.mem_gb_from_gb_env(value)
    value = env.get("SKYPILOT_POD_MEMORY_BYTES_LIMIT")
    if value is not None:
        return _common.mem_gb_from_bytes_env(value)
    mem: int = _cached("host_mem_bytes", _host_mem_bytes)
    return mem / (1024**3)


# ---------------------------------------------------------------------------
# 2.3 get_parallel_threads, 2.7 get_max_workers_for_file_mounts, 2.10 estimate_fd_for_dir
# ---------------------------------------------------------------------------


_builtin_cpu_count = os.cpu_count


def _os_cpu_count() -> int:
    cpus = os.cpu_count()
    return 1 if cpus is None else cpus  # only None, as SkyPilot (a patched one may give 0)


def get_parallel_threads(cloud_str: Optional[str] = None, *, container_aware: bool = False) -> int:
    """Threads for parallel work: max(4, cpus - 1), four times that on Kubernetes."""
    if container_aware:
        from . import _limits_py

        cpus = _limits_py.effective_cpu_count()
    elif os.cpu_count is not _builtin_cpu_count:
        cpus = _os_cpu_count()  # patched: asked on every call, as SkyPilot does
    else:
        cpus = _cached("os_cpu_count", _os_cpu_count)
    threads = max(4, cpus - 1)  # before the multiplier: SkyPilot's order of errors
    return threads * (4 if cloud_str and cloud_str.lower() == "kubernetes" else 1)


def estimate_fd_for_dir(path: Union[StrPath, int, None]) -> int:
    """5 file descriptors per entry of ``path`` (top level), counted without building a list."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        # int fds, None, bad types: exactly os.listdir's answers and errors
        return 5 * len(os.listdir(path))
    try:
        entries = os.scandir(path)
    except ValueError:  # an embedded NUL, an unencodable name: os.listdir's own error
        return 5 * len(os.listdir(path))
    count = 0
    with entries:
        for _ in entries:
            count += 1
    return 5 * count


_warned_low_fd_limit = False
_warn_lock = threading.Lock()


def _warn_low_fd_limit(fd_limit: int) -> None:
    global _warned_low_fd_limit
    with _warn_lock:
        if _warned_low_fd_limit:
            return
        _warned_low_fd_limit = True
    _logger.warning(_common.fd_limit_warning(fd_limit))


def get_max_workers_for_file_mounts(
    common_file_mounts: Mapping[str, str], cloud_str: Optional[str] = None
) -> int:
    """Parallel rsync workers that fit in the soft open-file limit, capped by the thread count."""
    fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    unlimited = fd_limit == resource.RLIM_INFINITY
    if not unlimited and fd_limit < 1024:
        _warn_low_fd_limit(fd_limit)
    fd_per_rsync = 5
    for src in common_file_mounts.values():
        if os.path.isdir(src):
            fd_per_rsync = max(fd_per_rsync, estimate_fd_for_dir(src))
    threads = get_parallel_threads(cloud_str)
    if unlimited:
        return threads
    return min(max((fd_limit - 100) // fd_per_rsync, 1), threads)


get_max_workers = get_max_workers_for_file_mounts


# ---------------------------------------------------------------------------
# 2.4 base36_encode
# ---------------------------------------------------------------------------

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36_encode(hex_str: Union[str, bytes, bytearray]) -> str:
    """The base-36 spelling (0-9a-z) of the number ``int(hex_str, 16)``."""
    value = int(hex_str, 16)
    if value < 0:
        raise ValueError(f"base36_encode() needs a non-negative value, got {value:x}")
    if value == 0:
        return "0"
    digits = []
    while value:
        value, digit = divmod(value, 36)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


# ---------------------------------------------------------------------------
# 2.6 hash_file
# ---------------------------------------------------------------------------

_HASH_BLOCK = 1 << 18


def _open_without_waiting(path: str, flags: int) -> int:
    """os.open() that never waits for a FIFO's writer (an ``opener`` for open()).

    O_NONBLOCK keeps the open of a FIFO with no writer from blocking.  Regular
    files ignore it, except that an open conflicting with a lease held
    elsewhere (Samba oplocks, NFS delegations, F_SETLEASE) fails with
    EWOULDBLOCK instead of waiting for the lease break: then open again and
    wait, as a plain open() does.
    """
    try:
        fd = os.open(path, flags | os.O_NONBLOCK)
    except BlockingIOError:
        return os.open(path, flags)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode) and not stat.S_ISFIFO(mode):
        os.set_blocking(fd, True)  # devices and ttys keep their blocking reads
    return fd


def _fifo_first_read(fd: int, path: object) -> bytes:
    """The first bytes of a FIFO opened without waiting; OSError if it has no writer.

    SkyPilot's open() of a named FIFO waits until a writer comes, forever if
    none does; with a writer it reads to the end.  One read with O_NONBLOCK
    tells the two apart: b'' means no writer (refused at once), EAGAIN a
    writer with nothing sent yet.  An anonymous pipe's open never waits: b''
    is its end.
    """
    try:
        data = os.read(fd, _HASH_BLOCK)
    except BlockingIOError:
        data = None
    else:
        if not data and os.fstat(fd).st_dev != _kernel.pipefs_device():
            raise OSError(errno.EINVAL, _common.FIFO_NO_WRITER, path)
    os.set_blocking(fd, True)
    return data or b""


def hash_file(path: Any, hash_alg: str) -> hashlib._Hash:
    """A live ``hashlib`` object of algorithm ``hash_alg`` fed with the whole file at ``path``."""
    # An int is a descriptor already open (a pipe, say): read to its end, as SkyPilot does.
    with open(path, "rb", buffering=0, opener=_open_without_waiting) as f:
        fd = f.fileno()
        first = b""
        if not isinstance(path, int) and stat.S_ISFIFO(os.fstat(fd).st_mode):
            first = _fifo_first_read(fd, os.fspath(path))
        digest = hashlib.new(hash_alg)
        digest.update(first)
        buf = bytearray(_HASH_BLOCK)
        view = memoryview(buf)
        while True:  # only a read of 0 bytes is the end (procfs, FUSE read short)
            size = f.readinto(buf)
            if not size:
                break
            digest.update(view[:size])
        return digest


# ---------------------------------------------------------------------------
# 2.8 read_last_n_lines
# ---------------------------------------------------------------------------

_SCAN_START = 8192
_SCAN_MAX = 1 << 20


def _check_read_args(file_path: Any, n: Any, chunk_size: Any) -> None:
    # Explicit raises, not assert statements: the checks hold under python -O.
    if not n >= 0:
        raise AssertionError(f"n must be non-negative. Got {n}")
    if not chunk_size > 0:
        raise AssertionError(f"chunk_size must be positive. Got {chunk_size}")
    if not os.path.exists(file_path):
        raise FileNotFoundAssertionError(f"File not found: {file_path}")


def read_last_n_lines(
    file_path: Any,
    n: int,
    chunk_size: int = 8192,
    encoding: str = "utf-8",
    errors: str = "replace",
) -> List[str]:
    """The last ``n`` lines of a file, split on ``b'\\n'`` only, each decoded on its own.

    Every returned line but the last ends in ``'\\n'``; trailing ``'\\r'`` are
    stripped.  ``chunk_size`` is checked but does not change the result: the
    file is scanned backwards in growing blocks, and only the bytes of the
    returned lines are kept.
    """
    _check_read_args(file_path, n, chunk_size)
    if n == 0:
        return []
    try:
        with open(file_path, "rb", buffering=0, opener=_open_without_waiting) as f:
            fd = f.fileno()
            if not f.seekable():
                # Pipes, FIFOs, ttys: what Python's buffered seek() says (SkyPilot's error).
                raise io.UnsupportedOperation("File or stream is not seekable.")
            end = os.lseek(fd, 0, os.SEEK_END)  # EINVAL for /proc seq files
            if end == 0:
                return []
            _check_odd_types(n, chunk_size, end)
            span = _last_lines_span_of_changing_file(fd, end, n)
            if span is None:
                return []
            data = _pread_all(fd, *span)
    except OSError as e:
        raise RuntimeError(f"Failed to read last {n} lines from {file_path}: {e}") from e
    # [-n:]: if the file changed between the scan and the read, the span may hold more.
    pieces = data.split(b"\n")[-n:]
    lines = [p.decode(encoding, errors=errors).rstrip("\r") + "\n" for p in pieces]
    lines[-1] = lines[-1][:-1]
    return lines


def _check_odd_types(n: Any, chunk_size: Any, size: int) -> None:
    """Reproduce SkyPilot's errors for a non-integer ``n`` or ``chunk_size``."""
    if not _is_index(chunk_size) and chunk_size <= size:
        # SkyPilot seeks to offset size - chunk_size here; that raises.
        operator.index(size - chunk_size)
    if not _is_index(n):
        # ... and slices its list of lines with -n: the interpreter's own TypeError
        # (its wording changes between Python versions).
        [][-n:]


def _is_index(value: Any) -> bool:
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _last_lines_span(fd: int, end: int, n: int) -> Optional[Tuple[int, int]]:
    """[start, stop) of the bytes of the last n lines, ``stop`` excluding a final newline.

    The file is split on newlines; when it ends with one, the empty piece
    after it is not a line.  So the span starts after the n-th newline
    counted back from ``stop`` (or at 0), which this finds by scanning
    backwards in blocks that double up to 1 MiB, keeping no block.  A file
    may hold fewer bytes than ``end`` (every sysfs attribute says 4096; a log
    being truncated): a short block starts the scan over from the real end.
    None: the file turned out to hold nothing.
    """
    stop = pos = end
    wanted = n
    block = _SCAN_START
    while pos > 0:
        size = min(block, pos)
        chunk = _pread_all(fd, pos - size, pos)
        if len(chunk) < size:
            stop = pos = end = pos - size + len(chunk)
            wanted = n
            block = _SCAN_START
            continue
        if pos == end and chunk.endswith(b"\n"):
            stop = end - 1
            chunk = chunk[:-1]
        found = chunk.count(b"\n")
        if found >= wanted:
            cut = len(chunk)
            for _ in range(wanted):
                cut = chunk.rfind(b"\n", 0, cut)
            return pos - size + cut + 1, stop
        wanted -= found
        pos -= size
        block = min(block * 2, _SCAN_MAX)
    if end == 0:
        return None
    return 0, stop


def _stat_key(st: os.stat_result) -> Tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _last_lines_span_of_changing_file(
    fd: int, end: int, n: int
) -> Optional[Tuple[int, int]]:
    """_last_lines_span, for a file that may change or hold less than it announces.

    If nothing is there after all: emptied meanwhile, it is empty (as a call made
    just after would find it); changed again since it was opened, it is scanned
    anew; still announcing bytes, unchanged (an empty sysfs attribute says 4096),
    SkyPilot would index an empty list of lines, and so does this.
    """
    opened = _stat_key(os.fstat(fd))
    for _ in range(1000):
        span = _last_lines_span(fd, end, n)
        if span is not None:
            return span
        now = os.fstat(fd)
        if now.st_size == 0:
            return None
        if _stat_key(now) == opened:
            break
        opened = _stat_key(now)
        end = os.lseek(fd, 0, os.SEEK_END)
    raise IndexError("list index out of range")


def _pread_all(fd: int, start: int, stop: int) -> bytes:
    """Bytes [start, stop), fewer only if the file ends first."""
    parts = []
    while start < stop:
        part = os.pread(fd, stop - start, start)
        if not part:
            break
        parts.append(part)
        start += len(part)
    return b"".join(parts)


# ---------------------------------------------------------------------------
# 2.9 format_float
# ---------------------------------------------------------------------------


def format_float(num: Union[float, int], precision: int = 1) -> str:
    """Integers as ``str``; whole floats without decimals; others with ``precision`` decimals."""
    if isinstance(num, int):
        return str(num)
    if num.is_integer():
        return f"{num:.0f}"
    return f"{num:.{precision}f}"


# ---------------------------------------------------------------------------
# 2.11 find_free_port
# ---------------------------------------------------------------------------


def find_free_port(start_port: int, *, end_port: int = 65535, host: str = "") -> int:
    """The first port in ``[start_port, end_port)`` an IPv4 TCP socket can bind on ``host``.

    Racy by nature: another process may take the port before the caller does.
    """
    address = _common.bind_address(host)
    for port in range(start_port, end_port):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            if not 0 <= port <= 65535:  # after socket(): its EMFILE comes first
                raise OverflowError("bind(): port must be 0-65535.")
            try:
                s.bind((address, port))
            except OSError:
                continue
            return port
    raise OSError("No free ports available.")


# ---------------------------------------------------------------------------
# 2.12 truncate_long_string
# ---------------------------------------------------------------------------


def truncate_long_string(s: str, max_length: int = 35, truncate_middle: bool = False) -> str:
    """Shorten ``s`` to about ``max_length`` code points, marking the cut with '...'."""
    if len(s) <= max_length:
        return s
    if truncate_middle:
        if max_length <= 3:
            return "..."
        keep = max_length - 3
        tail = keep // 2
        head = tail + keep % 2
        if not tail:
            return s[:head] + "..."
        return s[:head] + "..." + s[-tail:]
    # End mode keeps SkyPilot's word heuristic: words are the pieces between
    # single spaces; the cut goes after the first word whose running length
    # (spaces not counted) reaches max_length, but never before max_length.
    words = s.split(" ")
    if len(words[0]) > max_length:
        return words[0][:max_length] + "..."
    total = 0
    last = len(words) - 1
    for i, word in enumerate(words):
        total += len(word)
        if total >= max_length:
            last = i
            break
    prefix = " ".join(words[:last])
    if len(prefix) < max_length:
        # Sliced from s itself, as SkyPilot does (a str subclass sees the same calls).
        prefix += s[len(prefix) : max_length]
    return prefix + "..."
