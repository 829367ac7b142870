"""truncate_long_string: short, typical and very long strings, end and middle mode."""

from __future__ import annotations

from typing import Any, ClassVar, List

from ._util import IMPLEMENTATIONS, load, text_with_spaces


class TruncateLongString:
    """truncate_long_string(s, 35, middle) for 20, 80 and 10,000 characters."""

    params: ClassVar[List[Any]] = [IMPLEMENTATIONS, [20, 80, 10_000], ["end", "middle"]]
    param_names: ClassVar[List[str]] = ["impl", "length", "mode"]

    def setup(self, impl: str, length: int, mode: str) -> None:
        self.mod = load(impl)
        self.s = text_with_spaces(length)
        self.middle = mode == "middle"

    def time_truncate_long_string(self, impl: str, length: int, mode: str) -> None:
        """Truncate one string."""
        self.mod.truncate_long_string(self.s, 35, self.middle)
