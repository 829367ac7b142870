"""estimate_fd_for_dir: directories of 100, 10,000 and 200,000 entries."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List

from ._util import IMPLEMENTATIONS, load, make_entries

COUNTS = [100, 10_000, 200_000]


class EstimateFdForDir:
    """estimate_fd_for_dir(path) by entry count; memory must stay flat as the count grows."""

    params: ClassVar[List[Any]] = [IMPLEMENTATIONS, COUNTS]
    param_names: ClassVar[List[str]] = ["impl", "entries"]
    timeout = 300

    def setup_cache(self) -> Dict[int, str]:
        return {n: make_entries(f"dir-{n}", n) for n in COUNTS}

    def setup(self, dirs: Dict[int, str], impl: str, entries: int) -> None:
        self.mod = load(impl)
        self.path = dirs[entries]

    def time_estimate_fd_for_dir(self, dirs: Dict[int, str], impl: str, entries: int) -> None:
        """Count the entries of one directory."""
        self.mod.estimate_fd_for_dir(self.path)

    def peakmem_estimate_fd_for_dir(self, dirs: Dict[int, str], impl: str, entries: int) -> None:
        """Peak RSS of counting (O(1) in the entry count)."""
        self.mod.estimate_fd_for_dir(self.path)
