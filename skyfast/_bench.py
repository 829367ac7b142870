"""Side-by-side timings: SkyPilot 0.14.1 vs skyfast (compiled, warm and cold) vs the twin.

``run()`` measures every row of the performance table of the project in one
process.  Each row has a few *contenders* -- the reference (SkyPilot 0.14.1's
function, or the psutil / ``os.listdir`` form the row names), the compiled
core with the default 20 ms cache window ("warm") and with the cache off
("cold", only where a value is cached), the pure-Python twin, and the closest
psutil/stdlib call -- and is measured like this:

1. every contender is called once and its result compared with the
   reference's (a skyfast mismatch is reported loudly in the row);
2. each contender gets a loop count ``k`` so that one sample (``k`` calls
   between two ``time.perf_counter_ns()`` readings, garbage collector off)
   takes at least ~200 µs;
3. rounds are interleaved: every round times each contender once, in an
   order rotated by one per round, so drift (frequency scaling, a noisy
   neighbour) hits all contenders alike;
4. the figure is the median over rounds of ``sample / k``.

Ratio = reference time / skyfast time (the compiled core when it is built,
else the twin, which the row then says).  ``memory_rows()`` checks the two
memory criteria in a fresh subprocess per measurement.  The CLI
(``python -m skyfast bench``) calls ``run()`` and ``format_table()``.
"""

from __future__ import annotations

import collections
import gc
import hashlib
import importlib
import importlib.util
import itertools
import json
import os
import platform
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TextIO, Tuple

from . import _dispatch
from ._common import keep_tracebacklimit

__all__ = ["format_table", "machine_info", "memory_rows", "run"]

Row = Dict[str, Any]
Progress = Optional[Callable[[str], None]]

DEFAULT_TTL = 0.020
MIN_SAMPLE_NS = 200_000
MEAN_TARGET = 8.5
THROUGHPUT_TARGET = 0.95
NOISY_IQR = 0.25  # a row whose rounds spread more than this is flagged "noisy"
SEED = 20240601

_POD_ENV_VARS = (
    "SKYPILOT_POD_CPU_CORE_LIMIT",
    "SKYPILOT_POD_MEMORY_GB_LIMIT",
    "SKYPILOT_POD_MEMORY_BYTES_LIMIT",
)
_KIB = 1024
_TIMES = "\u00d7"  # the multiplication sign of "25x"
_MIB = 1024 * 1024


# ---------------------------------------------------------------------------
# The measurement engine
# ---------------------------------------------------------------------------


@dataclass
class _Contender:
    name: str  # skypilot | cython_warm | cython_cold | python_warm | python_cold | stdlib | openssl
    label: str
    func: Callable[..., Any]
    args: Tuple[Any, ...]
    prepare: Optional[Callable[[], None]] = None  # runs (untimed) before every sample
    compare: bool = True  # False: a different question (stdlib), mismatch is informational
    k: int = 1
    samples: List[float] = field(default_factory=list)
    result: Any = None
    error: Optional[str] = None
    same: Optional[bool] = None


def _timed_loop(func: Callable[..., Any], args: Tuple[Any, ...], k: int) -> int:
    """Nanoseconds for ``k`` calls of ``func(*args)``; a loop per arity, no wrapper frame."""
    it = itertools.repeat(None, k)
    clock = time.perf_counter_ns
    enabled = gc.isenabled()
    gc.disable()
    try:
        if len(args) == 0:
            t0 = clock()
            for _ in it:
                func()
            return clock() - t0
        if len(args) == 1:
            (a,) = args
            t0 = clock()
            for _ in it:
                func(a)
            return clock() - t0
        if len(args) == 2:
            a, b = args
            t0 = clock()
            for _ in it:
                func(a, b)
            return clock() - t0
        t0 = clock()
        for _ in it:
            func(*args)
        return clock() - t0
    finally:
        if enabled:
            gc.enable()


def _calibrate(c: _Contender) -> float:
    """Pick ``c.k`` so one sample lasts >= MIN_SAMPLE_NS; returns the estimated ns per call."""
    k = 1
    while True:
        if c.prepare is not None:
            c.prepare()
        elapsed = _timed_loop(c.func, c.args, k)
        if elapsed >= MIN_SAMPLE_NS or k >= 10_000_000:
            c.k = k
            return elapsed / k
        grow = int(k * MIN_SAMPLE_NS * 1.2 / max(elapsed, 1)) + 1
        k = min(max(k * 2, grow), k * 100)


def _measure(contenders: Sequence[_Contender], budget_s: float, rounds: Tuple[int, int]) -> int:
    """Interleaved rounds, rotated order; fills ``samples`` (ns per call). Returns the rounds."""
    live = [c for c in contenders if c.error is None]
    if not live:
        return 0
    per_round_ns = sum(_calibrate(c) * c.k for c in live)
    lo, hi = rounds
    n_rounds = max(lo, min(hi, int(budget_s * 1e9 / max(per_round_ns, 1.0))))
    for r in range(n_rounds):
        shift = r % len(live)
        for c in live[shift:] + live[:shift]:
            if c.prepare is not None:
                c.prepare()
            c.samples.append(_timed_loop(c.func, c.args, c.k) / c.k)
    return n_rounds


def _relative_iqr(samples: Sequence[float]) -> Optional[float]:
    """Interquartile range / median: how much the rounds disagree."""
    if len(samples) < 4:
        return None
    q1, q2, q3 = statistics.quantiles(samples, n=4)
    return (q3 - q1) / q2 if q2 > 0 else None


def _normalize(value: Any) -> Any:
    """What "the same result" means: hash objects by name and digest, others by type and value."""
    if hasattr(value, "hexdigest") and hasattr(value, "name"):
        try:
            return ("hash", value.name, value.hexdigest())
        except TypeError:  # shake_*: hexdigest(length)
            return ("hash", value.name, value.hexdigest(64))
    return (type(value).__name__, value)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(_normalize(value)[-1])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _call_once(c: _Contender) -> None:
    with keep_tracebacklimit():
        try:
            if c.prepare is not None:
                c.prepare()
            c.result = c.func(*c.args)
        except Exception as e:  # recorded in the row
            c.error = f"{type(e).__name__}: {e}"


# ---------------------------------------------------------------------------
# Implementations and references
# ---------------------------------------------------------------------------


@dataclass
class _Impls:
    core: Optional[ModuleType]  # skyfast._core, None when not built
    twin: ModuleType  # skyfast._core_py
    sky_common: Optional[Any]  # sky.utils.common_utils
    sky_subprocess: Optional[Any]  # sky.utils.subprocess_utils
    sky_version: Optional[str]
    sky_error: Optional[str]
    psutil: Optional[Any]


def _load_impls(against_skypilot: bool) -> _Impls:
    twin = importlib.import_module("skyfast._core_py")
    # The compiled core exactly when `import skyfast` chose it (SKYFAST_NO_EXTENSIONS
    # and SKYFAST_REQUIRE_EXTENSIONS were honoured there, once).
    core: Optional[ModuleType] = None
    if _dispatch.IMPLEMENTATION == "cython":
        core = importlib.import_module("skyfast._core")
    common = sub = version = error = None
    if against_skypilot:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sky = importlib.import_module("sky")
                common = importlib.import_module("sky.utils.common_utils")
                sub = importlib.import_module("sky.utils.subprocess_utils")
            version = str(getattr(sky, "__version__", "unknown"))
        except Exception as e:  # ImportError or a broken install
            error = f"{type(e).__name__}: {e}"
    else:
        error = "not requested (against_skypilot=False)"
    return _Impls(core, twin, common, sub, version, error, _optional("psutil"))


def _optional(name: str) -> Optional[Any]:
    """A module that is not a dependency of skyfast (psutil), or None when not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _ensure_ttl(module: ModuleType, ttl: float) -> None:
    getter = getattr(module, "get_cache_ttl", None)
    if getter is None or getter() != ttl:
        module.set_cache_ttl(ttl)


def _prepare(
    module: ModuleType,
    ttl: float,
    func: Optional[Callable[..., Any]] = None,
    args: Tuple[Any, ...] = (),
) -> Callable[[], None]:
    """Before a sample: put ``module``'s cache in the wanted state (warm: filled)."""

    def prepare() -> None:
        _ensure_ttl(module, ttl)
        if ttl > 0 and func is not None:
            func(*args)

    return prepare


# Reference forms for the two functions SkyPilot does not have, and the
# closest stdlib/psutil calls.


def _psutil_is_alive_factory(psutil: Any) -> Callable[[int], bool]:
    pid_exists = psutil.pid_exists
    process = psutil.Process

    def is_alive(pid: int) -> bool:
        return bool(pid_exists(pid) and process(pid).status() != "zombie")

    return is_alive


def _listdir_fd(path: str) -> int:
    return len(os.listdir(path)) * 5


def _scandir_fd(path: str) -> int:
    with os.scandir(path) as it:
        return sum(1 for _ in it) * 5


def _file_digest(path: str, alg: str) -> Any:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, alg)  # type: ignore[attr-defined,unused-ignore]


def _deque_tail(path: str, n: int) -> List[bytes]:
    with open(path, "rb") as f:
        return list(collections.deque(f, maxlen=n))


def _bind_once(port: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", port))
    return port


# ---------------------------------------------------------------------------
# Seeded data
# ---------------------------------------------------------------------------

_WORDS = (
    "sky launch cluster node gpu worker job task sync rsync mount bucket file "
    "provision ready stopped running pending cloud region zone spot instance "
    "retry timeout error warning info debug ssh head controller serve replica"
).split()


def _write_random_file(path: str, size: int, seed: int) -> str:
    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            block = rng.randbytes(min(left, 4 * _MIB))
            f.write(block)
            left -= len(block)
    return path


def _log_block(rng: random.Random, approx: int) -> bytes:
    lines = []
    total = 0
    t = 1_700_000_000
    while total < approx:
        t += rng.randrange(1, 5000)
        level = rng.choice("IIIIIWED")
        msg = " ".join(rng.choices(_WORDS, k=rng.randrange(3, 24)))
        line = f"{level} {t}.{rng.randrange(1000):03d} [worker-{rng.randrange(32)}] {msg}\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()


def _write_log(path: str, size: int, seed: int) -> str:
    """A log of ``size`` bytes or a little more: seeded lines in 1 MiB blocks, ends with '\\n'."""
    rng = random.Random(seed)
    blocks = [_log_block(rng, _MIB) for _ in range(4)]
    written = 0
    with open(path, "wb") as f:
        i = 0
        while written < size:
            block = blocks[i % len(blocks)]
            f.write(block)
            written += len(block)
            i += 1
    return path


_NO_NEWLINE = bytes((32 + b % 95) for b in range(256))  # printable ASCII, no '\n'


def _write_no_newline(path: str, size: int, seed: int) -> str:
    rng = random.Random(seed)
    block = rng.randbytes(_MIB).translate(_NO_NEWLINE)
    with open(path, "wb") as f:
        left = size
        while left:
            part = block[: min(left, len(block))]
            f.write(part)
            left -= len(part)
    return path


def _make_entries(directory: str, count: int) -> str:
    """A directory with ``count`` entries (empty regular files, one mknod each)."""
    os.makedirs(directory)
    for i in range(count):
        path = os.path.join(directory, f"entry-{i:06d}")
        try:
            os.mknod(path, 0o644)
        except PermissionError:  # some sandboxes refuse mknod even for regular files
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    return directory


def _text_with_spaces(length: int, seed: int) -> str:
    rng = random.Random(seed)
    parts: List[str] = []
    total = 0
    while total < length:
        word = rng.choice(_WORDS)
        parts.append(word)
        total += len(word) + 1
    return " ".join(parts)[:length]


def _ephemeral_range() -> Tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def _hold_ports(count: int) -> Tuple[int, List[socket.socket]]:
    """Bind ``count`` consecutive ports on '' and check the next one is free.

    The search starts above 40000 and above the kernel's ephemeral range when
    there is room, so outgoing connections do not wander into the run.
    Returns (first held port, held sockets); the free port is first + count.
    """
    _, eph_hi = _ephemeral_range()
    begin = eph_hi + 1 if eph_hi + 1 + 4 * (count + 1) < 65535 else 40000
    begin = max(begin, 40001)
    for base in range(begin, 65535 - count - 1, count + 1):
        socks: List[socket.socket] = []
        ok = True
        for port in range(base, base + count + 1):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("", port))
            except OSError:
                s.close()
                ok = False
                break
            socks.append(s)
        if ok:
            socks.pop().close()  # the first free port after the held run
            return base, socks
        for s in socks:
            s.close()
    raise RuntimeError(f"no run of {count + 1} free ports found above {begin}")


# ---------------------------------------------------------------------------
# The rows
# ---------------------------------------------------------------------------


@dataclass
class _Case:
    function: str
    case: str
    issue_time: str
    target_warm: Optional[float]
    target_cold: Optional[float] = None  # cached rows: never below 1.0
    target_throughput: Optional[float] = None
    cached: bool = False
    note: str = ""
    reference_label: str = "SkyPilot 0.14.1"
    contenders: List[_Contender] = field(default_factory=list)


@dataclass
class _Data:
    tmp: str
    quick: bool
    hash_small: str = ""
    hash_files: Dict[int, str] = field(default_factory=dict)
    log_path: str = ""
    log_size: int = 0
    entries_dir: str = ""
    entries: int = 0
    port_base: int = 0
    held: List[socket.socket] = field(default_factory=list)

    def close(self) -> None:
        for s in self.held:
            s.close()
        self.held.clear()


def _sizes(quick: bool) -> Dict[str, int]:
    return {
        "hash_big": (4 if quick else 64) * _MIB,
        "log": (8 if quick else 100) * 1_000_000,
        "entries": 10_000,
    }


def _make_data(tmp: str, quick: bool) -> _Data:
    sizes = _sizes(quick)
    d = _Data(tmp=tmp, quick=quick)
    d.hash_small = _write_random_file(os.path.join(tmp, "hash-4k.bin"), 4 * _KIB, SEED)
    for size in (_MIB, sizes["hash_big"]):
        d.hash_files[size] = _write_random_file(os.path.join(tmp, f"hash-{size}.bin"), size, SEED)
    d.log_size = sizes["log"]
    d.log_path = _write_log(os.path.join(tmp, "app.log"), d.log_size, SEED)
    d.entries = sizes["entries"]
    d.entries_dir = _make_entries(os.path.join(tmp, "entries"), d.entries)
    d.port_base, d.held = _hold_ports(50)
    return d


def _size_label(size: int) -> str:
    if size >= _MIB and size % _MIB == 0:
        return f"{size // _MIB} MiB"
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000} MB"
    return f"{size // _KIB} KiB"


def _add_skyfast(
    case: _Case, impls: _Impls, name: str, args: Tuple[Any, ...], *, cached: bool
) -> None:
    """The skyfast contenders of a row: compiled and twin, warm (and cold when cached)."""
    mods: List[Tuple[str, ModuleType]] = []
    if impls.core is not None:
        mods.append(("cython", impls.core))
    mods.append(("python", impls.twin))
    for impl, mod in mods:
        func = getattr(mod, name)
        title = "skyfast compiled" if impl == "cython" else "skyfast pure-Python"
        if cached:
            case.contenders.append(
                _Contender(
                    f"{impl}_warm",
                    f"{title} (warm)",
                    func,
                    args,
                    prepare=_prepare(mod, DEFAULT_TTL, func, args),
                )
            )
            case.contenders.append(
                _Contender(
                    f"{impl}_cold",
                    f"{title} (cold)",
                    func,
                    args,
                    prepare=_prepare(mod, 0.0, func, args),
                )
            )
        else:
            case.contenders.append(
                _Contender(f"{impl}_warm", title, func, args, prepare=_prepare(mod, DEFAULT_TTL))
            )


def _ref(
    case: _Case,
    func: Optional[Callable[..., Any]],
    args: Tuple[Any, ...],
    label: Optional[str] = None,
) -> None:
    if func is None:
        return
    case.contenders.insert(0, _Contender("skypilot", label or case.reference_label, func, args))


def _std(case: _Case, label: str, func: Callable[..., Any], args: Tuple[Any, ...]) -> None:
    case.contenders.append(_Contender("stdlib", label, func, args, compare=False))


def _builders(impls: _Impls, data: _Data) -> List[Callable[[], _Case]]:
    """One builder per row; a row's data (e.g. an in-memory copy of a file) lives only while
    that row is measured."""
    cu, su, ps = impls.sky_common, impls.sky_subprocess, impls.psutil
    quick = data.quick
    out: List[Callable[[], _Case]] = []

    def sky(mod: Optional[Any], name: str) -> Optional[Callable[..., Any]]:
        return None if mod is None else getattr(mod, name)  # type: ignore[no-any-return,unused-ignore]

    # 2.1 is_process_alive
    def is_alive() -> _Case:
        c = _Case(
            "is_process_alive",
            "own pid",
            "≈27 µs",
            25.0,
            reference_label="psutil.pid_exists(pid) and status() != 'zombie'",
        )
        args = (os.getpid(),)
        if ps is not None:  # psutil is optional (pip install skyfast[bench])
            _ref(c, _psutil_is_alive_factory(ps), args)
        _add_skyfast(c, impls, "is_process_alive", args, cached=False)
        if ps is not None:
            _std(c, "psutil.pid_exists(pid)", ps.pid_exists, args)
        return c

    out.append(is_alive)

    # 2.2 get_cpu_count
    def cpu_count() -> _Case:
        c = _Case("get_cpu_count", "host, no env var", "35 µs", 20.0, 1.5, cached=True)
        _ref(c, sky(cu, "get_cpu_count"), ())
        _add_skyfast(c, impls, "get_cpu_count", (), cached=True)
        _std(c, "os.cpu_count()", os.cpu_count, ())
        return c

    out.append(cpu_count)

    # 2.3 get_parallel_threads
    for cloud in (None, "kubernetes"):

        def threads(cloud: Optional[str] = cloud) -> _Case:
            c = _Case("get_parallel_threads", repr(cloud), "5.7 µs", 10.0, 1.0, cached=True)
            _ref(c, sky(su, "get_parallel_threads"), (cloud,))
            _add_skyfast(c, impls, "get_parallel_threads", (cloud,), cached=True)
            _std(c, "os.cpu_count() [input only]", os.cpu_count, ())
            return c

        out.append(threads)

    # 2.4 base36_encode
    def base36() -> _Case:
        rng = random.Random(SEED)
        hex_str = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        c = _Case("base36_encode", "uuid4().hex", "2.3 µs", 10.0)
        _ref(c, sky(cu, "base36_encode"), (hex_str,))
        _add_skyfast(c, impls, "base36_encode", (hex_str,), cached=False)
        _std(c, "int(h, 16) [parse only]", int, (hex_str, 16))
        return c

    out.append(base36)

    # 2.5 get_mem_size_gb
    def mem() -> _Case:
        c = _Case("get_mem_size_gb", "host, no env var", "43 µs", 10.0, 4.0, cached=True)
        _ref(c, sky(cu, "get_mem_size_gb"), ())
        _add_skyfast(c, impls, "get_mem_size_gb", (), cached=True)
        if ps is not None:
            vm = ps.virtual_memory

            def psutil_gb() -> float:
                return float(vm().total / (1024**3))

            _std(c, "psutil.virtual_memory().total / 2**30", psutil_gb, ())
        return c

    out.append(mem)

    # 2.6 hash_file
    def hash_small() -> _Case:
        c = _Case("hash_file", "sha256, 4 KiB file", "11 µs", 1.8)
        args = (data.hash_small, "sha256")
        _ref(c, sky(cu, "hash_file"), args)
        _add_skyfast(c, impls, "hash_file", args, cached=False)
        if sys.version_info >= (3, 11):
            _std(c, "hashlib.file_digest", _file_digest, args)
        return c

    out.append(hash_small)
    for size in sorted(data.hash_files):
        for alg in ("sha256", "md5"):

            def hash_big(size: int = size, alg: str = alg) -> _Case:
                full = size == _MIB or not quick
                note = "" if full else f"quick: {_size_label(size)} instead of 64 MiB"
                c = _Case(
                    "hash_file",
                    f"{alg}, {_size_label(size)} file",
                    "0.57 ms" if size == _MIB else "37 ms",
                    1.0,
                    target_throughput=THROUGHPUT_TARGET,
                    note=note,
                )
                args = (data.hash_files[size], alg)
                _ref(c, sky(cu, "hash_file"), args)
                _add_skyfast(c, impls, "hash_file", args, cached=False)
                if sys.version_info >= (3, 11):
                    _std(c, "hashlib.file_digest", _file_digest, args)
                with open(data.hash_files[size], "rb") as f:
                    blob = f.read()
                c.contenders.append(
                    _Contender(
                        "openssl", "hashlib.new(alg, data) in memory", hashlib.new, (alg, blob)
                    )
                )
                return c

            out.append(hash_big)

    # 2.7 get_max_workers_for_file_mounts
    def max_workers() -> _Case:
        c = _Case("get_max_workers_for_file_mounts", "{}", "10 µs", 5.0, 1.0, cached=True)
        args: Tuple[Any, ...] = ({},)
        _ref(c, sky(su, "get_max_workers_for_file_mounts"), args)
        _add_skyfast(c, impls, "get_max_workers_for_file_mounts", args, cached=True)
        _std(
            c,
            "resource.getrlimit(NOFILE) [input only]",
            resource.getrlimit,
            (resource.RLIMIT_NOFILE,),
        )
        return c

    out.append(max_workers)

    # 2.8 read_last_n_lines
    for n in (10, 1000):

        def last_lines(n: int = n) -> _Case:
            full = data.log_size >= 100_000_000
            note = "" if full else f"quick: {_size_label(data.log_size)} log instead of 100 MB"
            c = _Case(
                "read_last_n_lines",
                f"{_size_label(data.log_size)} log, n={n}",
                "17 µs" if n == 10 else "225 µs",
                4.0,
                note=note,
            )
            args = (data.log_path, n)
            _ref(c, sky(cu, "read_last_n_lines"), args)
            _add_skyfast(c, impls, "read_last_n_lines", args, cached=False)
            _std(c, "deque(open(p, 'rb'), maxlen=n) [bytes]", _deque_tail, args)
            return c

        out.append(last_lines)

    # 2.9 format_float
    for ff_args in ((3.14159,), (2.0,), (1234567.891, 2)):

        def ffloat(ff_args: Tuple[Any, ...] = ff_args) -> _Case:
            case = repr(ff_args[0]) if len(ff_args) == 1 else repr(ff_args)
            c = _Case("format_float", case, "250 ns", 2.5)
            _ref(c, sky(cu, "format_float"), ff_args)
            _add_skyfast(c, impls, "format_float", ff_args, cached=False)
            prec = ff_args[1] if len(ff_args) > 1 else 1
            _std(c, "format(x, '.<p>f')", format, (ff_args[0], f".{prec}f"))
            return c

        out.append(ffloat)

    # 2.10 estimate_fd_for_dir
    def fd_dir() -> _Case:
        c = _Case(
            "estimate_fd_for_dir",
            f"{data.entries:,} entries",
            "3.4 ms",
            1.2,
            reference_label="len(os.listdir(p)) * 5",
        )
        args = (data.entries_dir,)
        _ref(c, _listdir_fd, args)
        _add_skyfast(c, impls, "estimate_fd_for_dir", args, cached=False)
        _std(c, "count os.scandir(p) * 5", _scandir_fd, args)
        return c

    out.append(fd_dir)

    # 2.11 find_free_port
    free = data.port_base + len(data.held)

    def port_free() -> _Case:
        c = _Case("find_free_port", f"first port free ({free})", "8 µs", 1.2)
        _ref(c, sky(cu, "find_free_port"), (free,))
        _add_skyfast(c, impls, "find_free_port", (free,), cached=False)
        _std(c, "socket().bind(('', p)) once", _bind_once, (free,))
        return c

    def port_taken() -> _Case:
        c = _Case("find_free_port", f"first 50 taken ({data.port_base}..{free - 1})", "600 µs", 2.0)
        _ref(c, sky(cu, "find_free_port"), (data.port_base,))
        _add_skyfast(c, impls, "find_free_port", (data.port_base,), cached=False)
        return c

    out.extend((port_free, port_taken))

    # 2.12 truncate_long_string
    for length in (80, 10_000):

        def trunc(length: int = length) -> _Case:
            s = _text_with_spaces(length, SEED + length)
            c = _Case(
                "truncate_long_string",
                f"{length:,} chars with spaces",
                "0.62 µs" if length == 80 else "21 µs",
                5.0 if length == 80 else 100.0,
            )
            _ref(c, sky(cu, "truncate_long_string"), (s,))
            _add_skyfast(c, impls, "truncate_long_string", (s,), cached=False)
            _std(c, "textwrap.shorten(s, 35)", textwrap.shorten, (s, 35))
            return c

        out.append(trunc)
    return out


def _measure_case(c: _Case, impls: _Impls, quick: bool) -> Row:
    for con in c.contenders:
        _call_once(con)
    ref = next((x for x in c.contenders if x.name == "skypilot"), None)
    primary = "cython" if impls.core is not None else "python"
    # Without a reference, the twin's result is what the compiled core must match.
    expected = (
        ref if ref is not None else next((x for x in c.contenders if x.name == "python_warm"), None)
    )
    mismatches: List[str] = []
    for con in c.contenders:
        if con is expected or expected is None:
            continue
        if con.error is None and expected.error is None:
            con.same = _normalize(con.result) == _normalize(expected.result)
        else:
            con.same = con.error == expected.error
        if con.compare and not con.same:
            got = con.error or _short(con.result)
            want = expected.error or _short(expected.result)
            mismatches.append(f"{con.name}: got {got}, {expected.label} gave {want}")
    if expected is not None:
        expected.same = True
    budget, rounds = (0.2, (7, 31)) if quick else (4.0, (21, 101))
    n_rounds = _measure(c.contenders, budget, rounds)
    med: Dict[str, Optional[float]] = {
        x.name: (statistics.median(x.samples) if x.samples else None) for x in c.contenders
    }
    spread = {x.name: _relative_iqr(x.samples) for x in c.contenders}
    noisy = sorted(n for n, v in spread.items() if v is not None and v > NOISY_IQR)

    def ratio(num: Optional[str], den: Optional[str]) -> Optional[float]:
        a = med.get(num) if num else None
        b = med.get(den) if den else None
        return None if a is None or b is None or b <= 0 else a / b

    ratios = {
        "warm": ratio("skypilot", f"{primary}_warm"),
        "cold": ratio("skypilot", f"{primary}_cold") if c.cached else None,
        "python": ratio("skypilot", "python_warm"),
        "python_cold": ratio("skypilot", "python_cold") if c.cached else None,
        "compiled_vs_python": ratio("python_warm", "cython_warm"),
        "stdlib": ratio("stdlib", f"{primary}_warm"),
        "throughput": ratio("openssl", f"{primary}_warm"),
    }
    targets = {
        "warm": c.target_warm,
        "cold": (c.target_cold if c.target_cold is not None else 1.0) if c.cached else None,
        "throughput": c.target_throughput,
    }
    failures: List[str] = []
    if ref is None:
        status = "no reference"
    else:
        for key in ("warm", "cold", "throughput"):
            t, r = targets[key], ratios[key]
            if t is not None and r is not None and r < t:
                failures.append(f"{key} {r:.3f} < {t:g}")
        status = "ok" if not failures else "below target"
    if mismatches:
        status = "MISMATCH"
    note = c.note
    if noisy:
        worst = max(v for v in spread.values() if v is not None)
        note = (note + "; " if note else "") + (
            f"noisy: interquartile range up to {worst:.0%} of the median ({', '.join(noisy)})"
        )
    return {
        "kind": "time",
        "function": c.function,
        "case": c.case,
        "note": note,
        "issue_time": c.issue_time,
        "reference_label": c.reference_label if ref is not None else None,
        "skyfast_impl": primary,
        "cached": c.cached,
        "targets": targets,
        "ratios": ratios,
        "rounds": n_rounds,
        "contenders": {
            x.name: {
                "label": x.label,
                "median_ns": med[x.name],
                "min_ns": min(x.samples) if x.samples else None,
                "relative_iqr": spread[x.name],
                "k": x.k,
                "samples_ns": x.samples,
                "same_result": x.same,
                "compared": x.compare,
                "error": x.error,
                "result": None if x.error else _short(x.result),
            }
            for x in c.contenders
        },
        "mismatches": mismatches,
        "failures": failures,
        "status": status,
    }


def _summary(rows: Sequence[Row]) -> Row:
    firsts: Dict[str, Row] = {}
    for row in rows:
        if row.get("kind") == "time" and row["function"] not in firsts:
            firsts[row["function"]] = row
    ratios = {f: r["ratios"]["warm"] for f, r in firsts.items()}
    known = [v for v in ratios.values() if v is not None]
    mean = sum(known) / len(known) if known else None
    complete = len(known) == len(firsts)
    return {
        "kind": "summary",
        "function": "all twelve" if len(firsts) == 12 else f"all {len(firsts)}",
        "case": "arithmetic mean of the first row of each function (warm ratio)",
        "first_rows": {f: {"case": firsts[f]["case"], "ratio": ratios[f]} for f in firsts},
        "mean_ratio": mean,
        "functions_with_ratio": len(known),
        "target": MEAN_TARGET,
        "status": (
            "no reference"
            if mean is None
            else "incomplete"
            if not complete
            else ("ok" if mean >= MEAN_TARGET else "below target")
        ),
    }


# ---------------------------------------------------------------------------
# Machine information
# ---------------------------------------------------------------------------


def _cpu_model() -> Optional[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "cpu model", "Model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_info(impls: Optional[_Impls] = None) -> Dict[str, Any]:
    """Where the numbers come from: platform, CPU, Python, skyfast and SkyPilot versions."""
    skyfast = importlib.import_module("skyfast")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "nproc": os.cpu_count(),
        "affinity": affinity,
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "skyfast_version": getattr(skyfast, "__version__", None),
        "skyfast_implementation": getattr(skyfast, "IMPLEMENTATION", None),
        "compiled_core_built": None if impls is None else impls.core is not None,
        "skypilot_version": None if impls is None else impls.sky_version,
        "skypilot_error": None if impls is None else impls.sky_error,
        "psutil_version": getattr(_optional("psutil"), "__version__", None),
    }


# ---------------------------------------------------------------------------
# Memory criteria (a fresh subprocess per measurement)
# ---------------------------------------------------------------------------

_CHILD = r"""
import gc, hashlib, importlib, json, os, resource, sys, tracemalloc, warnings
spec = json.loads(sys.argv[1])
target, name, args = spec["target"], spec["func"], spec["args"]
if target == "skypilot":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = getattr(importlib.import_module("sky.utils.common_utils"), name)
elif target == "listdir":
    def fn(path):
        return len(os.listdir(path)) * 5
else:
    mod = importlib.import_module("skyfast._core" if target == "cython" else "skyfast._core_py")
    fn = getattr(mod, name)

def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(field)

gc.collect()
try:
    # Linux >= 4.0: writing 5 resets the peak RSS (VmHWM) to the current RSS, so
    # the peak of the call alone is measured, not the import's.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before, method = status_kib("VmRSS"), "VmHWM - VmRSS"
except OSError:
    before, method = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss delta"
result = fn(*args)
try:
    after = status_kib("VmHWM") if method.startswith("VmHWM") else None
except OSError:
    after = None
if after is None:
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if isinstance(result, list):
    summary = [len(result), sum(len(x) for x in result),
               hashlib.sha256("\x00".join(result).encode("utf-8", "surrogatepass")).hexdigest()]
else:
    summary = result
del result
gc.collect()
tracemalloc.start()
result = fn(*args)
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({"rss_delta_kib": max(after - before, 0), "rss_method": method,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "tracemalloc_peak": peak, "result": summary}))
"""


def _child(target: str, func: str, args: List[Any]) -> Dict[str, Any]:
    skyfast_dir = os.path.dirname(
        os.path.dirname(os.path.abspath(importlib.import_module("skyfast").__file__ or "."))
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (skyfast_dir, env.get("PYTHONPATH")) if p)
    for name in _POD_ENV_VARS:
        env.pop(name, None)
    spec = json.dumps({"target": target, "func": func, "args": args})
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, spec],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exit {proc.returncode}: {tail[0]}"}
    out: Dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def memory_rows(
    *, quick: bool = False, against_skypilot: bool = True, progress: Progress = None
) -> List[Row]:
    """The two memory criteria, each measurement in a fresh subprocess.

    * read_last_n_lines(n=1) on a 50 MiB file with no '\\n' (the whole file is
      the one line returned): skyfast's peak must be <= half the reference's,
      both by the growth of the peak RSS during the call (VmHWM reset through
      /proc/self/clear_refs; ru_maxrss where that is missing) and by
      tracemalloc's peak.
    * estimate_fd_for_dir: the peak must not grow with the entry count
      (1,000 vs 200,000 entries).
    ``quick`` shrinks them (5 MiB, 20,000 entries) and says so.
    """
    say = progress or (lambda _msg: None)
    impls = ["cython"] if _dispatch.IMPLEMENTATION == "cython" else []
    impls.append("python")
    sky_ok = against_skypilot and importlib.util.find_spec("sky") is not None
    rows: List[Row] = []
    with tempfile.TemporaryDirectory(prefix="skyfast-mem-") as tmp:
        size = (5 if quick else 50) * _MIB
        path = _write_no_newline(os.path.join(tmp, "one-line.log"), size, SEED)
        targets = (["skypilot"] if sky_ok else []) + impls
        res: Dict[str, Dict[str, Any]] = {}
        for t in targets:
            say(f"memory: read_last_n_lines {_size_label(size)} no newline [{t}]")
            res[t] = _child(t, "read_last_n_lines", [path, 1])
        rows.append(_memory_rlnl_row(res, size, quick, impls))

        small, large = 1_000, (20_000 if quick else 200_000)
        say(f"memory: making {small:,} and {large:,} directory entries")
        dirs = {n: _make_entries(os.path.join(tmp, f"d{n}"), n) for n in (small, large)}
        fd: Dict[str, Dict[int, Dict[str, Any]]] = {}
        for t in ["listdir", *impls]:
            fd[t] = {}
            for n in (small, large):
                say(f"memory: estimate_fd_for_dir {n:,} entries [{t}]")
                fd[t][n] = _child(t, "estimate_fd_for_dir", [dirs[n]])
        rows.append(_memory_fd_row(fd, small, large, quick, impls))
    return rows


def _memory_rlnl_row(
    res: Dict[str, Dict[str, Any]], size: int, quick: bool, impls: List[str]
) -> Row:
    ref = res.get("skypilot")
    primary = impls[0]
    failures: List[str] = []
    mismatches: List[str] = []
    ratios: Dict[str, Optional[float]] = {}
    for t in impls:
        m = res[t]
        if "error" in m:
            mismatches.append(f"{t}: {m['error']}")
            continue
        if ref is None or "error" in ref:
            continue
        if m["result"] != ref["result"]:
            mismatches.append(f"{t}: result {m['result']} != reference {ref['result']}")
        for metric in ("rss_delta_kib", "tracemalloc_peak"):
            r = m[metric] / ref[metric] if ref[metric] > 0 else None
            ratios[f"{t}_{metric}"] = r
            if t == primary and (r is None or r > 0.5):
                failures.append(f"{metric}: {m[metric]:,} vs reference {ref[metric]:,}")
    if ref is None:
        status = "no reference"
    elif "error" in ref:
        status = "no reference"
        failures.append(f"reference failed: {ref['error']}")
    else:
        status = "ok" if not failures else "below target"
    if mismatches:
        status = "MISMATCH"
    return {
        "kind": "memory",
        "function": "read_last_n_lines",
        "case": f"{_size_label(size)} file, no '\\n', n=1",
        "note": "quick: 5 MiB instead of 50 MiB" if quick else "",
        "criterion": "peak <= 0.5 x reference (peak RSS growth and tracemalloc peak)",
        "skyfast_impl": primary,
        "measurements": res,
        "ratios": ratios,
        "mismatches": mismatches,
        "failures": failures,
        "status": status,
    }


def _memory_fd_row(
    fd: Dict[str, Dict[int, Dict[str, Any]]],
    small: int,
    large: int,
    quick: bool,
    impls: List[str],
) -> Row:
    primary = impls[0]
    failures: List[str] = []
    mismatches: List[str] = []
    growth: Dict[str, Dict[str, Optional[int]]] = {}
    for t, by_n in fd.items():
        a, b = by_n[small], by_n[large]
        if "error" in a or "error" in b:
            mismatches.append(f"{t}: {a.get('error') or b.get('error')}")
            continue
        growth[t] = {m: b[m] - a[m] for m in ("rss_delta_kib", "tracemalloc_peak")}
        if b["result"] != 5 * large or a["result"] != 5 * small:
            mismatches.append(f"{t}: results {a['result']}, {b['result']}")
    g = growth.get(primary)
    # "Does not grow": under 64 KiB of Python allocations and 1 MiB of RSS for 199,000
    # more entries (the reference's list of names grows by megabytes).
    if g is not None:
        if (g["tracemalloc_peak"] or 0) > 64 * _KIB:
            failures.append(f"tracemalloc peak grew {g['tracemalloc_peak']:,} B")
        if (g["rss_delta_kib"] or 0) > 1024:
            failures.append(f"rss grew {g['rss_delta_kib']:,} KiB")
    status = "MISMATCH" if mismatches else ("ok" if not failures else "below target")
    return {
        "kind": "memory",
        "function": "estimate_fd_for_dir",
        "case": f"{small:,} vs {large:,} entries",
        "note": "quick: 20,000 instead of 200,000 entries" if quick else "",
        "criterion": "peak does not grow with entry count (< 64 KiB traced, < 1 MiB rss)",
        "skyfast_impl": primary,
        "measurements": {t: {str(n): m for n, m in by_n.items()} for t, by_n in fd.items()},
        "growth": growth,
        "mismatches": mismatches,
        "failures": failures,
        "status": status,
    }


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


class _PodEnvUnset:
    """The rows are "host, no env var": hide SKYPILOT_POD_* while measuring."""

    def __enter__(self) -> None:
        self.saved = {k: os.environ.pop(k) for k in _POD_ENV_VARS if k in os.environ}

    def __exit__(self, *exc: object) -> None:
        os.environ.update(self.saved)


def _iter_rows(
    impls: _Impls, data: _Data, quick: bool, say: Callable[[str], None]
) -> Iterator[Row]:
    builders = _builders(impls, data)
    for i, build in enumerate(builders, 1):
        case = build()
        say(f"[{i}/{len(builders)}] {case.function}: {case.case}")
        yield _measure_case(case, impls, quick)
        del case


def run(
    *,
    against_skypilot: bool,
    quick: bool,
    json_path: Optional[str],
    progress: Optional[Callable[[str], None]],
    memory: bool = True,
    json_stream: Optional[TextIO] = None,
) -> List[Row]:
    """Measure every row; return the row dicts (time rows, memory rows, the summary).

    ``quick`` shrinks the 64 MiB / 100 MB inputs and the memory inputs and uses
    fewer rounds (each such row says so); ``json_path`` (a file) and
    ``json_stream`` (an open text stream) also get everything, with machine
    information, as JSON.  ``memory=False`` skips the memory rows.
    """
    say = progress or (lambda _msg: None)
    started = time.monotonic()
    say("loading implementations" + (" and SkyPilot 0.14.1" if against_skypilot else ""))
    impls = _load_impls(against_skypilot)
    if impls.sky_error and against_skypilot:
        say(f"SkyPilot not importable ({impls.sky_error}); no SkyPilot column")
    mods = [m for m in (impls.core, impls.twin) if m is not None]
    saved_ttl = [getattr(m, "get_cache_ttl", lambda: DEFAULT_TTL)() for m in mods]
    rows: List[Row] = []
    with _PodEnvUnset(), tempfile.TemporaryDirectory(prefix="skyfast-bench-") as tmp:
        say("writing seeded data")
        data = _make_data(tmp, quick)
        try:
            rows.extend(_iter_rows(impls, data, quick, say))
        finally:
            data.close()
            for m, ttl in zip(mods, saved_ttl):
                m.set_cache_ttl(ttl)
        if memory:
            rows.extend(memory_rows(quick=quick, against_skypilot=against_skypilot, progress=say))
    rows.append(_summary(rows))
    elapsed = time.monotonic() - started
    if json_path or json_stream is not None:
        doc = {
            "machine": machine_info(impls),
            "settings": {
                "quick": quick,
                "against_skypilot": against_skypilot,
                "min_sample_ns": MIN_SAMPLE_NS,
                "default_cache_ttl_s": DEFAULT_TTL,
                "elapsed_s": elapsed,
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
            "rows": rows,
        }
        text = json.dumps(doc, indent=2, default=repr) + "\n"
        if json_stream is not None:
            json_stream.write(text)
        if json_path:
            with open(json_path, "w", encoding="utf-8") as f:
                f.write(text)
    return rows


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------


def _fmt_ns(ns: Optional[float]) -> str:
    if ns is None:
        return "—"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            v = ns / scale
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{ns:.0f} ns"


def _fmt_ratio(r: Optional[float]) -> str:
    if r is None:
        return "—"
    digits = 0 if r >= 100 else (1 if r >= 10 else 2)
    return f"{r:.{digits}f}{_TIMES}"


def _fmt_bytes(n: Optional[float]) -> str:
    if n is None:
        return "—"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def _grid(header: Sequence[str], body: Sequence[Sequence[str]]) -> List[str]:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in body:
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    return lines


def format_table(rows: Sequence[Row]) -> str:
    """A plain-text table of ``run()``'s rows (times are medians per call)."""
    out: List[str] = []
    time_rows = [r for r in rows if r.get("kind") == "time"]
    if time_rows:
        impl = time_rows[0]["skyfast_impl"]
        if impl != "cython":
            out.append(
                "NOTE: the compiled core is not built; the ratios are for the pure-Python twin."
            )
        header = [
            "function",
            "case",
            "reference",
            "compiled",
            "cold",
            "python",
            "stdlib",
            "ratio",
            "cold ratio",
            "target",
            "status",
        ]
        body: List[List[str]] = []
        notes: List[str] = []
        legend: Dict[str, str] = {}
        for r in time_rows:
            con = r["contenders"]

            def t(name: str, con: Dict[str, Any] = con) -> str:
                x = con.get(name)
                if x is None:
                    return "—"
                mark = "" if x.get("same_result") in (True, None) or not x["compared"] else " !"
                return _fmt_ns(x["median_ns"]) + mark

            std = con.get("stdlib")
            std_text = "—"
            if std is not None:
                std_text = t("stdlib") + ("" if std["same_result"] else " ≠")
                legend.setdefault(f"{r['function']}", std["label"])
            tg = r["targets"]
            target = f"≥{tg['warm']:g}{_TIMES}" if tg["warm"] is not None else ""
            if tg["cold"] is not None:
                target += f" / ≥{tg['cold']:g}{_TIMES} cold"
            if tg["throughput"] is not None:
                target += f", ≥{tg['throughput']:.0%} OpenSSL"
            ratio = _fmt_ratio(r["ratios"]["warm"])
            if r["ratios"]["throughput"] is not None:
                ratio += f" ({r['ratios']['throughput']:.0%} OpenSSL)"
            status = r["status"] if r["status"] != "ok" else "ok"
            body.append(
                [
                    r["function"],
                    r["case"],
                    t("skypilot"),
                    t("cython_warm") if impl == "cython" else "not built",
                    t(f"{impl}_cold") if r["cached"] else "",
                    t("python_warm"),
                    std_text,
                    ratio,
                    _fmt_ratio(r["ratios"]["cold"]) if r["cached"] else "",
                    target,
                    status,
                ]
            )
            for m in r["mismatches"]:
                notes.append(f"MISMATCH {r['function']} [{r['case']}]: {m}")
            for f in r["failures"]:
                notes.append(f"below target {r['function']} [{r['case']}]: {f}")
            if r["note"]:
                notes.append(f"{r['function']} [{r['case']}]: {r['note']}")
            if r["reference_label"] and r["reference_label"] != "SkyPilot 0.14.1":
                notes.append(f"{r['function']}: reference is {r['reference_label']}")
        out.extend(_grid(header, body))
        out.append("")
        out.append(
            "reference = SkyPilot 0.14.1 unless noted; compiled/python = skyfast "
            "(warm: 20 ms cache window; cold: cache off); ratio = reference / skyfast."
        )
        out.append(
            "stdlib column (≠: a different value, not the same question): "
            + "; ".join(f"{k}: {v}" for k, v in legend.items())
        )
        for n in dict.fromkeys(notes):
            out.append(n)
    mem_rows = [r for r in rows if r.get("kind") == "memory"]
    if mem_rows:
        out.append("")
        header = ["memory", "case", "measure", "reference", "compiled", "python", "status"]
        body = []
        for r in mem_rows:
            meas = r["measurements"]
            if r["function"] == "read_last_n_lines":
                for metric, label in (
                    ("rss_delta_kib", "peak RSS growth"),
                    ("tracemalloc_peak", "tracemalloc peak"),
                ):
                    scale = 1024 if metric == "rss_delta_kib" else 1

                    def v(
                        t: str,
                        meas: Dict[str, Any] = meas,
                        metric: str = metric,
                        scale: int = scale,
                    ) -> str:
                        m = meas.get(t)
                        if m is None or "error" in m:
                            return "—" if m is None else "error"
                        return _fmt_bytes(m[metric] * scale)

                    body.append(
                        [
                            r["function"],
                            r["case"],
                            label,
                            v("skypilot"),
                            v("cython"),
                            v("python"),
                            r["status"],
                        ]
                    )
            else:
                gr = r["growth"]
                for metric, label in (
                    ("rss_delta_kib", "peak RSS growth Δ"),
                    ("tracemalloc_peak", "tracemalloc peak Δ"),
                ):
                    scale = 1024 if metric == "rss_delta_kib" else 1

                    def g(
                        t: str, gr: Dict[str, Any] = gr, metric: str = metric, scale: int = scale
                    ) -> str:
                        x = gr.get(t)
                        return "—" if x is None else _fmt_bytes(x[metric] * scale)

                    body.append(
                        [
                            r["function"],
                            r["case"],
                            label,
                            g("listdir"),
                            g("cython"),
                            g("python"),
                            r["status"],
                        ]
                    )
        out.extend(_grid(header, body))
        for r in mem_rows:
            out.append(
                f"{r['function']}: {r['criterion']}" + (f"; {r['note']}" if r["note"] else "")
            )
            for m in r["mismatches"]:
                out.append(f"MISMATCH {r['function']}: {m}")
            for f in r["failures"]:
                out.append(f"below target {r['function']}: {f}")
    for r in rows:
        if r.get("kind") == "summary":
            out.append("")
            firsts = ", ".join(f"{f} {_fmt_ratio(v['ratio'])}" for f, v in r["first_rows"].items())
            out.append(
                f"{r['function']}: mean of first rows = {_fmt_ratio(r['mean_ratio'])} "
                f"(target ≥{r['target']:g}{_TIMES}) {r['status']}"
            )
            out.append(f"  first rows: {firsts}")
    return "\n".join(out)
