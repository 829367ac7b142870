"""Switch SkyPilot to skyfast at interpreter start-up, when ``SKYFAST_SKYPILOT`` is on.

The wheel installs this module with ``skyfast_skypilot.pth`` (CPython 3.9-3.17:
its import line calls ``run()`` only when the variable is set) and
``skyfast_skypilot.start`` (PEP 829, 3.15+: the entry point ``run``, which
turns the ``.pth``'s import line off).  It lives outside the ``skyfast``
package so that start-up never imports skyfast itself: with the variable on,
skyfast is imported only by a process that imports SkyPilot's modules.

``run()`` puts a finder at the front of ``sys.meta_path`` that lets the import
system load ``sky.utils.common_utils`` and ``sky.utils.subprocess_utils`` as
usual and hands each module, once its code has run, to
``skyfast.integrations.skypilot.activate_module``.  So every value SkyPilot
computes from them at import time (``_NUM_THREADS`` in
``sky.provision.kubernetes.instance``) already comes from skyfast.  The rule of
what is replaced is that module's.

Nothing here may break SkyPilot or the interpreter: any failure warns once and
leaves SkyPilot's modules as they are.
"""

import os
import sys

# Neither typing nor __future__ is imported at start-up (annotations are strings);
# type checkers read this as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any, Optional, Sequence

VARIABLE = "SKYFAST_SKYPILOT"
# The words skyfast._common.env_flag reads as off (a test keeps the two equal).
OFF_WORDS = ("", "0", "false", "no")
WATCHED = frozenset(("sky.utils.common_utils", "sky.utils.subprocess_utils"))

# Which file started the hook ("pth" or "start"), and how often it was called:
# a venv on 3.14 reads each .pth twice, so run() is idempotent.
started_by = None  # type: Optional[str]
calls = 0
_warned = False


def enabled() -> bool:
    return os.environ.get(VARIABLE, "").strip().lower() not in OFF_WORDS


def run(origin: str = "start") -> None:
    """The start-up entry point (``origin``: the file that calls it)."""
    global started_by, calls
    calls += 1
    if started_by is not None:
        return
    started_by = origin
    try:
        if enabled():
            sys.meta_path.insert(0, PostImportFinder())
    except Exception as error:
        _warn(error)


class PostImportFinder:
    """Finds the watched modules through the other finders; patches them after they run."""

    def find_spec(self, fullname: str, path: "Optional[Sequence[str]]" = None,
                  target: "Optional[ModuleType]" = None) -> "Optional[ModuleSpec]":
        if fullname not in WATCHED:
            return None
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    if getattr(spec.loader, "exec_module", None) is not None:
                        spec.loader = PatchAfterExec(spec.loader)  # type: ignore[assignment]
                    return spec
        except Exception as error:
            _warn(error)
        return None


class PatchAfterExec:
    """A loader that runs the real loader, puts it back on the module, then patches."""

    def __init__(self, loader: "Any") -> None:
        self.loader = loader

    def create_module(self, spec: "ModuleSpec") -> "Optional[ModuleType]":
        return self.loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: "ModuleType") -> None:
        # The module keeps no trace of this wrapper: inspect, importlib.resources
        # and reload see SkyPilot's own loader.
        module.__loader__ = self.loader
        spec = getattr(module, "__spec__", None)
        if spec is not None:
            spec.loader = self.loader
        self.loader.exec_module(module)
        try:
            from skyfast.integrations import skypilot

            skypilot.activate_module(module, via="startup")
        except Exception as error:
            _warn(error)


def _warn(error: BaseException) -> None:
    global _warned
    if _warned:
        return
    _warned = True
    message = (f"skyfast: {VARIABLE} is on, but SkyPilot was not switched to skyfast "
               f"({type(error).__name__}: {error}); SkyPilot runs unchanged")
    try:
        import warnings

        warnings.warn(message, RuntimeWarning, stacklevel=2)
    except Exception:  # warnings turned into errors: still never raise
        try:
            sys.stderr.write(message + "\n")
        except Exception:
            pass
