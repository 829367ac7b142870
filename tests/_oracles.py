"""Oracles: the contract's rules written out directly, shared by several test modules."""

from __future__ import annotations

from typing import Any, Optional


def spec_limit(text: Any) -> Optional[int]:
    """docs/contract.md §2.5 item 3's parse of memory.max / memory.limit_in_bytes."""
    try:
        value = (text.decode("utf-8") if isinstance(text, bytes) else text).strip()
    except ValueError:
        return None
    if value == "max" or not value:
        return None
    try:
        limit = int(value)
    except ValueError:
        return None
    return limit if limit > 0 else None
