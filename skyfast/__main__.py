"""``python -m skyfast`` / ``skyfast``: what this machine looks like to skyfast, and how fast it is.

    skyfast                 the report (same as ``skyfast info``) and a quick speed table
    skyfast info            the report only
    skyfast bench           the side-by-side speed comparison (``--quick``, ``--json PATH``,
                            ``--against skypilot``)
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
from typing import Callable, List, Optional, Sequence, Tuple

import skyfast

_ENV_VARS = (
    "SKYPILOT_POD_CPU_CORE_LIMIT",
    "SKYPILOT_POD_MEMORY_GB_LIMIT",
    "SKYPILOT_POD_MEMORY_BYTES_LIMIT",
    "SKYFAST_NO_EXTENSIONS",
    "SKYFAST_REQUIRE_EXTENSIONS",
)


def _value(fn: Callable[[], object]) -> str:
    try:
        return repr(fn())
    except Exception as e:  # a report line, not a crash
        return f"error: {type(e).__name__}: {e}"


def info_lines() -> List[str]:
    """The report of this machine as skyfast sees it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    rows: List[Tuple[str, str]] = [
        ("skyfast", f"{skyfast.__version__} ({skyfast.IMPLEMENTATION} implementation)"),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("platform", platform.platform()),
        ("get_cpu_count()", _value(skyfast.get_cpu_count)),
        ("get_mem_size_gb()", _value(skyfast.get_mem_size_gb)),
        ("get_parallel_threads()", _value(skyfast.get_parallel_threads)),
        (
            "get_parallel_threads('kubernetes')",
            _value(lambda: skyfast.get_parallel_threads("kubernetes")),
        ),
        (
            "get_parallel_threads(container_aware=True)",
            _value(lambda: skyfast.get_parallel_threads(container_aware=True)),
        ),
        ("get_max_workers_for_file_mounts({})", _value(lambda: skyfast.get_max_workers({}))),
        ("RLIMIT_NOFILE (soft, hard)", f"{soft}, {hard}"),
        ("os.cpu_count()", repr(os.cpu_count())),
    ]
    for name in _ENV_VARS:
        if name in os.environ:
            rows.append((f"${name}", repr(os.environ[name])))
    rows.extend(_limits_rows())
    width = max(len(k) for k, _ in rows)
    return [f"{k:<{width}}  {v}" for k, v in rows]


def _limits_rows() -> List[Tuple[str, str]]:
    try:
        from . import limits
    except ImportError:
        return []
    try:
        found = limits.read_limits()
    except Exception as e:  # never fatal for a report
        return [("container limits", f"error: {type(e).__name__}: {e}")]
    rows = [("container limits", "")]
    for field, value in vars(found).items():
        rows.append((f"  {field}", repr(value)))
    return rows


def _bench(quick: bool, json_path: Optional[str], against: Optional[str]) -> int:
    from . import _bench

    def progress(msg: str) -> None:
        print(f"  ... {msg}", file=sys.stderr, flush=True)

    if against not in (None, "skypilot"):
        print(f"skyfast: unknown --against target {against!r} (only 'skypilot')", file=sys.stderr)
        return 2
    if against == "skypilot" and not _skypilot_importable():
        print("skyfast: --against skypilot needs SkyPilot: pip install skypilot==0.14.1",
              file=sys.stderr)
        return 2
    rows = _bench.run(
        against_skypilot=against == "skypilot" or _skypilot_importable(),
        quick=quick,
        json_path=json_path,
        progress=progress,
    )
    print(_bench.format_table(rows))
    return 0


def _skypilot_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("sky") is not None


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="skyfast",
        description=(
            "SkyPilot 0.14.1's hot utility functions, compiled. With no command: the report "
            "of this machine and a quick speed comparison."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="{info,bench}")
    sub.add_parser("info", help="implementation in use and each value as skyfast sees it")
    bench = sub.add_parser("bench", help="side-by-side speed comparison (one process, medians)")
    bench.add_argument("--quick", action="store_true", help="small inputs, few rounds (~20 s)")
    bench.add_argument("--json", metavar="PATH", help="also write every number to PATH")
    bench.add_argument(
        "--against", metavar="skypilot", help="require SkyPilot 0.14.1 as the reference"
    )
    args = parser.parse_args(argv)
    if args.command == "info":
        print("\n".join(info_lines()))
        return 0
    if args.command == "bench":
        return _bench(args.quick, args.json, args.against)
    print("\n".join(info_lines()))
    print()
    return _bench(True, None, None)


if __name__ == "__main__":
    sys.exit(main())
