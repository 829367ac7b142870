"""get_mem_size_gb: host figures (warm and cold cache) and the env-var overrides."""

from __future__ import annotations

import os
from typing import Any, ClassVar, List

from ._util import CACHE_MODES, IMPLEMENTATIONS, load, unset_pod_env


class GetMemSizeGb:
    """get_mem_size_gb() from the host (MemTotal, cgroup limit) or SKYPILOT_POD_MEMORY_*."""

    params: ClassVar[List[Any]] = [IMPLEMENTATIONS, CACHE_MODES, ["host", "env-gb", "env-bytes"]]
    param_names: ClassVar[List[str]] = ["impl", "cache", "source"]

    def setup(self, impl: str, cache: str, source: str) -> None:
        if source != "host" and cache == "cold":
            raise NotImplementedError("env vars are never cached: warm == cold")
        unset_pod_env()
        if source == "env-gb":
            os.environ["SKYPILOT_POD_MEMORY_GB_LIMIT"] = "16"
        elif source == "env-bytes":
            os.environ["SKYPILOT_POD_MEMORY_BYTES_LIMIT"] = str(16 << 30)
        self.mod = load(impl, cache)
        self.mod.get_mem_size_gb()

    def time_get_mem_size_gb(self, impl: str, cache: str, source: str) -> None:
        """One memory-size lookup."""
        self.mod.get_mem_size_gb()
