"""format_float: a fraction, a whole float, two decimals, and an int."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List, Tuple

from ._util import IMPLEMENTATIONS, load

CASES: Dict[str, Tuple[Any, ...]] = {
    "3.14159": (3.14159,),
    "2.0": (2.0,),
    "1234567.891, 2": (1234567.891, 2),
    "7 (int)": (7,),
}


class FormatFloat:
    """format_float(num[, precision]) for the four kinds of input."""

    params: ClassVar[List[Any]] = [IMPLEMENTATIONS, list(CASES)]
    param_names: ClassVar[List[str]] = ["impl", "args"]

    def setup(self, impl: str, args: str) -> None:
        self.mod = load(impl)
        self.args = CASES[args]

    def time_format_float(self, impl: str, args: str) -> None:
        """Format one number."""
        self.mod.format_float(*self.args)
