"""Side-by-side comparison without the CLI: ``python benchmarks/compare.py [--full] ...``.

The same as ``python -m skyfast bench``: SkyPilot 0.14.1 vs skyfast (compiled,
warm and cold) vs the pure-Python twin vs the closest stdlib/psutil call, in
one process with interleaved rounds.  asv imports every module of this
directory while discovering benchmarks; this one defines no benchmark and does
nothing on import.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--full", action="store_true", help="full-size inputs (default: quick, < 20 s)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write every number as JSON")
    parser.add_argument(
        "--no-skypilot", action="store_true", help="do not import SkyPilot (no reference column)"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory rows")
    args = parser.parse_args(argv)

    # Imported here, not at the top: asv imports this module in every environment.
    try:
        from skyfast import _bench
    except ImportError:
        # Not installed: use the source tree this script lives in (built in place).
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from skyfast import _bench

    rows = _bench.run(
        against_skypilot=not args.no_skypilot,
        quick=not args.full,
        json_path=args.json,
        progress=lambda msg: print(msg, file=sys.stderr, flush=True),
        memory=not args.no_memory,
    )
    print(_bench.format_table(rows))
    bad = [r for r in rows if r.get("status") == "MISMATCH"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
