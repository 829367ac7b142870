"""Swap skyfast's functions into an installed SkyPilot, at run time.

``install()`` replaces the ten SkyPilot functions skyfast re-implements
(``UPSTREAM_NAMES``) in ``sky.utils.common_utils`` and
``sky.utils.subprocess_utils`` with the public functions of ``skyfast``;
``uninstall()`` puts back exactly the objects that were there; ``patched()``
does both around a ``with`` block::

    from skyfast.integrations import skypilot

    skypilot.install()          # True: SkyPilot now calls skyfast's functions

Without code, ``SKYFAST_SKYPILOT=1`` in the environment does the same in every
Python process, as SkyPilot's modules are imported (the ``_skyfast_startup``
hook), and SkyPilot's API-server plugin mechanism can load it
(``skyfast.integrations.skypilot_plugin``).  All three follow one rule:

* A function is replaced only where the installed SkyPilot's function, and
  every module-level helper, constant and import it reaches, is the code
  skyfast's contract was verified against (``_verified.FINGERPRINTS``, checked
  from the parsed source, so the version string does not matter).
* Where one function differs, that one is left alone, the others are replaced,
  and one ``UnsupportedVersionWarning`` names it.  ``check()`` tells, without
  importing SkyPilot, which functions the installed release would get.

SkyPilot's results stay the same (skyfast's EXACT contract), apart from the
documented fixes in ``docs/compat.md``.  Without SkyPilot ``install()`` raises
ImportError.

What is and is not replaced:

* A call made through the module at call time -- ``common_utils.hash_file(...)``,
  which is how SkyPilot calls these functions -- gets skyfast's.
* A name bound earlier keeps the original: ``from sky.utils.common_utils import
  hash_file`` done before ``install()``, or a value computed at import time
  (``sky.provision.kubernetes.instance`` sizes its thread pool when it is
  imported; the start-up activation reaches it, ``install()`` after it does not).
* Private helpers (``common_utils._get_cgroup_cpu_limit`` ...) are left alone.
* While installed, the low-fd warning of ``get_max_workers_for_file_mounts``
  (logged by skyfast on the ``skyfast`` logger) is handed to the logger
  SkyPilot's own function uses, ``sky.utils.subprocess_utils``.

With ``SKYFAST_SKYPILOT_TRACE=DIR`` set, each replaced function is a thin
wrapper that appends to ``DIR/<pid>.jsonl`` one line when a module is patched
and one line the first time each SkyPilot module calls each function: a
diagnostic that shows from outside which processes really called skyfast.

The functions are the ones ``import skyfast`` chose (``skyfast.IMPLEMENTATION``).
All state changes happen under one lock, so concurrent callers are safe.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import logging
import os
import sys
import threading
import warnings
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Set, Tuple

import skyfast

from . import _fingerprint
from ._verified import FINGERPRINTS, VERIFIED_FILES, VERIFIED_RELEASES

__all__ = [
    "UPSTREAM_NAMES",
    "VERIFIED_RELEASES",
    "UnsupportedVersionWarning",
    "Verdict",
    "check",
    "install",
    "is_installed",
    "patched",
    "replaced",
    "uninstall",
]

# The SkyPilot module that defines each function skyfast replaces.
# is_process_alive and estimate_fd_for_dir have no upstream counterpart.
UPSTREAM_NAMES: Dict[str, Tuple[str, ...]] = {
    module: tuple(names) for module, names in FINGERPRINTS.items()
}

TRACE_ENV = "SKYFAST_SKYPILOT_TRACE"


class UnsupportedVersionWarning(RuntimeWarning):
    """A SkyPilot function is not the code skyfast is verified against; it was left alone."""


class Verdict(NamedTuple):
    """Whether one SkyPilot function may be replaced, and why."""

    module: str
    name: str
    verified: bool
    reason: str  # "verified", "changed", "missing" or "no source"


_lock = threading.RLock()
# (module name, function name) -> (module, object found there before) for every
# replaced name; empty while nothing is installed.
_saved: Dict[Tuple[str, str], Tuple[ModuleType, Any]] = {}
_explicit = False  # install() (or the start-up hook) ran, and no uninstall() since
_depth = 0  # patched() blocks currently open
# (module name, SHA-256 of its source) -> verdicts; a process checks each source once.
_verdict_cache: Dict[Tuple[str, str], List[Verdict]] = {}

# The logger SkyPilot's get_max_workers_for_file_mounts warns on.
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


# --- the rule: verdicts from the source ---


def _verdicts(module_name: str, source: Optional[str]) -> List[Verdict]:
    names = UPSTREAM_NAMES[module_name]
    if source is None:
        return [Verdict(module_name, n, False, "no source") for n in names]
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    key = (module_name, digest)
    cached = _verdict_cache.get(key)
    if cached is not None:
        return cached
    known = VERIFIED_FILES.get(digest)
    if known is not None and known[0] == module_name:
        result = [Verdict(module_name, n, True, "verified") for n in names]
    else:
        prints = _fingerprint.source_fingerprints(source, names)
        result = []
        for name in names:
            found = prints[name]
            if found is None:
                result.append(Verdict(module_name, name, False, "missing"))
            elif found in FINGERPRINTS[module_name][name]:
                result.append(Verdict(module_name, name, True, "verified"))
            else:
                result.append(Verdict(module_name, name, False, "changed"))
    _verdict_cache[key] = result
    return result


def _module_source(module: ModuleType) -> Optional[str]:
    loader = getattr(getattr(module, "__spec__", None), "loader", None)
    try:
        source = loader.get_source(module.__name__) if loader is not None else None
    except (ImportError, OSError):
        source = None
    path = getattr(module, "__file__", None)
    if source is None and isinstance(path, str):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            with open(path, encoding="utf-8") as f:
                source = f.read()
    return source if isinstance(source, str) else None


def check(sky_dir: Optional[str] = None) -> Dict[str, Verdict]:
    """For each replaceable function, whether the installed SkyPilot's is verified code.

    Reads SkyPilot's source (``sky_dir``: its package directory; by default the
    one ``import sky`` would find) and imports nothing of it.  Raises
    ImportError when there is no SkyPilot.
    """
    if sky_dir is None:
        sky_dir = _fingerprint.sky_source_dir()
        if sky_dir is None:
            raise ImportError("no SkyPilot is installed (pip install skypilot)")
    result: Dict[str, Verdict] = {}
    for module_name in UPSTREAM_NAMES:
        try:
            with open(_fingerprint.module_path(sky_dir, module_name), encoding="utf-8") as f:
                source: Optional[str] = f.read()
        except (OSError, UnicodeDecodeError):
            source = None
        for verdict in _verdicts(module_name, source):
            result[verdict.name] = verdict
    return result


# --- tracing (SKYFAST_SKYPILOT_TRACE) ---


def _trace_dir() -> Optional[str]:
    value = os.environ.get(TRACE_ENV, "")
    return value or None


def _trace(directory: str, record: Dict[str, Any]) -> None:
    """One JSON line appended to ``DIR/<pid>.jsonl`` in a single write (DIR made if missing)."""
    pid = os.getpid()
    line = json.dumps(dict(record, pid=pid, ppid=os.getppid()), sort_keys=True) + "\n"
    with contextlib.suppress(OSError):
        os.makedirs(directory, exist_ok=True)
        fd = os.open(os.path.join(directory, f"{pid}.jsonl"),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def _traced(directory: str, module_name: str, name: str,
            function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, recording the first call from each calling module in each process."""
    seen: Set[Tuple[int, str]] = set()

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1).f_globals.get("__name__", "?")
        key = (os.getpid(), caller)
        if key not in seen:
            seen.add(key)
            _trace(directory, {"event": "call", "module": module_name, "function": name,
                               "caller": caller, "skyfast": function.__module__})
        return function(*args, **kwargs)

    return wrapper


# --- patching ---


def _patch_modules(modules: List[ModuleType], via: str) -> List[Verdict]:
    """Replace the verified functions of ``modules`` not yet replaced; the refused verdicts.

    Everything is checked before anything is set, so a failure leaves SkyPilot as it was.
    """
    directory = _trace_dir()
    plan: List[Tuple[ModuleType, str, Any, Any]] = []
    refused: List[Verdict] = []
    for module in modules:
        if module.__name__ not in UPSTREAM_NAMES:
            continue
        for verdict in _verdicts(module.__name__, _module_source(module)):
            if (module.__name__, verdict.name) in _saved:
                continue
            if verdict.verified and not hasattr(module, verdict.name):
                verdict = verdict._replace(verified=False, reason="missing")
            if not verdict.verified:
                refused.append(verdict)
                continue
            replacement = getattr(skyfast, verdict.name)
            if directory is not None:
                replacement = _traced(directory, module.__name__, verdict.name, replacement)
            plan.append((module, verdict.name, getattr(module, verdict.name), replacement))
    for module, name, original, replacement in plan:
        _saved[(module.__name__, name)] = (module, original)
        setattr(module, name, replacement)
    if _saved:
        logging.getLogger("skyfast").addFilter(_forward_filter)
    if directory is not None:
        for module in modules:
            _trace(directory, {
                "event": "patched", "module": module.__name__, "via": via,
                "argv": list(sys.argv), "implementation": skyfast.IMPLEMENTATION,
                "replaced": sorted(n for (m, n) in _saved if m == module.__name__),
                "left": sorted(v.name for v in refused if v.module == module.__name__),
            })
    return refused


def _warn_refused(refused: List[Verdict], stacklevel: int) -> None:
    if not refused:
        return
    names = ", ".join(f"{v.module}.{v.name} ({v.reason})" for v in refused)
    warnings.warn(
        f"skyfast left these SkyPilot functions as they are: {names}; they are not the "
        "code skyfast's behaviour contract is verified against (releases: "
        f"{', '.join(VERIFIED_RELEASES)}). The other functions were replaced.",
        UnsupportedVersionWarning,
        stacklevel=stacklevel + 1,
    )


def activate_module(module: ModuleType, via: str = "startup") -> None:
    """Patch one SkyPilot module that has just been imported (start-up hook, plugin).

    Imports nothing of SkyPilot.  The patch stays until ``uninstall()``.
    """
    global _explicit
    with _lock:
        refused = _patch_modules([module], via)
        _explicit = _explicit or bool(_saved)
    _warn_refused(refused, stacklevel=2)


def _import_sky_modules() -> List[ModuleType]:
    try:
        with warnings.catch_warnings():
            # SkyPilot's import-time deprecation notices are not the caller's business.
            warnings.simplefilter("ignore", DeprecationWarning)
            importlib.import_module("sky")
            return [importlib.import_module(name) for name in UPSTREAM_NAMES]
    except ImportError as e:
        raise ImportError(
            f"skyfast.integrations.skypilot needs SkyPilot (pip install skypilot): {e}"
        ) from e


def _patch(stacklevel: int) -> bool:
    """Replace every verified function not yet replaced; False if none is in place."""
    modules = _import_sky_modules()
    refused = _patch_modules(modules, via="install")
    _warn_refused(refused, stacklevel + 1)
    return bool(_saved)


def _restore() -> bool:
    if not _saved:
        return False
    for (_, name), (module, original) in _saved.items():
        setattr(module, name, original)
    logging.getLogger("skyfast").removeFilter(_forward_filter)
    _saved.clear()
    return True


def install() -> bool:
    """Make SkyPilot call skyfast's functions; idempotent.

    Returns True when at least one function is replaced.  A function that is
    not the verified code is left alone, with one ``UnsupportedVersionWarning``
    naming every such function.  Raises ImportError when SkyPilot is not installed.
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
        return bool(_saved)


def replaced() -> Tuple[str, ...]:
    """``module.function`` for each SkyPilot function currently replaced, sorted."""
    with _lock:
        return tuple(sorted(f"{m}.{n}" for m, n in _saved))


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
