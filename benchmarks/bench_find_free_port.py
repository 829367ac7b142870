"""find_free_port: the first port free, and the first 50 ports held by this process."""

from __future__ import annotations

import socket
from typing import Any, ClassVar, List

from ._util import IMPLEMENTATIONS, hold_ports, load


class FindFreePort:
    """find_free_port(start) with 0 or 50 taken ports before the first free one."""

    params: ClassVar[List[Any]] = [IMPLEMENTATIONS, [0, 50]]
    param_names: ClassVar[List[str]] = ["impl", "taken"]

    def setup(self, impl: str, taken: int) -> None:
        self.held: List[socket.socket] = []
        self.mod = load(impl)
        base, self.held = hold_ports(50)
        self.start = base + 50 - taken

    def teardown(self, impl: str, taken: int) -> None:
        for s in getattr(self, "held", ()):  # asv calls teardown after a skipped setup too
            s.close()

    def time_find_free_port(self, impl: str, taken: int) -> None:
        """Find one free port."""
        self.mod.find_free_port(self.start)
