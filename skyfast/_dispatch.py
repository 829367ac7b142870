"""Chooses the implementation; holds no logic of its own.

Type checkers see the typed pure-Python names.  At run time the compiled
``_core`` is used when it imports, unless ``SKYFAST_NO_EXTENSIONS`` is set;
with ``SKYFAST_REQUIRE_EXTENSIONS`` set a missing extension is an ImportError
instead of a silent slow path.  The compiled functions are re-exported as they
are: no wrapper frame on the hot path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._common import load_implementation

if TYPE_CHECKING:
    from . import _core_py as _impl

    IMPLEMENTATION = "python"
else:
    _impl, IMPLEMENTATION = load_implementation("skyfast._core", "skyfast._core_py")

base36_encode = _impl.base36_encode
clear_cache = _impl.clear_cache
estimate_fd_for_dir = _impl.estimate_fd_for_dir
find_free_port = _impl.find_free_port
format_float = _impl.format_float
get_cache_ttl = _impl.get_cache_ttl
get_cpu_count = _impl.get_cpu_count
get_max_workers_for_file_mounts = _impl.get_max_workers_for_file_mounts
get_max_workers = get_max_workers_for_file_mounts
get_mem_size_gb = _impl.get_mem_size_gb
get_parallel_threads = _impl.get_parallel_threads
hash_file = _impl.hash_file
is_process_alive = _impl.is_process_alive
read_last_n_lines = _impl.read_last_n_lines
set_cache_ttl = _impl.set_cache_ttl
truncate_long_string = _impl.truncate_long_string
