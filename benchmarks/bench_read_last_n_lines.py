"""read_last_n_lines: tails of seeded logs, and a file that is one huge line."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List

from ._util import IMPLEMENTATIONS, MIB, load, write_log, write_no_newline

LOG_SIZES = {"1MB": 1_000_000, "100MB": 100_000_000}
LINE_SIZES = {"1MiB": MIB, "50MiB": 50 * MIB}


class ReadLastNLines:
    """read_last_n_lines(path, n) on 1 MB and 100 MB logs, n = 10 and 1000."""

    params: ClassVar[List[Any]] = [IMPLEMENTATIONS, list(LOG_SIZES), [10, 1000]]
    param_names: ClassVar[List[str]] = ["impl", "size", "n"]
    timeout = 300

    def setup_cache(self) -> Dict[str, str]:
        return {name: write_log(f"app-{name}.log", size) for name, size in LOG_SIZES.items()}

    def setup(self, paths: Dict[str, str], impl: str, size: str, n: int) -> None:
        self.mod = load(impl)
        self.path = paths[size]

    def time_read_last_n_lines(self, paths: Dict[str, str], impl: str, size: str, n: int) -> None:
        """Read the last n lines."""
        self.mod.read_last_n_lines(self.path, n)

    def peakmem_read_last_n_lines(
        self, paths: Dict[str, str], impl: str, size: str, n: int
    ) -> None:
        """Peak RSS of reading the last n lines (should not depend on the file size)."""
        self.mod.read_last_n_lines(self.path, n)


class ReadLastNLinesOneLine:
    """read_last_n_lines(path, 1) on files with no '\\n': the whole file is the result."""

    params: ClassVar[List[Any]] = [IMPLEMENTATIONS, list(LINE_SIZES)]
    param_names: ClassVar[List[str]] = ["impl", "size"]
    timeout = 300

    def setup_cache(self) -> Dict[str, str]:
        return {
            name: write_no_newline(f"one-line-{name}.log", size)
            for name, size in LINE_SIZES.items()
        }

    def setup(self, paths: Dict[str, str], impl: str, size: str) -> None:
        self.mod = load(impl)
        self.path = paths[size]

    def time_read_last_n_lines(self, paths: Dict[str, str], impl: str, size: str) -> None:
        """Read the one line."""
        self.mod.read_last_n_lines(self.path, 1)

    def peakmem_read_last_n_lines(self, paths: Dict[str, str], impl: str, size: str) -> None:
        """Peak RSS of reading the one line (target: about the size of the result)."""
        self.mod.read_last_n_lines(self.path, 1)
