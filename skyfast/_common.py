"""Pieces both implementations share: exception types, messages, environment parsing.

Turning the (rare, tiny) text of an environment variable into a number is
done here, once, in plain Python, so the two implementations cannot disagree
about it.  Kernel files have their own layer, ``_kernel``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import sys
from types import ModuleType
from typing import Iterator, Optional, Tuple

__all__ = [
    "FIFO_NO_WRITER",
    "FUNCTIONS",
    "POD_ENV_VARS",
    "FileNotFoundAssertionError",
    "bind_address",
    "cpu_count_from_env",
    "env_flag",
    "fd_limit_warning",
    "keep_tracebacklimit",
    "load_implementation",
    "mem_gb_from_bytes_env",
    "mem_gb_from_gb_env",
]


# The twelve functions, in the contract's order (docs/contract.md, section 2);
# tests/test_contract.py checks them against skyfast.__all__ and their other homes.
FUNCTIONS = (
    "is_process_alive", "get_cpu_count", "get_parallel_threads", "base36_encode",
    "get_mem_size_gb", "hash_file", "get_max_workers_for_file_mounts", "read_last_n_lines",
    "format_float", "estimate_fd_for_dir", "find_free_port", "truncate_long_string",
)  # fmt: skip

# The variables SkyPilot's get_cpu_count / get_mem_size_gb read (on every call).
POD_ENV_VARS = (
    "SKYPILOT_POD_CPU_CORE_LIMIT",
    "SKYPILOT_POD_MEMORY_GB_LIMIT",
    "SKYPILOT_POD_MEMORY_BYTES_LIMIT",
)

_FALSE_WORDS = ("", "0", "false", "no")


def env_flag(name: str) -> bool:
    """True unless the variable is unset or one of '', '0', 'false', 'no' (any case)."""
    return os.environ.get(name, "").strip().lower() not in _FALSE_WORDS


@contextlib.contextmanager
def keep_tracebacklimit() -> Iterator[None]:
    """Restore ``sys.tracebacklimit`` (or its absence) on leaving.

    SkyPilot sets it while raising some errors and may leave it changed; the
    benchmark and the differential tests call SkyPilot inside this, so one
    reference call cannot change how later failures are reported.
    """
    saved = getattr(sys, "tracebacklimit", None)
    try:
        yield
    finally:
        if saved is None:
            if hasattr(sys, "tracebacklimit"):
                del sys.tracebacklimit
        else:
            sys.tracebacklimit = saved


def load_implementation(
    compiled: str, python: str, *, want_compiled: Optional[bool] = None
) -> Tuple[ModuleType, str]:
    """The compiled module and 'cython', or the pure-Python one and 'python' (docs/contract.md §5).

    SKYFAST_NO_EXTENSIONS picks the pure-Python module, unless ``want_compiled``
    passes a choice already made (so later modules follow the core's choice
    even if the environment changed since); with SKYFAST_REQUIRE_EXTENSIONS a
    compiled module that does not import is an ImportError, never a silent
    slow path.
    """
    if want_compiled is None:
        want_compiled = not env_flag("SKYFAST_NO_EXTENSIONS")
    if want_compiled:
        try:
            return importlib.import_module(compiled), "cython"
        except ImportError as e:
            if env_flag("SKYFAST_REQUIRE_EXTENSIONS"):
                raise ImportError(
                    f"SKYFAST_REQUIRE_EXTENSIONS is set but {compiled} cannot be imported "
                    f"(build skyfast with Cython and a C compiler): {e}"
                ) from e
    return importlib.import_module(python), "python"


class FileNotFoundAssertionError(AssertionError, FileNotFoundError):
    """``read_last_n_lines`` on a missing path.

    SkyPilot raises a bare AssertionError here; callers written for it catch
    AssertionError, callers written for Python's conventions catch
    FileNotFoundError.  Both work.
    """


# hash_file on a FIFO nobody writes to: SkyPilot's open() would wait for a writer.
FIFO_NO_WRITER = "Is a FIFO with no writer; refusing to wait for one"


def fd_limit_warning(fd_limit: int) -> str:
    return (
        f"Open file descriptor limit ({fd_limit}) is low. File sync to remote "
        "clusters may be slow. Consider increasing the limit using "
        "`ulimit -n <number>` or modifying system limits."
    )


# --- environment variables (read through os.environ by the callers) ---------


def cpu_count_from_env(value: str) -> int:
    """``SKYPILOT_POD_CPU_CORE_LIMIT`` -> cores, never below 1 (docs/contract.md §2.2)."""
    try:
        cores = int(float(value))
    except (ValueError, OverflowError) as e:
        # OverflowError is 'inf': the reference leaks it; contract §2.2 item 4 (a FIX)
        # makes it the same parse error as any other unusable value.
        raise ValueError(f"Failed to parse the number of CPUs from {value}") from e
    return max(cores, 1)


def mem_gb_from_gb_env(value: str) -> float:
    try:
        return float(value)
    except ValueError as e:
        raise ValueError(f"Failed to parse the memory size from {value} (GB)") from e


def mem_gb_from_bytes_env(value: str) -> float:
    try:
        return float(value) / (1024**3)
    except ValueError as e:
        raise ValueError(f"Failed to parse the memory size from {value} (bytes)") from e


def bind_address(host: str) -> str:
    """Resolve ``host`` once, up front: '' (any address) or a dotted IPv4 address."""
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if host == "":
        return host
    return str(socket.getaddrinfo(host, 0, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])
