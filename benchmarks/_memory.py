"""The memory criteria of ``benchmarks/compare.py``, each measured in a fresh subprocess.

Developer-side: these are the project's own criteria (peak memory of
``read_last_n_lines`` at most half of SkyPilot's; ``estimate_fd_for_dir`` not
growing with the directory), so they live here, not in the installed package.
asv imports this module while discovering benchmarks; it defines none and
imports nothing from skyfast at module level.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence

from ._util import KIB, MIB, POD_ENV_VARS, make_entries, write_no_newline

Row = Dict[str, Any]
FUNCTIONS = frozenset({"read_last_n_lines", "estimate_fd_for_dir"})  # what is measured here
Progress = Optional[Callable[[str], None]]


def _fmt_bytes(n: Optional[float]) -> str:
    if n is None:
        return "—"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


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
    for name in POD_ENV_VARS:
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
    impls = ["cython"] if importlib.import_module("skyfast").IMPLEMENTATION == "cython" else []
    impls.append("python")
    sky_ok = against_skypilot and importlib.util.find_spec("sky") is not None
    rows: List[Row] = []
    with tempfile.TemporaryDirectory(prefix="skyfast-mem-") as tmp:
        size = (5 if quick else 50) * MIB
        path = write_no_newline(os.path.join(tmp, "one-line.log"), size)
        targets = (["skypilot"] if sky_ok else []) + impls
        res: Dict[str, Dict[str, Any]] = {}
        for t in targets:
            say(f"memory: read_last_n_lines {size // MIB} MiB no newline [{t}]")
            res[t] = _child(t, "read_last_n_lines", [path, 1])
        rows.append(_memory_rlnl_row(res, size, quick, impls))

        small, large = 1_000, (20_000 if quick else 200_000)
        say(f"memory: making {small:,} and {large:,} directory entries")
        dirs = {n: make_entries(os.path.join(tmp, f"d{n}"), n) for n in (small, large)}
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
    return dict(
        function="read_last_n_lines",
        case=f"{size // MIB} MiB file, no '\\n', n=1",
        note="quick: 5 MiB instead of 50 MiB" if quick else "",
        criterion="peak <= 0.5 x reference (peak RSS growth and tracemalloc peak)",
        kind="memory", skyfast_impl=primary, measurements=res, ratios=ratios,
        mismatches=mismatches, failures=failures, status=status,
    )  # fmt: skip


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
        if (g["tracemalloc_peak"] or 0) > 64 * KIB:
            failures.append(f"tracemalloc peak grew {g['tracemalloc_peak']:,} B")
        if (g["rss_delta_kib"] or 0) > 1024:
            failures.append(f"rss grew {g['rss_delta_kib']:,} KiB")
    status = "MISMATCH" if mismatches else ("ok" if not failures else "below target")
    return dict(
        function="estimate_fd_for_dir",
        case=f"{small:,} vs {large:,} entries",
        note="quick: 20,000 instead of 200,000 entries" if quick else "",
        criterion="peak does not grow with entry count (< 64 KiB traced, < 1 MiB rss)",
        measurements={t: {str(n): m for n, m in by_n.items()} for t, by_n in fd.items()},
        kind="memory", skyfast_impl=primary, growth=growth,
        mismatches=mismatches, failures=failures, status=status,
    )  # fmt: skip


def format_memory(rows: Sequence[Row]) -> List[str]:
    """The memory rows as text lines."""
    from skyfast._bench import grid  # not at import: asv imports this for every commit

    out: List[str] = []
    mem_rows = list(rows)
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
        out.extend(grid(header, body))
        for r in mem_rows:
            out.append(
                f"{r['function']}: {r['criterion']}" + (f"; {r['note']}" if r["note"] else "")
            )
            for m in r["mismatches"]:
                out.append(f"MISMATCH {r['function']}: {m}")
            for f in r["failures"]:
                out.append(f"below target {r['function']}: {f}")
    return out
