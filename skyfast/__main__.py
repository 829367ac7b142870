"""``python -m skyfast`` / ``skyfast``: what this machine looks like to skyfast, and how fast it is.

    skyfast                 the report (same as ``skyfast info``) and the quick speed table
    skyfast info            the report only
    skyfast bench           the quick side-by-side comparison (``--full``, ``--json [PATH]``,
                            ``--against skypilot``, ``--only FUNCTION``)

Exit codes: 0 success, 1 a measured call answered differently from SkyPilot
(a MISMATCH row), 2 bad arguments or a missing ``--against`` target, 141 the
output pipe was closed (``skyfast info | head -1``), as for a Unix tool
stopped by SIGPIPE.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import resource
import shutil
import sys
from typing import Callable, List, Optional, Sequence, TextIO, Tuple

import skyfast

from ._common import FUNCTIONS as _FUNCTIONS
from ._common import POD_ENV_VARS, env_flag

_ENV_VARS = (
    *POD_ENV_VARS,
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
        ("compiled core", _core_state()),
        ("imported from", os.path.dirname(os.path.abspath(skyfast.__file__))),
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
    rows.extend(_skypilot_rows())
    width = max(len(k) for k, _ in rows)
    return [f"{k:<{width}}  {v}" for k, v in rows]


def _core_state() -> str:
    """Why the compiled core is or is not in use, in words a user can act on."""
    if skyfast.IMPLEMENTATION == "cython":
        return "built and in use"
    if env_flag("SKYFAST_NO_EXTENSIONS"):
        return "not used: SKYFAST_NO_EXTENSIONS is set"
    try:
        importlib.import_module("skyfast._core")
    except ImportError as e:
        return f"not built here ({os.path.dirname(skyfast.__file__)}): {e}"
    return "built, not chosen at import"


def _limits_rows() -> List[Tuple[str, str]]:
    try:
        from . import limits
    except ImportError:
        return []
    try:
        found = limits.read_limits()
    except Exception as e:  # never fatal for a report
        return [("container limits", f"error: {type(e).__name__}: {e}")]
    rows = [("container limits", "(skyfast.limits)")]
    for field, value in vars(found).items():
        rows.append((f"  {field}", repr(value)))
    return rows


def _skypilot_rows() -> List[Tuple[str, str]]:
    """Which SkyPilot is installed, which of its functions skyfast would replace, and whether
    the start-up activation is on -- read from files, without importing SkyPilot."""
    import importlib.metadata
    import importlib.util

    from .integrations import skypilot

    activation = "on" if env_flag("SKYFAST_SKYPILOT") else "off"
    if importlib.util.find_spec("_skyfast_startup") is None:
        activation += " (start-up files not installed: an editable install?)"
    rows = [("$SKYFAST_SKYPILOT", activation)]
    try:
        verdicts = skypilot.check()
    except ImportError:
        return [("SkyPilot", "not installed"), *rows]
    except Exception as e:  # never fatal for a report
        return [("SkyPilot", f"error: {type(e).__name__}: {e}"), *rows]
    versions = []
    for dist in ("skypilot", "skypilot-nightly"):
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    left = [f"{v.name} ({v.reason})" for v in verdicts.values() if not v.verified]
    verified = len(verdicts) - len(left)
    summary = f"{verified} of {len(verdicts)} verified, replaced when switched on"
    if left:
        summary += f"; left alone: {', '.join(left)}"
    return [("SkyPilot", ", ".join(versions) or "installed (no distribution metadata)"),
            ("SkyPilot functions", summary), *rows]


class _Progress:
    """One self-overwriting status line on a terminal; plain lines otherwise (logs, CI)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.width = 0

    def __call__(self, msg: str) -> None:
        if self.live:
            line = f"skyfast bench: {msg}"[: shutil.get_terminal_size().columns - 1]
            self.stream.write("\r" + line.ljust(self.width))
            self.width = len(line)
        else:
            self.stream.write(f"  ... {msg}\n")
        self.stream.flush()

    def done(self) -> None:
        if self.live and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


def _bench(full: bool, json_path: Optional[str], against: Optional[str],
           only: Optional[List[str]], wide: bool = False,
           markdown: bool = False) -> int:  # fmt: skip
    from . import _bench

    have_skypilot = _skypilot_importable()
    if against == "skypilot" and not have_skypilot:
        print(
            "skyfast: --against skypilot needs SkyPilot: pip install skypilot==0.14.1",
            file=sys.stderr,
        )
        return 2
    progress = _Progress(sys.stderr)
    to_stdout = json_path == "-"
    try:
        rows = _bench.run(
            against_skypilot=have_skypilot,
            full=full,
            functions=only,
            json_path=None if to_stdout else json_path,
            progress=progress,
            json_stream=sys.stdout if to_stdout else None,
        )
    finally:
        progress.done()
    if not to_stdout:
        if markdown:
            command = "python -m skyfast bench" + (" --full" if full else "") + (
                " --against skypilot" if against else "") + " --markdown"
            machine = _bench.machine_info(_bench.load_impls(have_skypilot))
            print(_bench.format_markdown(rows, machine, command))
        else:
            print(_bench.format_table(rows, load_average=_bench.load_average(), wide=wide))
    return 1 if any(r["mismatches"] for r in rows) else 0


def _skypilot_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("sky") is not None


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="skyfast",
        description=(
            "SkyPilot 0.14.1's hot utility functions, compiled. With no command: the report "
            "of this machine, then the quick speed comparison."
        ),
        epilog=(
            "exit codes: 0 success; 1 a measured call answered differently from SkyPilot; "
            "2 bad arguments; 141 the output pipe was closed. "
            "Docs: https://github.com/skyfast/skyfast/tree/main/docs"
        ),
    )
    parser.add_argument("--version", action="version", version=f"skyfast {skyfast.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{info,bench}")
    sub.add_parser(
        "info",
        help="implementation in use, each value as skyfast sees it, container limits",
        description="The implementation in use, each value as skyfast sees it, and the "
        "container limits with the file each came from.",
    )
    bench = sub.add_parser(
        "bench",
        help="side-by-side speed comparison (one process, interleaved rounds, medians)",
        description="SkyPilot 0.14.1 (when installed) vs skyfast compiled (warm and cold "
        "cache) vs the pure-Python twin vs the closest stdlib call, in one process with "
        "interleaved rounds; prints medians per call and SkyPilot/skyfast ratios with their "
        "quartiles, and says when the machine was too busy to trust them. Quick by default "
        "(about 20 s).",
    )
    bench.add_argument(
        "--full", action="store_true", help="full-size inputs (64 MiB, 100 MB log), ~1 min"
    )
    bench.add_argument(
        "--json",
        metavar="PATH",
        nargs="?",
        const="-",
        help="write every number plus machine info as JSON to PATH (no PATH: to stdout, "
        "instead of the table)",
    )
    bench.add_argument(
        "--wide",
        action="store_true",
        help="all columns: warm and cold, pure-Python, stdlib, the ratios' quartiles "
        "(wider than 100 columns)",
    )
    bench.add_argument(
        "--markdown",
        action="store_true",
        help="the table as Markdown, with the machine and the date (README's Speed table)",
    )
    bench.add_argument(
        "--against",
        choices=["skypilot"],
        help="require SkyPilot 0.14.1 as the reference (error if it is not installed)",
    )
    bench.add_argument(
        "--only",
        metavar="FUNCTION",
        action="append",
        choices=_FUNCTIONS,
        help="measure only this function (repeat for several); one of: " + ", ".join(_FUNCTIONS),
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "bench":
            return _bench(args.full, args.json, args.against, args.only, args.wide,
                          args.markdown)
        print("\n".join(info_lines()), flush=True)
        if args.command == "info":
            return 0
        print()
        return _bench(False, None, None, None)
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly.  Python would still
        # try to flush stdout at exit and print a second error, so point it at
        # /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141


def _run_the_installed_copy_if_shadowed() -> None:
    """``python -m skyfast`` in a checkout's root imports the source tree (the
    current directory comes first on ``sys.path``), which has no compiled core
    unless it was built in place.  When an installed copy with the core exists
    further down the path, run that one instead, and say so."""
    if skyfast.IMPLEMENTATION == "cython" or env_flag("SKYFAST_NO_EXTENSIONS"):
        return
    if os.name != "posix" or not sys.path:
        return
    tree = os.path.dirname(os.path.dirname(os.path.abspath(skyfast.__file__)))
    if os.path.abspath(sys.path[0] or os.curdir) != tree:
        return
    import importlib.machinery  # only here: the common path never needs it

    rest = [p for p in sys.path[1:] if os.path.abspath(p or os.curdir) != tree]
    spec = importlib.machinery.PathFinder.find_spec("skyfast", rest)
    if spec is None or not spec.submodule_search_locations:
        return
    installed = next(iter(spec.submodule_search_locations))
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    if not any(n.startswith("_core.") and n.endswith(suffixes) for n in os.listdir(installed)):
        return
    print(
        f"skyfast: the source tree in {tree} (no compiled core built there) shadows the "
        f"installed skyfast in {installed}; running the installed one. To run the source "
        "tree itself, build it in place: python setup.py build_ext --inplace",
        file=sys.stderr,
    )
    code = "import runpy, sys; del sys.path[0]; runpy.run_module('skyfast', run_name='__main__')"
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-c", code, *sys.argv[1:]])


if __name__ == "__main__":
    _run_the_installed_copy_if_shadowed()
    sys.exit(main())
