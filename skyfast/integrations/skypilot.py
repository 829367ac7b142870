"""Swap skyfast's functions into an installed SkyPilot, at run time.

``install()`` replaces the ten SkyPilot 0.14 functions skyfast re-implements
(``UPSTREAM_NAMES``) in ``sky.utils.common_utils`` and
``sky.utils.subprocess_utils`` with the public functions of ``skyfast``;
``uninstall()`` puts back exactly the objects that were there; ``patched()``
does both around a ``with`` block::

    from skyfast.integrations import skypilot

    skypilot.install()          # True: SkyPilot now calls skyfast's functions

SkyPilot's results stay the same (skyfast's EXACT contract), apart from the
documented fixes in ``docs/compat.md``.  Only a release whose contract the test
suite verifies is patched (``SUPPORTED_SERIES``); on any other version
``install()`` warns with ``UnsupportedVersionWarning``, changes nothing and
returns False.  Without SkyPilot it raises ImportError.

What is and is not replaced:

* A call made through the module at call time -- ``common_utils.hash_file(...)``,
  which is how SkyPilot calls these functions, and how
  ``make_cluster_name_on_cloud`` reaches ``base36_encode`` -- gets skyfast's.
* A name bound earlier keeps the original: ``from sky.utils.common_utils import
  hash_file`` done before ``install()`` (SkyPilot 0.14.1 has none of these), or
  a value computed at import time (``sky.provision.kubernetes.instance`` sizes
  its thread pool when it is imported).
* Private helpers (``common_utils._get_cgroup_cpu_limit`` ...) are left alone;
  patching them no longer changes what the replaced functions return.
* While installed, the low-fd warning of ``get_max_workers_for_file_mounts``
  (logged by skyfast on the ``skyfast`` logger) is handed to the logger
  SkyPilot's own function uses, ``sky.utils.subprocess_utils``, so SkyPilot's
  handlers, format and levels apply to it as before; ``uninstall()`` ends that.

The functions are the ones ``import skyfast`` chose (``skyfast.IMPLEMENTATION``);
their extra keyword-only options do not change SkyPilot's positional calls.
All state changes happen under one lock, so concurrent callers are safe.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
import threading
import warnings
from types import ModuleType
from typing import Any, Dict, Iterator, List, Optional, Tuple

import skyfast

__all__ = [
    "SUPPORTED_SERIES",
    "UPSTREAM_NAMES",
    "UnsupportedVersionWarning",
    "install",
    "is_installed",
    "patched",
    "uninstall",
]

# The module of SkyPilot 0.14.1 that defines each function skyfast replaces.
# is_process_alive and estimate_fd_for_dir have no upstream counterpart.
UPSTREAM_NAMES: Dict[str, Tuple[str, ...]] = {
    "sky.utils.common_utils": (
        "base36_encode",
        "find_free_port",
        "format_float",
        "get_cpu_count",
        "get_mem_size_gb",
        "hash_file",
        "read_last_n_lines",
        "truncate_long_string",
    ),
    "sky.utils.subprocess_utils": (
        "get_max_workers_for_file_mounts",
        "get_parallel_threads",
    ),
}

# The SkyPilot release series the test suite compares skyfast with.
SUPPORTED_SERIES = "0.14"
_SUPPORTED_VERSION = re.compile(r"0\.14\.\d+")


class UnsupportedVersionWarning(RuntimeWarning):
    """The installed SkyPilot is not a release skyfast is verified against; nothing was patched."""


_lock = threading.RLock()
# (module, name, object found there before install) for every replaced name;
# None while nothing is installed.
_saved: Optional[List[Tuple[ModuleType, str, Any]]] = None
_explicit = False  # install() was called (and no uninstall() since)
_depth = 0  # patched() blocks currently open

# The logger SkyPilot 0.14.1's get_max_workers_for_file_mounts warns on.
_SKY_FD_LOGGER = "sky.utils.subprocess_utils"
_FD_WARNING_START = "Open file descriptor limit ("


class _ForwardFdWarning(logging.Filter):
    """On the ``skyfast`` logger: hands the low-fd warning to SkyPilot's logger instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not (isinstance(record.msg, str) and record.msg.startswith(_FD_WARNING_START)):
            return True
        target = logging.getLogger(_SKY_FD_LOGGER)
        if target.isEnabledFor(record.levelno):
            forwarded = logging.makeLogRecord(record.__dict__)
            forwarded.name = _SKY_FD_LOGGER
            target.handle(forwarded)
        return False  # not logged a second time under "skyfast"


_forward_filter = _ForwardFdWarning()


def _import_sky() -> ModuleType:
    try:
        return importlib.import_module("sky")
    except ImportError as e:
        raise ImportError(
            "skyfast.integrations.skypilot needs SkyPilot "
            f"(pip install 'skypilot=={SUPPORTED_SERIES}.*'): {e}"
        ) from e


def _patch(stacklevel: int) -> bool:
    """Replace the upstream functions unless already done; False (and a warning) if unsupported."""
    global _saved
    if _saved is not None:
        return True
    sky = _import_sky()
    version = getattr(sky, "__version__", None)
    if not isinstance(version, str) or not _SUPPORTED_VERSION.fullmatch(version):
        warnings.warn(
            f"SkyPilot {version} is not a {SUPPORTED_SERIES}.x release, the series whose "
            "behaviour skyfast is verified against; SkyPilot was left unchanged",
            UnsupportedVersionWarning,
            stacklevel=stacklevel + 1,
        )
        return False
    # Collect everything first, so a missing module or name leaves SkyPilot untouched.
    saved: List[Tuple[ModuleType, str, Any]] = []
    for module_name, names in UPSTREAM_NAMES.items():
        module = importlib.import_module(module_name)
        for name in names:
            saved.append((module, name, getattr(module, name)))
    for module, name, _ in saved:
        setattr(module, name, getattr(skyfast, name))
    logging.getLogger("skyfast").addFilter(_forward_filter)
    _saved = saved
    return True


def _restore() -> bool:
    global _saved
    if _saved is None:
        return False
    for module, name, original in _saved:
        setattr(module, name, original)
    logging.getLogger("skyfast").removeFilter(_forward_filter)
    _saved = None
    return True


def install() -> bool:
    """Make SkyPilot call skyfast's functions; idempotent.

    Returns True when they are in place.  On a SkyPilot outside
    ``SUPPORTED_SERIES`` warns ``UnsupportedVersionWarning``, changes nothing
    and returns False.  Raises ImportError when SkyPilot is not installed.
    """
    global _explicit
    with _lock:
        done = _patch(stacklevel=2)
        _explicit = _explicit or done
        return done


def uninstall() -> bool:
    """Put back the objects ``install()`` replaced; True if anything was installed.

    Also ends the effect of any open ``patched()`` block (their exits then do nothing).
    """
    global _explicit
    with _lock:
        _explicit = False
        return _restore()


def is_installed() -> bool:
    """Whether SkyPilot currently calls skyfast's functions (as far as this module did it)."""
    with _lock:
        return _saved is not None


@contextlib.contextmanager
def patched() -> Iterator[bool]:
    """``with patched() as active:`` -- skyfast's functions inside SkyPilot for the block.

    ``active`` is what ``install()`` would return.  Blocks nest and may be
    entered from several threads: the originals come back when the last open
    block exits, unless ``install()`` was called meanwhile (then they stay).
    """
    global _depth
    with _lock:
        active = _patch(stacklevel=3)
        if active:
            _depth += 1
    try:
        yield active
    finally:
        if active:
            with _lock:
                _depth -= 1
                if _depth == 0 and not _explicit:
                    _restore()
