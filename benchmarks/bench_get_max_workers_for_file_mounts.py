"""get_max_workers_for_file_mounts: no mounts and one 1,000-entry directory."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List

from ._util import CACHE_MODES, IMPLEMENTATIONS, load, make_entries


class GetMaxWorkersForFileMounts:
    """get_max_workers_for_file_mounts(mounts) with {} and {dst: a 1,000-entry dir}."""

    params: ClassVar[List[Any]] = [IMPLEMENTATIONS, CACHE_MODES, ["{}", "1 dir of 1000"]]
    param_names: ClassVar[List[str]] = ["impl", "cache", "mounts"]

    def setup_cache(self) -> str:
        return make_entries("mount-src", 1000)

    def setup(self, src: str, impl: str, cache: str, mounts: str) -> None:
        self.mod = load(impl, cache)
        self.mounts: Dict[str, str] = {} if mounts == "{}" else {"~/data": src}
        self.mod.get_max_workers_for_file_mounts(self.mounts)

    def time_get_max_workers_for_file_mounts(
        self, src: str, impl: str, cache: str, mounts: str
    ) -> None:
        """One worker-count computation."""
        self.mod.get_max_workers_for_file_mounts(self.mounts)
