"""is_process_alive: own pid, parent pid, and a reaped child's pid (no such process)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, ClassVar, List

from ._util import IMPLEMENTATIONS, load


class IsProcessAlive:
    """is_process_alive(pid) for a live, a live foreign and a missing process."""

    params: ClassVar[List[Any]] = [IMPLEMENTATIONS, ["self", "parent", "missing"]]
    param_names: ClassVar[List[str]] = ["impl", "pid"]

    def setup(self, impl: str, pid: str) -> None:
        self.mod = load(impl)
        if pid == "self":
            self.pid = os.getpid()
        elif pid == "parent":
            self.pid = os.getppid()
        else:
            child = subprocess.Popen([sys.executable, "-c", "pass"])
            child.wait()  # reaped: the pid names no process (until the kernel reuses it)
            self.pid = child.pid

    def time_is_process_alive(self, impl: str, pid: str) -> None:
        """One liveness check (pidfd_open + poll on Linux)."""
        self.mod.is_process_alive(self.pid)
