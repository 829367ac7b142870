"""get_parallel_threads: default and Kubernetes multiplier, warm and cold cache."""

from __future__ import annotations

from typing import Any, ClassVar, List, Optional

from ._util import CACHE_MODES, IMPLEMENTATIONS, load


class GetParallelThreads:
    """get_parallel_threads(cloud_str) for no cloud and 'kubernetes'."""

    params: ClassVar[List[Any]] = [IMPLEMENTATIONS, CACHE_MODES, [None, "kubernetes"]]
    param_names: ClassVar[List[str]] = ["impl", "cache", "cloud"]

    def setup(self, impl: str, cache: str, cloud: Optional[str]) -> None:
        self.mod = load(impl, cache)
        self.mod.get_parallel_threads(cloud)

    def time_get_parallel_threads(self, impl: str, cache: str, cloud: Optional[str]) -> None:
        """One thread-count computation."""
        self.mod.get_parallel_threads(cloud)
