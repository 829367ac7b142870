"""Shared helpers for the asv suite: pick the implementation, set the cache, make seeded data.

The seeded inputs come from ``skyfast/_benchdata.py``, the one home they share
with ``skyfast bench``.  It is loaded by path from this checkout, not imported
from the installed skyfast: asv runs today's suite against older commits,
whose installed package may not have it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

IMPLEMENTATIONS = ["cython", "python"]
CACHE_MODES = ["warm", "cold"]
DEFAULT_TTL = 0.020

_MODULES = {"cython": "skyfast._core", "python": "skyfast._core_py"}
POD_ENV_VARS = (
    "SKYPILOT_POD_CPU_CORE_LIMIT",
    "SKYPILOT_POD_MEMORY_GB_LIMIT",
    "SKYPILOT_POD_MEMORY_BYTES_LIMIT",
)


def load(impl: str, cache: str = "warm") -> ModuleType:
    """The implementation module for the ``impl`` parameter, its cache set to ``cache``.

    Only a missing compiled core skips (NotImplementedError is asv's "skip this
    combination"), and not even that when SKYFAST_REQUIRE_EXTENSIONS is set
    (asv.conf.json sets it): a missing or broken skyfast is an error, never a
    silently empty result.
    """
    name = _MODULES[impl]
    importlib.import_module("skyfast")  # ImportError here is a real failure
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        if e.name != name or _flag("SKYFAST_REQUIRE_EXTENSIONS"):
            raise
        raise NotImplementedError(f"{name} is not built: {e}") from e
    module.set_cache_ttl(DEFAULT_TTL if cache == "warm" else 0.0)
    return module


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def unset_pod_env() -> None:
    """The host figures, not the SKYPILOT_POD_* overrides (asv runs each benchmark in its own
    process, so nothing needs restoring)."""
    for name in POD_ENV_VARS:
        os.environ.pop(name, None)


def _load_benchdata() -> ModuleType:
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "skyfast", "_benchdata.py")  # fmt: skip
    spec = importlib.util.spec_from_file_location("_skyfast_benchdata", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the benchmark inputs from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Registered under a private name so the inputs import like any module.
sys.modules.setdefault("_skyfast_benchdata", _load_benchdata())
from _skyfast_benchdata import (  # type: ignore[import-not-found]  # noqa: E402
    KIB,
    MIB,
    SEED,
    hold_ports,
    make_entries,
    text_with_spaces,
    write_log,
    write_no_newline,
    write_random_file,
)

__all__ = [
    "CACHE_MODES", "DEFAULT_TTL", "IMPLEMENTATIONS", "KIB", "MIB", "POD_ENV_VARS", "SEED",
    "hold_ports", "load", "make_entries", "text_with_spaces", "unset_pod_env", "write_log",
    "write_no_newline", "write_random_file",
]  # fmt: skip
