"""``skyfast bench``: SkyPilot 0.14.1 and skyfast side by side, on this machine.

Every row calls one function on one input with each *contender*: SkyPilot
0.14.1's function (when SkyPilot is installed; psutil's or ``os.listdir``'s
form for the two functions SkyPilot does not have), skyfast compiled with its
cache warm (the default 20 ms window) and cold (cache off, where a value is
cached), the pure-Python twin, and the closest standard-library call.

1. Each contender is called once and its result compared with SkyPilot's (a
   difference is reported as MISMATCH: that is a bug in skyfast).
2. Each gets a loop count so one sample (that many calls between two clock
   readings, garbage collector off) lasts at least ~200 µs.
3. Rounds are interleaved: a round times every contender once, in an order
   rotated each round, so a busy neighbour or a clock change hits all alike.
4. A contender's figure is the median over rounds; a ratio is the median of
   the per-round ratios, with their quartiles, so the noise is on the page.

Nothing here judges: there are no targets.  The project's own targets and
verdicts live with the developer benchmarks (``benchmarks/compare.py``),
which reuse ``run()``.  The inputs come from ``_benchdata`` (shared with asv).
"""

from __future__ import annotations

import collections
import gc
import hashlib
import importlib
import itertools
import json
import os
import platform
import random
import resource
import socket
import statistics
import sys
import tempfile
import textwrap
import time
import uuid
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO, Tuple

from . import _benchdata as data
from . import _dispatch
from ._cache import DEFAULT_TTL
from ._common import FUNCTIONS, POD_ENV_VARS, keep_tracebacklimit

__all__ = [
    "FUNCTIONS", "format_markdown", "format_table", "load_average", "load_impls",
    "machine_info", "quartiles", "run",
]  # fmt: skip

Row = Dict[str, Any]
Progress = Optional[Callable[[str], None]]

MIN_SAMPLE_NS = 200_000
# A spread (interquartile range / median) above this makes a row "noisy".
NOISY_SPREAD = 0.25
# Hashing a file cannot beat hashing bytes that are already in the CPU cache; a
# median above this (a little over 1 for rounding) means the machine changed speed.
IN_MEMORY_LIMIT = 1.03
_TIMES = "\u00d7"

# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------


@dataclass
class Contender:
    name: str  # skypilot | cython_warm | cython_cold | python_warm | python_cold | stdlib | memory
    label: str
    func: Callable[..., Any]
    args: Tuple[Any, ...]
    prepare: Optional[Callable[[], None]] = None  # runs (untimed) before every sample
    compare: bool = True  # False: a nearby question (stdlib); a different value is no error
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


def _calibrate(c: Contender) -> float:
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


def measure(contenders: Sequence[Contender], budget_s: float, rounds: Tuple[int, int]) -> int:
    """Interleaved rounds, rotated order; fills ``samples`` (ns per call). Returns the rounds.

    Every contender without an error gets exactly one sample per round, so
    ``samples[r]`` of two contenders were taken side by side.
    """
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


def quartiles(values: Sequence[float]) -> Optional[Dict[str, float]]:
    """Median and quartiles, and the spread (interquartile range / median)."""
    if not values:
        return None
    if len(values) < 4:
        med = statistics.median(values)
        return {"median": med, "q1": min(values), "q3": max(values), "spread": 0.0}
    q1, med, q3 = statistics.quantiles(values, n=4)
    return {"median": med, "q1": q1, "q3": q3, "spread": (q3 - q1) / med if med > 0 else 0.0}


def paired_ratio(num: Optional[Contender], den: Optional[Contender]) -> Optional[Dict[str, float]]:
    """``num`` time / ``den`` time, round by round (both timed in the same round)."""
    if num is None or den is None or not num.samples or len(num.samples) != len(den.samples):
        return None
    return quartiles([a / b for a, b in zip(num.samples, den.samples) if b > 0])


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


def _call_once(c: Contender) -> None:
    with keep_tracebacklimit():  # SkyPilot may leave sys.tracebacklimit changed
        try:
            if c.prepare is not None:
                c.prepare()
            c.result = c.func(*c.args)
        except Exception as e:  # recorded in the row
            c.error = f"{type(e).__name__}: {e}"


# ---------------------------------------------------------------------------
# What is compared
# ---------------------------------------------------------------------------


@dataclass
class Impls:
    core: Optional[ModuleType]  # skyfast._core, None when not built
    twin: ModuleType  # skyfast._core_py
    sky_common: Optional[Any]  # sky.utils.common_utils
    sky_subprocess: Optional[Any]  # sky.utils.subprocess_utils
    sky_version: Optional[str]
    sky_error: Optional[str]
    psutil: Optional[Any]


def load_impls(against_skypilot: bool) -> Impls:
    """skyfast's two builds, and SkyPilot's modules when asked for and importable."""
    twin = importlib.import_module("skyfast._core_py")
    # The compiled core exactly when `import skyfast` chose it (SKYFAST_NO_EXTENSIONS
    # and SKYFAST_REQUIRE_EXTENSIONS were honoured there, once).
    core = (
        importlib.import_module("skyfast._core") if _dispatch.IMPLEMENTATION == "cython" else None
    )
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
        error = "not requested"
    return Impls(core, twin, common, sub, version, error, _optional("psutil"))


def _optional(name: str) -> Optional[Any]:
    """A module skyfast does not depend on (psutil), or None when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _prepare(
    module: ModuleType,
    ttl: float,
    func: Optional[Callable[..., Any]] = None,
    args: Tuple[Any, ...] = (),
) -> Callable[[], None]:
    """Before a sample: put ``module``'s cache in the wanted state (warm: filled)."""

    def prepare() -> None:
        if module.get_cache_ttl() != ttl:
            module.set_cache_ttl(ttl)
        if ttl > 0 and func is not None:
            func(*args)

    return prepare


@dataclass
class Case:
    id: str  # stable key, e.g. "hash_file/sha256-1MiB" (benchmarks/compare.py keys targets on it)
    function: str
    case: str
    cached: bool = False
    note: str = ""
    reference_label: str = "SkyPilot 0.14.1"
    contenders: List[Contender] = field(default_factory=list)

    def reference(
        self, func: Optional[Callable[..., Any]], args: Tuple[Any, ...], label: Optional[str] = None
    ) -> None:
        if func is not None:
            if label is not None:
                self.reference_label = label
            self.contenders.insert(0, Contender("skypilot", self.reference_label, func, args))

    def skyfast(self, impls: Impls, args: Tuple[Any, ...]) -> None:
        """Compiled and twin, warm (and cold when the function caches)."""
        for impl, mod in (("cython", impls.core), ("python", impls.twin)):
            if mod is None:
                continue
            func = getattr(mod, self.function)
            title = "skyfast compiled" if impl == "cython" else "skyfast pure-Python"
            if not self.cached:
                prep = _prepare(mod, DEFAULT_TTL)
                self.contenders.append(Contender(f"{impl}_warm", title, func, args, prep))
                continue
            for mode, ttl in (("warm", DEFAULT_TTL), ("cold", 0.0)):
                prep = _prepare(mod, ttl, func, args)
                label = f"{title} ({mode})"
                self.contenders.append(Contender(f"{impl}_{mode}", label, func, args, prep))

    def stdlib(self, label: str, func: Callable[..., Any], args: Tuple[Any, ...]) -> None:
        self.contenders.append(Contender("stdlib", label, func, args, compare=False))


@dataclass
class Inputs:
    """The seeded files of one run, in a temporary directory."""

    tmp: str
    full: bool
    hash_small: str = ""
    hash_files: Dict[int, str] = field(default_factory=dict)
    log_path: str = ""
    log_size: int = 0
    entries_dir: str = ""
    entries: int = 0
    port_base: Optional[int] = None
    held: List[socket.socket] = field(default_factory=list)

    @classmethod
    def make(cls, tmp: str, full: bool, functions: Sequence[str]) -> Inputs:
        d = cls(tmp=tmp, full=full)
        if "hash_file" in functions:
            d.hash_small = data.write_random_file(os.path.join(tmp, "hash-4k.bin"), 4 * data.KIB)
            for size in (data.MIB, (64 if full else 4) * data.MIB):
                d.hash_files[size] = data.write_random_file(os.path.join(tmp, f"h{size}"), size)
        if "read_last_n_lines" in functions:
            d.log_size = (100 if full else 8) * 1_000_000
            d.log_path = data.write_log(os.path.join(tmp, "app.log"), d.log_size)
        if "estimate_fd_for_dir" in functions:
            d.entries = 10_000
            d.entries_dir = data.make_entries(os.path.join(tmp, "entries"), d.entries)
        if "find_free_port" in functions:
            try:
                d.port_base, d.held = data.hold_ports(50)
            except NotImplementedError:  # no run of free ports: those rows are left out
                d.port_base = None
        return d

    def close(self) -> None:
        for s in self.held:
            s.close()
        self.held.clear()


def _size_label(size: int) -> str:
    if size >= data.MIB and size % data.MIB == 0:
        return f"{size // data.MIB} MiB"
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000} MB"
    return f"{size // data.KIB} KiB"


# Reference forms for the two functions SkyPilot 0.14.1 does not have, and the
# closest standard-library calls.


def _psutil_alive(psutil: Any) -> Callable[[int], bool]:
    pid_exists, process = psutil.pid_exists, psutil.Process

    def is_alive(pid: int) -> bool:
        return bool(pid_exists(pid) and process(pid).status() != "zombie")

    return is_alive


def _psutil_gb(psutil: Any) -> Callable[[], float]:
    vm = psutil.virtual_memory

    def gb() -> float:
        return float(vm().total / (1024**3))

    return gb


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


_BLOCK = random.Random(data.SEED).randbytes(128 * data.KIB)


def _hash_in_cache(alg: str, size: int) -> Any:
    """Hash ``size`` bytes without touching memory: one 128 KiB block (it stays in
    the CPU cache) fed again and again.  Nothing hashes a file faster, so it is
    the ceiling for hash_file; a big in-memory blob is not (reading it from RAM
    can be slower than a file read in cache-sized pieces)."""
    h = hashlib.new(alg)
    update = h.update
    for _ in range(size // len(_BLOCK)):
        update(_BLOCK)
    return h


def _hex_uuid() -> str:
    return uuid.UUID(int=random.Random(data.SEED).getrandbits(128), version=4).hex


def cases(impls: Impls, d: Inputs, functions: Sequence[str]) -> List[Callable[[], Case]]:
    """One builder per row, for the ``functions`` asked for; a row's data (an
    in-memory copy of a file) lives only while that row is measured."""
    cu, su, ps = impls.sky_common, impls.sky_subprocess, impls.psutil
    out: List[Callable[[], Case]] = []

    def sky(mod: Optional[Any], name: str) -> Optional[Callable[..., Any]]:
        return None if mod is None else getattr(mod, name)  # type: ignore[no-any-return,unused-ignore]

    def simple(
        id: str,
        function: str,
        label: str,
        args: Tuple[Any, ...],
        *,
        cached: bool = False,
        ref: Optional[Callable[..., Any]] = None,
        ref_label: Optional[str] = None,
        std: Optional[Tuple[str, Callable[..., Any], Tuple[Any, ...]]] = None,
        note: str = "",
    ) -> None:
        def build() -> Case:
            c = Case(id, function, label, cached=cached, note=note)
            c.reference(ref if ref is not None else sky(cu, function), args, ref_label)
            c.skyfast(impls, args)
            if std is not None:
                c.stdlib(*std)
            return c

        out.append(build)

    for function in functions:
        if function == "is_process_alive":
            pid = (os.getpid(),)
            simple(
                "is_process_alive/own-pid",
                function,
                "own pid",
                pid,
                ref=_psutil_alive(ps) if ps is not None else None,
                ref_label="psutil.pid_exists(pid) and status() != 'zombie'",
                std=("psutil.pid_exists(pid)", ps.pid_exists, pid) if ps is not None else None,
            )
        elif function == "get_cpu_count":
            simple(
                "get_cpu_count/host",
                function,
                "host, no env var",
                (),
                cached=True,
                std=("os.cpu_count()", os.cpu_count, ()),
            )
        elif function == "get_parallel_threads":
            for cloud in (None, "kubernetes"):
                simple(
                    f"get_parallel_threads/{cloud}",
                    function,
                    repr(cloud),
                    (cloud,),
                    cached=True,
                    ref=sky(su, function),
                    std=("os.cpu_count() [input only]", os.cpu_count, ()),
                )
        elif function == "base36_encode":
            hex_str = _hex_uuid()
            simple(
                "base36_encode/uuid4",
                function,
                "uuid4().hex",
                (hex_str,),
                std=("int(h, 16) [parse only]", int, (hex_str, 16)),
            )
        elif function == "get_mem_size_gb":
            std = None
            if ps is not None:
                std = ("psutil.virtual_memory().total / 2**30", _psutil_gb(ps), ())
            simple("get_mem_size_gb/host", function, "host, no env var", (), cached=True, std=std)
        elif function == "hash_file":
            out.extend(_hash_cases(impls, d, sky(cu, function)))
        elif function == "get_max_workers_for_file_mounts":
            simple(
                "get_max_workers_for_file_mounts/empty",
                function,
                "{}",
                ({},),
                cached=True,
                ref=sky(su, function),
                std=(
                    "resource.getrlimit(NOFILE) [input only]",
                    resource.getrlimit,
                    (resource.RLIMIT_NOFILE,),
                ),
            )
        elif function == "read_last_n_lines":
            size = _size_label(d.log_size)
            for n in (10, 1000):
                simple(
                    f"read_last_n_lines/log-n{n}",
                    function,
                    f"{size} log, n={n}",
                    (d.log_path, n),
                    std=("deque(open(p, 'rb'), maxlen=n) [bytes]", _deque_tail, (d.log_path, n)),
                )
        elif function == "format_float":
            for ff_args in ((3.14159,), (2.0,), (1234567.891, 2)):
                label = repr(ff_args[0]) if len(ff_args) == 1 else repr(ff_args)
                prec = ff_args[1] if len(ff_args) > 1 else 1
                simple(
                    f"format_float/{label}",
                    function,
                    label,
                    ff_args,
                    std=("format(x, '.<p>f')", format, (ff_args[0], f".{prec}f")),
                )
        elif function == "estimate_fd_for_dir":
            args = (d.entries_dir,)
            simple(
                "estimate_fd_for_dir/10000",
                function,
                f"{d.entries:,} entries",
                args,
                ref=_listdir_fd,
                ref_label="len(os.listdir(p)) * 5",
                std=("count os.scandir(p) * 5", _scandir_fd, args),
            )
        elif function == "find_free_port" and d.port_base is not None:
            free = d.port_base + len(d.held)
            simple(
                "find_free_port/first-free",
                function,
                f"first port free ({free})",
                (free,),
                std=("socket().bind(('', p)) once", _bind_once, (free,)),
            )
            simple(
                "find_free_port/50-taken",
                function,
                f"first 50 taken ({d.port_base}..{free - 1})",
                (d.port_base,),
            )
        elif function == "truncate_long_string":
            for length in (80, 10_000):
                s = data.text_with_spaces(length)
                simple(
                    f"truncate_long_string/{length}",
                    function,
                    f"{length:,} chars with spaces",
                    (s,),
                    std=("textwrap.shorten(s, 35)", textwrap.shorten, (s, 35)),
                )
    return out


def _hash_cases(
    impls: Impls, d: Inputs, ref: Optional[Callable[..., Any]]
) -> List[Callable[[], Case]]:
    out: List[Callable[[], Case]] = []

    def small() -> Case:
        c = Case("hash_file/sha256-4KiB", "hash_file", "sha256, 4 KiB file")
        args = (d.hash_small, "sha256")
        c.reference(ref, args)
        c.skyfast(impls, args)
        if sys.version_info >= (3, 11):
            c.stdlib("hashlib.file_digest", _file_digest, args)
        return c

    out.append(small)
    for size in sorted(d.hash_files):
        for alg in ("sha256", "md5"):

            def big(size: int = size, alg: str = alg) -> Case:
                label = _size_label(size)
                note = "" if size == data.MIB or d.full else "quick: 4 MiB (--full: 64 MiB)"
                c = Case(
                    f"hash_file/{alg}-{label.replace(' ', '')}",
                    "hash_file",
                    f"{alg}, {label} file",
                    note=note,
                )
                args = (d.hash_files[size], alg)
                c.reference(ref, args)
                c.skyfast(impls, args)
                if sys.version_info >= (3, 11):
                    c.stdlib("hashlib.file_digest", _file_digest, args)
                c.contenders.append(
                    Contender(
                        "memory",
                        "hashlib update() over one cache-hot 128 KiB block",
                        _hash_in_cache,
                        (alg, size),
                        compare=False,
                    )
                )
                return c

            out.append(big)
    return out


# ---------------------------------------------------------------------------
# A row
# ---------------------------------------------------------------------------


def _compare_results(c: Case, expected: Optional[Contender]) -> List[str]:
    mismatches: List[str] = []
    for con in c.contenders:
        if expected is None or con is expected:
            continue
        if con.error is None and expected.error is None:
            con.same = _normalize(con.result) == _normalize(expected.result)
        else:
            con.same = con.error == expected.error
        if con.compare and not con.same:
            got = con.error or _short(con.result)
            want = expected.error or _short(expected.result)
            mismatches.append(f"{con.label}: got {got}, {expected.label} gave {want}")
    if expected is not None:
        expected.same = True
    return mismatches


def measure_case(c: Case, impls: Impls, full: bool) -> Row:
    """Call, compare, time and summarise one row."""
    for con in c.contenders:
        _call_once(con)
    by = {x.name: x for x in c.contenders}
    primary = "cython" if impls.core is not None else "python"
    # Without SkyPilot, the twin's result is what the compiled core must match.
    expected = by.get("skypilot") or by.get("python_warm")
    mismatches = _compare_results(c, expected)
    budget, rounds = (4.0, (21, 101)) if full else (0.2, (7, 31))
    n_rounds = measure(c.contenders, budget, rounds)
    times = {x.name: quartiles(x.samples) for x in c.contenders}
    ratios = {
        "warm": paired_ratio(by.get("skypilot"), by.get(f"{primary}_warm")),
        "cold": paired_ratio(by.get("skypilot"), by.get(f"{primary}_cold")),
        "python": paired_ratio(by.get("skypilot"), by.get("python_warm")),
        "compiled_vs_python": paired_ratio(by.get("python_warm"), by.get("cython_warm")),
        # skyfast's speed as a share of the hashing alone (the ceiling)
        "of_hashing": paired_ratio(by.get("memory"), by.get(f"{primary}_warm")),
    }
    spreads = [t["spread"] for t in times.values() if t is not None]
    spreads += [r["spread"] for k, r in ratios.items() if r is not None and k in ("warm", "cold")]
    noisy = bool(spreads) and max(spreads) > NOISY_SPREAD
    withheld: List[str] = []
    mem = ratios["of_hashing"]
    if mem is not None and mem["median"] > IN_MEMORY_LIMIT:
        withheld.append(
            f"{mem['median']:.0%} of the speed of the hashing alone is impossible: the "
            "machine's speed changed during the run, so this row's figures are withheld"
        )
    return {
        "kind": "time",
        "id": c.id,
        "function": c.function,
        "case": c.case,
        "note": c.note,
        "reference_label": c.reference_label if "skypilot" in by else None,
        "skyfast_impl": primary,
        "cached": c.cached,
        "rounds": n_rounds,
        "ratios": ratios,
        "noisy": noisy,
        "withheld": withheld,
        "mismatches": mismatches,
        "contenders": {
            x.name: {
                "label": x.label,
                "median_ns": None if times[x.name] is None else times[x.name]["median"],  # type: ignore[index]
                "spread": None if times[x.name] is None else times[x.name]["spread"],  # type: ignore[index]
                "k": x.k,
                "samples_ns": x.samples,
                "same_result": x.same,
                "compared": x.compare,
                "error": x.error,
                "result": None if x.error else _short(x.result),
            }
            for x in c.contenders
        },
    }


# ---------------------------------------------------------------------------
# A run
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


def load_average() -> Optional[float]:
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):  # not on every platform
        return None


def machine_info(impls: Optional[Impls] = None) -> Dict[str, Any]:
    """Where the numbers come from: platform, CPU, Python, skyfast and SkyPilot versions."""
    skyfast = importlib.import_module("skyfast")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "nproc": os.cpu_count(),
        "affinity": affinity,
        "load_average_1min": load_average(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "skyfast_version": getattr(skyfast, "__version__", None),
        "skyfast_implementation": getattr(skyfast, "IMPLEMENTATION", None),
        "compiled_core_built": None if impls is None else impls.core is not None,
        "skypilot_version": None if impls is None else impls.sky_version,
        "skypilot_error": None if impls is None else impls.sky_error,
        "psutil_version": getattr(_optional("psutil"), "__version__", None),
    }


class _PodEnvUnset:
    """The rows are "host, no env var": hide SKYPILOT_POD_* while measuring."""

    def __enter__(self) -> None:
        self.saved = {k: os.environ.pop(k) for k in POD_ENV_VARS if k in os.environ}

    def __exit__(self, *exc: object) -> None:
        os.environ.update(self.saved)


def run(
    *,
    against_skypilot: bool = True,
    full: bool = False,
    functions: Optional[Sequence[str]] = None,
    progress: Progress = None,
    json_path: Optional[str] = None,
    json_stream: Optional[TextIO] = None,
) -> List[Row]:
    """Measure the rows of ``functions`` (default: all twelve); return the row dicts.

    ``full`` uses the large inputs (64 MiB files, a 100 MB log) and more rounds.
    ``json_path`` (a file) and ``json_stream`` (an open text stream) also get
    every number and sample, with machine information, as JSON.
    """
    wanted = list(FUNCTIONS if functions is None else dict.fromkeys(functions))
    unknown = [f for f in wanted if f not in FUNCTIONS]
    if unknown:
        raise ValueError(f"not one of skyfast's functions: {', '.join(unknown)}")
    say = progress or (lambda _msg: None)
    started = time.monotonic()
    load_before = load_average()
    say("loading implementations" + (" and SkyPilot 0.14.1" if against_skypilot else ""))
    impls = load_impls(against_skypilot)
    if impls.sky_error and against_skypilot:
        say(f"SkyPilot not importable ({impls.sky_error}); no SkyPilot column")
    mods = [m for m in (impls.core, impls.twin) if m is not None]
    saved_ttl = [m.get_cache_ttl() for m in mods]
    rows: List[Row] = []
    with _PodEnvUnset(), tempfile.TemporaryDirectory(prefix="skyfast-bench-") as tmp:
        say("writing seeded inputs")
        d = Inputs.make(tmp, full, wanted)
        try:
            builders = cases(impls, d, wanted)
            for i, build in enumerate(builders, 1):
                case = build()
                say(f"[{i}/{len(builders)}] {case.function}: {case.case}")
                rows.append(measure_case(case, impls, full))
                del case  # a row's in-memory copy of a file goes now
        finally:
            d.close()
            for m, ttl in zip(mods, saved_ttl):
                m.set_cache_ttl(ttl)
    if json_path or json_stream is not None:
        machine = machine_info(impls)
        machine["load_average_1min_before"] = load_before
        doc = {
            "machine": machine,
            "settings": {
                "full": full,
                "functions": wanted,
                "against_skypilot": against_skypilot,
                "min_sample_ns": MIN_SAMPLE_NS,
                "default_cache_ttl_s": DEFAULT_TTL,
                "elapsed_s": time.monotonic() - started,
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


def fmt_ns(ns: Optional[float]) -> str:
    if ns is None:
        return "—"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            v = ns / scale
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{ns:.0f} ns"


def fmt_ratio(r: Optional[float]) -> str:
    if r is None:
        return "—"
    digits = 0 if r >= 100 else (1 if r >= 10 else 2)
    return f"{r:.{digits}f}{_TIMES}"


def fmt_ratio_range(q: Optional[Dict[str, float]]) -> str:
    """``2.13x (2.05-2.20)``: the median of per-round ratios and its quartiles."""
    if q is None:
        return "—"
    return f"{fmt_ratio(q['median'])} ({fmt_ratio(q['q1'])[:-1]}-{fmt_ratio(q['q3'])[:-1]})"


def grid(header: Sequence[str], body: Sequence[Sequence[str]], width: Optional[int] = None,
         shrink: int = -1) -> List[str]:
    """Columns two spaces apart; if wider than ``width``, column ``shrink`` is cut with '…'."""
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    if width is not None and shrink >= 0:
        excess = sum(widths) + 2 * (len(widths) - 1) - width
        if excess > 0:
            widths[shrink] = max(len(header[shrink]), widths[shrink] - excess, 8)

    def cell(value: str, w: int) -> str:
        return (value if len(value) <= w else value[: w - 1] + "…").ljust(w)

    lines = ["  ".join(cell(h, w) for h, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in body:
        lines.append("  ".join(cell(v, w) for v, w in zip(r, widths)).rstrip())
    return lines


def _time_cell(row: Row, name: str) -> str:
    x = row["contenders"].get(name)
    if x is None:
        return "—"
    differs = x["compared"] and x.get("same_result") is False
    return fmt_ns(x["median_ns"]) + (" !" if differs else "")


def table_width() -> int:
    """The terminal's width; 100 when the output is not a terminal."""
    import shutil

    return shutil.get_terminal_size(fallback=(100, 24)).columns


def format_table(rows: Sequence[Row], *, load_average: Optional[float] = None,
                 wide: bool = False, width: Optional[int] = None) -> str:
    """A plain-text table of ``run()``'s rows, ``width`` columns wide (default: the terminal's).

    By default: function, case, SkyPilot, skyfast, ratio -- for the cached
    functions the cold call, which is what SkyPilot gets.  ``wide`` adds the warm,
    pure-Python, stdlib and of-hashing columns and the ratios' quartiles.
    """
    width = table_width() if width is None else width
    rows = [r for r in rows if r.get("kind") == "time"]
    if not rows:
        return "no rows measured"
    out: List[str] = []
    notes: List[str] = []
    impl = rows[0]["skyfast_impl"]
    if impl != "cython":
        notes.append("NOTE: the compiled core is not built; the skyfast column is the "
                     "pure-Python twin.")
    if all(r["reference_label"] is None for r in rows):
        notes.append("NOTE: SkyPilot is not installed, so there are no ratios "
                     "(pip install skypilot==0.14.1).")
    legend: Dict[str, str] = {}
    body: List[List[str]] = []
    for r in rows:
        std = r["contenders"].get("stdlib")
        if std is not None:
            legend.setdefault(r["function"], std["label"])
        case = r["case"] + (" (cold)" if r["cached"] and not wide else "")
        case += " (noisy)" if r["noisy"] else ""
        if wide:
            mem = r["ratios"]["of_hashing"]
            cells = ["withheld"] * 8 if r["withheld"] else [
                _time_cell(r, "skypilot"),
                _time_cell(r, f"{impl}_warm"),
                _time_cell(r, f"{impl}_cold") if r["cached"] else "",
                _time_cell(r, "python_warm") if impl == "cython" else "(same)",
                "—" if std is None
                else _time_cell(r, "stdlib") + ("" if std["same_result"] else " ≠"),
                fmt_ratio_range(r["ratios"]["warm"]),
                fmt_ratio_range(r["ratios"]["cold"]) if r["cached"] else "",
                "" if mem is None else f"{mem['median']:.0%}",
            ]
        else:
            which = "cold" if r["cached"] else "warm"
            ratio = r["ratios"][which]
            cells = ["withheld"] * 3 if r["withheld"] else [
                _time_cell(r, "skypilot"),
                _time_cell(r, f"{impl}_{which}"),
                "—" if ratio is None else fmt_ratio(ratio["median"]),
            ]
        body.append([r["function"], case, *cells])
        where = f"{r['function']} [{r['case']}]"
        notes += [f"MISMATCH {where}: {m}" for m in r["mismatches"]]
        notes += [f"{where}: {w}" for w in r["withheld"]]
        if r["note"]:
            notes.append(f"{where}: {r['note']}")
        if r["reference_label"] and r["reference_label"] != "SkyPilot 0.14.1":
            notes.append(f"{r['function']}: the SkyPilot column is {r['reference_label']}")
    if wide:
        header = ["function", "case", "SkyPilot", "skyfast", "cold", "pure-Python", "stdlib",
                  "ratio (quartiles)", "cold ratio", "of hashing"]
    else:
        header = ["function", "case", "SkyPilot", "skyfast", "ratio"]
    out.extend(grid(header, body, width=width, shrink=1))
    paragraphs = [
        "Medians per call, one process, interleaved rounds. Ratio = SkyPilot time ÷ "
        f"skyfast time, median of the per-round ratios; above 1{_TIMES} skyfast is faster."
    ]
    if wide:
        paragraphs.append(
            "skyfast warm: the 20 ms cache window; cold: cache off. Quartiles of the "
            "per-round ratios in brackets. of hashing: skyfast's speed as a share of hashing "
            "alone (bytes already in the CPU cache), which no file hash can beat.")
        if legend:
            paragraphs.append("stdlib column (≠: a different value, a nearby question): "
                              + "; ".join(f"{k}: {v}" for k, v in legend.items()))
    elif any(r["cached"] for r in rows):
        warm = [r["ratios"]["warm"]["median"] for r in rows
                if r["cached"] and r["ratios"]["warm"] is not None]
        gain = f" (up to {fmt_ratio(max(warm))} against SkyPilot)" if warm else ""
        paragraphs.append(
            "(cold): the cache off, which is what SkyPilot gets: it calls these functions "
            "seconds apart, never inside skyfast's 20 ms cache window. A caller in a loop "
            f"gets the warm figure{gain}: --wide shows it, with the pure-Python, stdlib and "
            "quartile columns; --json has every number.")
    paragraphs += list(dict.fromkeys(notes))
    noisy = [r for r in rows if r["noisy"] or r["withheld"]]
    if len(noisy) * 4 >= len(rows):
        cpus = os.cpu_count() or 1
        load = "" if load_average is None else f" (load average {load_average:.1f} on {cpus} CPUs)"
        paragraphs.append(
            f"This machine was too busy for these figures to be trusted{load}: "
            f"{len(noisy)} of {len(rows)} rows are noisy (quartiles more than "
            f"{NOISY_SPREAD:.0%} apart) or withheld. Run again when it is idle.")
    elif noisy:
        paragraphs.append(f"{len(noisy)} of {len(rows)} rows are noisy: read their ratios as "
                          "ranges (--wide).")
    for paragraph in paragraphs:
        out.append("")
        out.extend(textwrap.wrap(paragraph, width=max(width, 40), break_on_hyphens=False))
    return "\n".join(out)




def format_markdown(rows: Sequence[Row], machine: Dict[str, Any], command: str) -> str:
    """README's table: the narrow columns as Markdown, cold first for the cached functions.

    Each cached function gets its cold row (what SkyPilot gets) and then its warm
    row (what the cache adds for a caller in a loop).  Ends with where and when
    it was measured, and the geometric mean of each function's first row.
    """
    rows = [r for r in rows if r.get("kind") == "time" and not r["withheld"]]
    impl = rows[0]["skyfast_impl"] if rows else "cython"
    lines = ["| function | case | SkyPilot | skyfast | ratio |", "|---|---|---|---|---|"]
    firsts: Dict[str, float] = {}
    for r in rows:
        modes = ("cold", "warm") if r["cached"] else ("warm",)
        for mode in modes:
            ratio = r["ratios"][mode]
            label = r["case"]
            if r["cached"]:
                label += " (cold: as SkyPilot calls it)" if mode == "cold" else (
                    " (warm: a caller in a loop)")
            if ratio is not None:
                firsts.setdefault(r["function"], ratio["median"])
            cells = [f"`{r['function']}`", label, _time_cell(r, "skypilot"),
                     _time_cell(r, f"{impl}_{mode}"),
                     "—" if ratio is None else fmt_ratio(ratio["median"])]
            lines.append("| " + " | ".join(cells) + " |")
    when = time.strftime("%Y-%m-%d")
    cpu = machine.get("cpu_model") or machine.get("machine") or "unknown CPU"
    lines += [
        "",
        f"Measured {when} on {machine.get('nproc')} CPUs ({cpu}), "
        f"{machine.get('python_implementation')} {machine.get('python')}, "
        f"SkyPilot {machine.get('skypilot_version')}, skyfast {machine.get('skyfast_version')} "
        f"({impl}), load average {machine.get('load_average_1min') or 0:.1f}, with `{command}`.",
    ]
    if firsts:
        mean = statistics.geometric_mean(firsts.values())
        lines.append(f"Geometric mean of each function's first row (as SkyPilot calls it): "
                     f"{fmt_ratio(mean)}.")
    return "\n".join(lines)
