"""The one cache of values read from the kernel: online CPUs, cgroup limits, MemTotal.

One window (``set_cache_ttl``, 20 ms by default: the JDK's for its container
CPU count), one fork rule (an entry belongs to the process that made it, so a
forked child never sees its parent's), one ``clear_cache()`` for everything.
The pure-Python twin and the container-limits code keep their entries here.
The compiled core keeps its three entries in C, where reading them costs
nanoseconds, and subscribes: every change of the window and every clear
reaches it too.  Environment variables are never cached.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, List, Tuple, TypeVar

__all__ = ["DEFAULT_TTL", "cached", "clear_cache", "get_cache_ttl", "set_cache_ttl", "subscribe"]

_T = TypeVar("_T")

DEFAULT_TTL = 0.020  # seconds: the one definition of the default window
_ttl = DEFAULT_TTL
# key -> (pid that computed it, expiry on the monotonic clock, value); each entry
# is replaced whole, so a thread never sees a torn one.
_entries: Dict[str, Tuple[int, float, Any]] = {}
_subscribers: List[Callable[[float], None]] = []


def set_cache_ttl(seconds: float) -> None:
    """Keep kernel-provided values for at most ``seconds`` (0 turns caching off)."""
    global _ttl
    value = float(seconds)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"cache ttl must be a finite number >= 0, got {value!r}")
    _ttl = value
    clear_cache()


def get_cache_ttl() -> float:
    """The current freshness window in seconds."""
    return _ttl


def clear_cache() -> None:
    """Forget every cached kernel value (container limits included)."""
    _entries.clear()
    for notify in _subscribers:
        notify(_ttl)


def subscribe(notify: Callable[[float], None]) -> None:
    """Call ``notify(ttl)`` now and on every change of the window or clear (the compiled core)."""
    _subscribers.append(notify)
    notify(_ttl)


def cached(key: str, compute: Callable[[], _T]) -> _T:
    """``compute()``, or its value from less than the window ago in this same process."""
    ttl = _ttl
    if ttl <= 0:
        return compute()
    now = time.monotonic()
    pid = os.getpid()
    hit = _entries.get(key)
    if hit is not None and hit[0] == pid and now < hit[1]:
        return hit[2]  # type: ignore[no-any-return]
    value = compute()
    _entries[key] = (pid, now + ttl, value)
    return value
