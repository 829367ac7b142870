"""get_cpu_count: host figures (warm and cold cache) and the env-var override."""

from __future__ import annotations

import os
from typing import Any, ClassVar, List

from ._util import CACHE_MODES, IMPLEMENTATIONS, load, unset_pod_env


class GetCpuCount:
    """get_cpu_count() from the host (cgroup, affinity, sysconf) or SKYPILOT_POD_CPU_CORE_LIMIT."""

    params: ClassVar[List[Any]] = [IMPLEMENTATIONS, CACHE_MODES, ["host", "env"]]
    param_names: ClassVar[List[str]] = ["impl", "cache", "source"]

    def setup(self, impl: str, cache: str, source: str) -> None:
        if source == "env" and cache == "cold":
            raise NotImplementedError("the env var is never cached: warm == cold")
        unset_pod_env()
        if source == "env":
            os.environ["SKYPILOT_POD_CPU_CORE_LIMIT"] = "4"
        self.mod = load(impl, cache)
        self.mod.get_cpu_count()

    def time_get_cpu_count(self, impl: str, cache: str, source: str) -> None:
        """One CPU count."""
        self.mod.get_cpu_count()
