"""Helpers shared by the tests/test_reliability_*.py scenarios (docs/contract.md §7).

Not a conftest: these are plain functions, imported as ``from _reliability import ...``
(pytest's default ``prepend`` import mode puts tests/ on sys.path).  Scenarios that
change process-wide state (rlimits, signals, fork, uid, itimers) run their body in a
child Python started by ``run_child``; the child imports the implementation under test
by module name (``impl.__name__``) and prints one JSON line as its result.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from typing import Any, Dict, List, Mapping, Optional, Tuple

from _guards import HANG_GUARD

# Prepended to every child script: the implementation module, cache off, and fd_table().
CHILD_PRELUDE = r"""
import importlib, json, os, sys
impl = importlib.import_module(sys.argv[1])
impl.set_cache_ttl(0)
ARGS = sys.argv[2:]

def fd_table():
    '''{fd: target} of this process (the listing's own directory fd is gone by then).'''
    table = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            table[int(name)] = os.readlink("/proc/self/fd/" + name)
        except OSError:
            pass
    return table

def outcome(fn, *a, **k):
    try:
        return ["ok", repr(fn(*a, **k))]
    except Exception as e:
        return ["err", type(e).__name__, getattr(e, "errno", None), str(e)]

def emit(value):
    print(json.dumps(value), flush=True)
"""


def run_child(
    module: str,
    script: str,
    *args: str,
    env: Mapping[str, str],
    prefix: Tuple[str, ...] = (),
) -> Any:
    """Run ``script`` (after CHILD_PRELUDE) in a fresh Python; return its last stdout line as JSON.

    ``prefix`` wraps the command (e.g. strace).  A non-zero exit fails with the child's stderr.
    """
    cmd = [*prefix, sys.executable, "-c", CHILD_PRELUDE + script, module, *args]
    proc = subprocess.run(
        cmd, env=dict(env), capture_output=True, text=True, timeout=HANG_GUARD, check=False
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr
    return json.loads(lines[-1])


def fd_table() -> Dict[int, str]:
    """{fd: readlink target} of this process."""
    table = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            table[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the listing's own descriptor, closed by now
            pass
    return table


def fd_flags(fd: int, pid: str = "self") -> int:
    """The open-file flags of ``fd`` as /proc/<pid>/fdinfo reports them (octal 'flags:')."""
    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("flags:"):
                return int(line.split()[1], 8)
    raise AssertionError(f"no flags line for fd {fd}")


def strace_usable() -> Optional[str]:
    """Why strace cannot be used here, or None when it can (installed and ptrace allowed)."""
    exe = shutil.which("strace")
    if exe is None:
        return "strace is not installed"
    probe = subprocess.run(
        [exe, "-qq", "-e", "trace=getpid", sys.executable, "-c", "import os; os.getpid()"],
        capture_output=True, text=True, timeout=HANG_GUARD, check=False,
    )
    if probe.returncode != 0:
        return f"strace does not work here: {probe.stderr.strip()[:200]}"
    return None


# One strace line: "[<pid> ]<name>(<args>) = <result>".  Trace one thread only (no -f):
# with several traced tasks strace splits calls into "unfinished"/"resumed" halves.
_SYSCALL = re.compile(r"^(?:\d+\s+)?(\w+)\((.*)\)\s+=\s+(-?\d+|\?)")


def strace_calls(log: str, begin: str, end: str) -> Dict[str, List[Tuple[str, str, int]]]:
    """Syscalls between ``write(-1, "<begin> <label>")`` and ``write(-1, "<end>")`` markers.

    Returns {label: [(name, args, result), ...]}.  The child writes the markers to fd -1
    (EBADF, no side effect) so they show up in the trace in program order.
    """
    out: Dict[str, List[Tuple[str, str, int]]] = {}
    label: Optional[str] = None
    for line in log.splitlines():
        m = _SYSCALL.match(line)
        if m is None:
            continue
        name, args, result = m.group(1), m.group(2), m.group(3)
        if name == "write" and args.startswith("-1, "):
            text = args[5:]
            if text.startswith(begin):
                label = text[len(begin) + 1 :].split('"')[0]
                out.setdefault(label, [])
            elif text.startswith(end):
                label = None
            continue
        if label is not None:
            out[label].append((name, args, int(result) if result != "?" else -1))
    return out
