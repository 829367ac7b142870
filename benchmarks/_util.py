"""Shared helpers for the asv suite: pick the implementation, set the cache, make seeded data.

The seeded inputs come from ``skyfast/_benchdata.py``, the one home they share
with ``skyfast bench``, and the default cache window and the pod variables from
``skyfast/_cache.py`` and ``skyfast/_common.py``, where they are defined.  Those
files are loaded by path from this checkout, not imported from the installed
skyfast: asv runs today's suite against older commits, whose installed package
may not have them.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

IMPLEMENTATIONS = ["cython", "python"]
CACHE_MODES = ["warm", "cold"]

_MODULES = {"cython": "skyfast._core", "python": "skyfast._core_py"}


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


def _from_checkout(name: str) -> ModuleType:
    """skyfast/<name>.py of this checkout (a module importing only the standard library)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "skyfast", f"{name}.py")  # fmt: skip
    spec = importlib.util.spec_from_file_location(f"_skyfast{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # registered before it runs, as imports are
    spec.loader.exec_module(module)
    return module


DEFAULT_TTL: float = _from_checkout("_cache").DEFAULT_TTL
POD_ENV_VARS = _from_checkout("_common").POD_ENV_VARS
# Registered under a private name so the inputs import like any module.
_from_checkout("_benchdata")
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
