"""base36_encode over hex strings of growing length (32 digits = uuid4().hex)."""

from __future__ import annotations

import random
from typing import Any, ClassVar, List

from ._util import IMPLEMENTATIONS, SEED, load


class Base36Encode:
    """base36_encode(hex_str) for 8 to 256 hex digits."""

    params: ClassVar[List[Any]] = [IMPLEMENTATIONS, [8, 32, 64, 256]]
    param_names: ClassVar[List[str]] = ["impl", "hex_digits"]

    def setup(self, impl: str, hex_digits: int) -> None:
        self.mod = load(impl)
        value = random.Random(SEED + hex_digits).getrandbits(4 * hex_digits) | 1 << (
            4 * hex_digits - 1
        )
        self.hex_str = f"{value:x}"

    def time_base36_encode(self, impl: str, hex_digits: int) -> None:
        """Encode one hex string."""
        self.mod.base36_encode(self.hex_str)
