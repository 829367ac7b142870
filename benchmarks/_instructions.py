"""Instructions per call, counted by callgrind: the figure a busy machine cannot move.

``count()`` runs ``_callgrind_child.py`` under ``valgrind --tool=callgrind``:
one interpreter that imports skyfast and forks a child for each case, so
every case starts from the same state, whatever the other cases' arguments.
Each figure is the number of instructions one call executes in user space (the
kernel's side of a system call is not counted). On one machine (same CPython,
libc, OpenSSL, valgrind) it repeats to the instruction, or within a few tenths
of a percent where the input is the kernel's (/proc/meminfo) or a pid or port
number; a step in its history is a change in the code that runs.

``_Instructions`` is the base of the classes in ``bench_instructions.py`` (one
class a function, parametrized over ``impl`` and a few cases). They share one
``setup_cache`` (asv keys it by the function's source line, so it runs once
for all of them) that counts every combination in one valgrind run of about a
minute; each ``track_instructions`` then returns its figure.

SKYFAST_INSTRUCTIONS selects what happens:

* unset or ``count``: count with callgrind (every figure n/a when valgrind is
  not installed);
* ``run``: run the same process without valgrind (inputs, child and every call
  are exercised in about a second; nothing is counted, every figure n/a, a
  failing call an error);
* ``skip``: do nothing (n/a).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Callable, ClassVar, Dict, List, NamedTuple, Optional, Tuple, Union

from ._util import IMPLEMENTATIONS, POD_ENV_VARS, load

MODE_VARIABLE = "SKYFAST_INSTRUCTIONS"
MODES = ("count", "run", "skip")
# "warm" under callgrind: a window no run outlives, so every measured call takes the
# cached path (the default 20 ms would expire at random under valgrind's slowdown).
WARM_TTL = 3600.0
MARKER = "getpgrp"  # the libc function behind os.getpgrp(), the child's marker
CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_callgrind_child.py")
# Bump when the way of counting changes (asv then starts a new history for the figures).
METHOD_VERSION = "callgrind-1"

Args = Tuple[Any, ...]
# A figure, or (kind, reason) with kind "n/a" (skipped) or "error".
Result = Union[float, Tuple[str, str]]


class Inputs:
    """What a case's ``args`` callable gets: a directory of its own, and a way to hold things."""

    def __init__(self, directory: str, stack: contextlib.ExitStack) -> None:
        self.directory = directory
        self._stack = stack

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def hold(self, closeable: Any) -> None:
        """Keep ``closeable`` open until every case is counted (a held port, say)."""
        self._stack.callback(closeable.close)


class Case(NamedTuple):
    """One input of a function: its arguments, how many calls to count, the cache mode."""

    args: Callable[[Inputs], Args]  # JSON-serializable arguments
    calls: int
    cache: str = "warm"


def mode() -> str:
    value = os.environ.get(MODE_VARIABLE, "").strip().lower() or "count"
    if value not in MODES:
        raise ValueError(f"{MODE_VARIABLE}={value!r}: expected one of {', '.join(MODES)}")
    return value


def valgrind() -> Optional[str]:
    return shutil.which("valgrind")


def count(
    cases: Dict[str, Dict[str, Any]],
    directory: str,
    *,
    counted: bool = True,
    timeout: float = 1200,
) -> Dict[str, Result]:
    """Instructions per call for each case, in one run of ``_callgrind_child.py``.

    A case is ``{"module", "function", "args", "calls", "ttl"}``. The child runs
    in ``directory`` (relative paths in the arguments are relative to it) and
    must import the skyfast this process imported (``load()`` first). With
    ``counted=False`` it runs without valgrind and every result is ("n/a", ...)
    or ("error", ...).
    """
    import skyfast

    keys = list(cases)
    spec = {
        "path": [os.path.dirname(os.path.dirname(os.path.realpath(skyfast.__file__)))]
        + [p for p in sys.path if p and os.path.isdir(p)],
        "skyfast": os.path.realpath(skyfast.__file__),
        "modules": sorted({case["module"] for case in cases.values()}),
        "cases": len(keys),
    }
    _write_json(os.path.join(directory, "spec.json"), spec)
    for index, key in enumerate(keys):
        case = dict(cases[key], warmup=min(cases[key]["calls"], 50))
        _write_json(os.path.join(directory, f"case.{index}.json"), case)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    for name in POD_ENV_VARS:
        env.pop(name, None)
    env["PYTHONHASHSEED"] = "0"
    command = [sys.executable, "-S", "-B", CHILD, "spec.json"]
    if counted:
        tool = valgrind()
        if tool is None:
            raise NotImplementedError("valgrind is not installed")
        command = [
            tool,
            "--tool=callgrind",
            f"--dump-before={MARKER}",
            "--dump-line=no",
            "--callgrind-out-file=callgrind.out.%p",
            "--log-file=valgrind.%p.log",
            *command,
        ]
    proc = subprocess.run(
        command,
        env=env,
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_no_address_randomization,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited with {proc.returncode}:\n{proc.stderr[-4000:]}"
        )
    with open(os.path.join(directory, "pids.json")) as f:
        pids = json.load(f)
    return {
        key: _result(directory, index, pid, status, cases[key], counted)
        for index, (key, (pid, status)) in enumerate(zip(keys, pids))
    }


ADDR_NO_RANDOMIZE = 0x0040000


def _no_address_randomization() -> None:
    """In the child before exec: fixed addresses (``setarch -R``); valgrind's client layout
    follows the host's, and buffer alignments move counts by up to a few percent."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        current = libc.personality(0xFFFFFFFF)
        if current != -1:
            libc.personality(current | ADDR_NO_RANDOMIZE)
    except (OSError, AttributeError):
        pass  # not Linux, or refused: the counts only repeat less closely


def _write_json(path: str, value: Any) -> None:
    with open(path, "w") as f:
        json.dump(value, f)


def _result(
    tmp: str, index: int, pid: int, status: int, case: Dict[str, Any], counted: bool
) -> Result:
    what = f"{case['module']}.{case['function']}"
    error = os.path.join(tmp, f"error.{index}")
    if os.path.exists(error):
        with open(error) as f:
            return ("error", f"{what} raised:\n{f.read()}")
    if status != 0:
        return ("error", f"the child that called {what} ended with wait status {status}")
    if not counted:
        return ("n/a", f"{what} ran without valgrind ({MODE_VARIABLE}=run): nothing counted")
    with open(os.path.join(tmp, f"valgrind.{pid}.log")) as f:
        log = f.read()
    unhandled = sorted(set(re.findall(r"unhandled \S+ syscall: (\d+)", log)), key=int)
    if unhandled:
        # valgrind fails a system call it does not know with ENOSYS: the count would be
        # that of a fallback path the function does not take natively.
        return (
            "n/a",
            f"valgrind does not implement the system call(s) {', '.join(unhandled)} "
            f"that {what} makes (numbers of this architecture)",
        )
    dumps = sorted(f for f in os.listdir(tmp) if f.startswith(f"callgrind.out.{pid}."))
    expected = [f"callgrind.out.{pid}.{n}" for n in (1, 2, 3)]
    if dumps != expected:
        return (
            "error",
            f"expected the dumps {expected} (one before each {MARKER}() marker), got {dumps}: "
            f"does {what} call {MARKER}(), or does this libc name it otherwise?",
        )
    loop = _total(os.path.join(tmp, expected[1]))
    loop_and_calls = _total(os.path.join(tmp, expected[2]))
    return round((loop_and_calls - loop) / case["calls"], 1)


def _total(path: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"no 'totals:' line in {path}")


_CLASSES: List[type] = []


def count_suite() -> Dict[str, Result]:
    """Every (class, impl, case) of the instruction benchmarks, keyed ``Class|impl|case``."""
    what = mode()
    keys = [
        f"{cls.__name__}|{impl}|{name}"
        for cls in _CLASSES
        for impl in IMPLEMENTATIONS
        for name in cls.cases  # type: ignore[attr-defined]
    ]
    if what == "skip":
        return dict.fromkeys(keys, ("n/a", f"{MODE_VARIABLE}=skip"))
    if what == "count" and valgrind() is None:
        return dict.fromkeys(keys, ("n/a", "valgrind is not installed: nothing to count with"))
    results: Dict[str, Result] = {}
    modules: Dict[str, str] = {}
    for impl in IMPLEMENTATIONS:
        try:
            modules[impl] = load(impl).__name__  # the suite's rules: skip or fail
        except NotImplementedError as e:
            results.update((k, ("n/a", str(e))) for k in keys if k.split("|")[1] == impl)
    cases: Dict[str, Dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        root = stack.enter_context(tempfile.TemporaryDirectory(prefix="skyfast-callgrind-"))
        for number, cls in enumerate(_CLASSES):
            for name, case in cls.cases.items():  # type: ignore[attr-defined]
                directory = os.path.join(root, "inputs", f"{number}-{len(cases)}")
                os.makedirs(directory)
                # Paths relative to the child's directory: the same arguments every run.
                args = [_relative(a, root) for a in case.args(Inputs(directory, stack))]
                for impl, module in modules.items():
                    cases[f"{cls.__name__}|{impl}|{name}"] = {
                        "module": module,
                        "function": cls.function,  # type: ignore[attr-defined]
                        "args": args,
                        "calls": case.calls,
                        "ttl": WARM_TTL if case.cache == "warm" else 0.0,
                    }
        results.update(count(cases, root, counted=what == "count"))
    return results


def _relative(arg: Any, root: str) -> Any:
    if isinstance(arg, str) and arg.startswith(root + os.sep):
        return os.path.relpath(arg, root)
    return arg


class _Instructions:
    """Base of the instruction benchmarks: set ``function`` and ``cases`` in a subclass.

    (The leading underscore keeps asv from collecting the base itself.)
    """

    function: ClassVar[str]
    cases: ClassVar[Dict[str, Case]]
    params: ClassVar[List[Any]]
    param_names: ClassVar[List[str]] = ["impl", "case"]
    unit = "instructions"
    version = METHOD_VERSION

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.params = [IMPLEMENTATIONS, list(cls.cases)]
        _CLASSES.append(cls)

    def setup_cache(self) -> Dict[str, Result]:
        # One function for every subclass: one cache key, one valgrind run for all.
        return count_suite()

    setup_cache.timeout = 1200  # type: ignore[attr-defined]

    def setup(self, counts: Dict[str, Result], impl: str, case: str) -> None:
        result = counts[f"{type(self).__name__}|{impl}|{case}"]
        if isinstance(result, tuple):
            kind, reason = result
            if kind == "n/a":
                raise NotImplementedError(reason)
            raise RuntimeError(reason)
        self.figure = result

    def track_instructions(self, counts: Dict[str, Result], impl: str, case: str) -> float:
        """Instructions per call (callgrind, user space, the call from Python included)."""
        return self.figure
