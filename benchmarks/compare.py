"""The developer comparison: ``skyfast bench``'s rows judged against the project's targets.

    python benchmarks/compare.py [--full] [--json PATH] [--no-skypilot] [--no-memory]
                                 [--only FUNCTION ...]

It measures the same rows, the same way, as ``python -m skyfast bench``
(``skyfast._bench.run``) and adds what the installed command leaves out on
purpose: the targets of ``_targets.py`` and a verdict per row, the memory
criteria (``_memory.py``), and the mean of the first row of each function --
only when all twelve have a SkyPilot ratio.  Exit 1 when a result differs from
SkyPilot's.  asv imports every module here; this one defines no benchmark and
does nothing on import.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional

if __package__ in (None, ""):
    # Run as a script: make `benchmarks` importable.  Appended, so an installed
    # skyfast still comes before the source tree (which may not be built).
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

Row = Dict[str, Any]
X = "\u00d7"  # the multiplication sign of "2.5x"


def verdict(row: Row) -> Row:
    """The row's target and whether it was met (``status``: ok, below target, ...)."""
    from benchmarks._targets import TARGETS

    target = TARGETS.get(row["id"])
    ratios = row["ratios"]
    failures: List[str] = []
    if row["mismatches"]:
        status = "MISMATCH"
    elif target is None:
        status = "no target"
    elif row["withheld"]:
        status = "withheld"
    elif ratios["warm"] is None:
        status = "no reference"
    else:
        wanted = {"warm": target.warm, "of_hashing": target.of_hashing}
        if row["cached"]:
            wanted["cold"] = target.cold if target.cold is not None else 1.0
        for key, least in wanted.items():
            got = ratios.get(key)
            if least is not None and got is not None and got["median"] < least:
                failures.append(f"{key} {got['median']:.3f} < {least:g}")
        status = "below target" if failures else "ok"
    return {"id": row["id"], "target": target, "status": status, "failures": failures}


def mean_of_first_rows(rows: List[Row]) -> Row:
    """The headline figure: mean warm ratio of each function's first row, all twelve or none."""
    from skyfast._bench import FUNCTIONS

    firsts: Dict[str, Optional[float]] = {}
    for row in rows:
        if row.get("kind") == "time" and row["function"] not in firsts:
            warm = row["ratios"]["warm"]
            firsts[row["function"]] = None if warm is None or row["withheld"] else warm["median"]
    known = {f: r for f, r in firsts.items() if r is not None}
    if len(known) < len(FUNCTIONS):
        return {"mean": None, "first_rows": firsts, "why": f"{len(known)} of 12 have a ratio"}
    return {"mean": sum(known.values()) / len(known), "first_rows": firsts, "why": ""}


def format_verdicts(rows: List[Row], verdicts: List[Row], mean: Row) -> List[str]:
    from benchmarks._targets import MEAN_TARGET
    from skyfast._bench import fmt_ratio, grid

    body = []
    for row, v in zip(rows, verdicts):
        t = v["target"]
        want = "" if t is None else f"≥{t.warm:g}{X}"
        if t is not None and row["cached"]:
            want += f" / ≥{t.cold if t.cold is not None else 1.0:g}{X} cold"
        if t is not None and t.of_hashing is not None:
            want += f", ≥{t.of_hashing:.0%} of hashing"
        warm = row["ratios"]["warm"]
        body.append(
            [
                row["function"],
                row["case"],
                "" if t is None else t.reference_time,
                fmt_ratio(None if warm is None else warm["median"]),
                want,
                v["status"] + (" (noisy)" if row["noisy"] else ""),
            ]
        )
    out = grid(["function", "case", "target set at", "ratio", "target", "status"], body)
    for row, v in zip(rows, verdicts):
        out += [f"below target {row['function']} [{row['case']}]: {f}" for f in v["failures"]]
    if mean["mean"] is None:
        out.append(f"\nno mean of first rows: {mean['why']}")
    else:
        ok = "ok" if mean["mean"] >= MEAN_TARGET else "below target"
        out.append(
            f"\nall twelve: mean of first rows = {fmt_ratio(mean['mean'])} "
            f"(target ≥{MEAN_TARGET:g}{X}) {ok}"
        )
    return out


def main(argv: Optional[List[str]] = None) -> int:
    from benchmarks import _memory
    from skyfast import _bench

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="full-size inputs and rounds")
    parser.add_argument("--json", metavar="PATH", help="also write every number as JSON")
    parser.add_argument("--no-skypilot", action="store_true", help="no SkyPilot column")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory criteria")
    parser.add_argument("--only", metavar="FUNCTION", action="append", choices=_bench.FUNCTIONS)
    args = parser.parse_args(argv)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    rows = _bench.run(
        against_skypilot=not args.no_skypilot, full=args.full, functions=args.only, progress=say
    )
    verdicts = [verdict(r) for r in rows]
    mean = mean_of_first_rows(rows)
    memory: List[Row] = []
    if not args.no_memory and (not args.only or _memory.FUNCTIONS & set(args.only)):
        memory = _memory.memory_rows(
            quick=not args.full, against_skypilot=not args.no_skypilot, progress=say
        )
    print(_bench.format_table(rows, wide=True))
    print()
    print("\n".join(format_verdicts(rows, verdicts, mean)))
    if memory:
        print()
        print("\n".join(_memory.format_memory(memory)))
    if args.json:
        doc = {
            "machine": _bench.machine_info(_bench.load_impls(not args.no_skypilot)),
            "rows": rows,
            "verdicts": verdicts,
            "mean_of_first_rows": mean,
            "memory": memory,
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, default=repr)
    bad = any(r["mismatches"] for r in rows) or any(m["status"] == "MISMATCH" for m in memory)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
