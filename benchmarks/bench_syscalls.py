"""System calls per cold call of the three cached functions (asv ``track_``), by strace.

SkyPilot calls ``get_cpu_count``, ``get_mem_size_gb`` and
``get_parallel_threads`` seconds apart, so every call it makes is a cache miss:
the cold call is what users get. Its time drifts with the machine's load; the
number of kernel round trips it makes does not. Each figure is the system
calls a child process makes over many cold calls (between two marker writes,
under ``strace -f``), divided by the number of calls -- for the compiled core,
the pure-Python twin, and SkyPilot itself as the reference. See
docs/benchmarks.md, "System calls per cold call".

Without strace (or without ptrace permission) every figure is n/a.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any, ClassVar, List

from ._util import POD_ENV_VARS

CALLS = 1000
IMPLS = ["cython", "python", "skypilot"]
FUNCTIONS = ["get_cpu_count", "get_mem_size_gb", "get_parallel_threads"]

_CHILD = r"""
import os, sys, warnings
impl, function, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
if impl == "skypilot":
    warnings.simplefilter("ignore")
    from sky.utils import common_utils, subprocess_utils
    fn = getattr(common_utils if function != "get_parallel_threads" else subprocess_utils,
                 function)
else:
    import importlib
    module = importlib.import_module({"cython": "skyfast._core",
                                      "python": "skyfast._core_py"}[impl])
    module.set_cache_ttl(0)  # every call a miss, as SkyPilot's calls are
    fn = getattr(module, function)
for _ in range(5):
    fn()
os.write(2, b"=== begin\n")
for _ in range(calls):
    fn()
os.write(2, b"=== end\n")
"""


def count(impl: str, function: str, calls: int = CALLS) -> float:
    """System calls per call of ``function`` in ``impl``, counted in a child under strace."""
    strace = shutil.which("strace")
    if strace is None:
        raise NotImplementedError("strace is not installed")
    env = {k: v for k, v in os.environ.items() if k not in POD_ENV_VARS}
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "strace.log")
        proc = subprocess.run(
            [strace, "-f", "-qq", "-o", log, sys.executable, "-c", _CHILD, impl, function,
             str(calls)],
            env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{impl} {function}: {proc.stderr.strip()[-500:]}")
        with open(log) as f:
            lines = f.read().split("\n")
    begin = next(i for i, line in enumerate(lines) if '"=== begin\\n"' in line)
    end = next(i for i, line in enumerate(lines) if '"=== end\\n"' in line)
    # Each line between the two marker writes is one system call (strace -qq: no notes).
    return sum(1 for line in lines[begin + 1:end] if line.strip()) / calls


class ColdCallSyscalls:
    """System calls per cold call: compiled core, pure-Python twin, SkyPilot."""

    params: ClassVar[List[Any]] = [FUNCTIONS, IMPLS]
    param_names: ClassVar[List[str]] = ["function", "impl"]
    timeout = 300

    def setup(self, function: str, impl: str) -> None:
        if shutil.which("strace") is None:
            raise NotImplementedError("strace is not installed")
        module = {"cython": "skyfast._core", "python": "skyfast._core_py", "skypilot": "sky"}
        import importlib.util

        if importlib.util.find_spec(module[impl]) is None:
            raise NotImplementedError(f"{module[impl]} is not installed")

    def track_syscalls(self, function: str, impl: str) -> float:
        """System calls per cold call (strace -f over 1,000 calls)."""
        return count(impl, function)

    track_syscalls.unit = "syscalls"  # type: ignore[attr-defined]
