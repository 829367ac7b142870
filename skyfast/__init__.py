"""skyfast: SkyPilot 0.14.1's hot utility functions, drop-in compatible and fast.

The functions keep skyfast's behaviour contract (the "Behaviour contract" page
of the documentation; ``docs/contract.md`` in the repository): the same results
and errors as ``sky.utils.common_utils`` / ``sky.utils.subprocess_utils`` of
SkyPilot 0.14.1, except for the documented fixes (the "Compatibility" page,
``docs/compat.md``).  ``IMPLEMENTATION`` tells which implementation is in use:
``'cython'`` (the compiled core) or ``'python'`` (the pure-Python twin).
"""

from __future__ import annotations

from typing import Literal

from . import _dispatch
from ._common import FileNotFoundAssertionError
from ._dispatch import (
    base36_encode,
    clear_cache,
    estimate_fd_for_dir,
    find_free_port,
    format_float,
    get_cache_ttl,
    get_cpu_count,
    get_max_workers,
    get_max_workers_for_file_mounts,
    get_mem_size_gb,
    get_parallel_threads,
    hash_file,
    is_process_alive,
    read_last_n_lines,
    set_cache_ttl,
    truncate_long_string,
)
from ._version import __version__

IMPLEMENTATION: Literal["cython", "python"] = (
    "cython" if _dispatch.IMPLEMENTATION == "cython" else "python"
)

__all__ = [
    "IMPLEMENTATION",
    "FileNotFoundAssertionError",
    "__version__",
    "base36_encode",
    "clear_cache",
    "estimate_fd_for_dir",
    "find_free_port",
    "format_float",
    "get_cache_ttl",
    "get_cpu_count",
    "get_max_workers",
    "get_max_workers_for_file_mounts",
    "get_mem_size_gb",
    "get_parallel_threads",
    "hash_file",
    "is_process_alive",
    "read_last_n_lines",
    "set_cache_ttl",
    "truncate_long_string",
]
