"""Shared fixtures: every test runs against both implementations, and against
SkyPilot 0.14.1 where it is installed.

``impl`` is session-scoped (Hypothesis rejects function-scoped fixtures in
@given tests) and parametrized with ids ``c-extension`` / ``pure-python``.
``--no-c-extensions`` drops the compiled runs; with SKYFAST_REQUIRE_EXTENSIONS
set, a missing extension is an error, not a skip.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import os
import shutil
import sys
import tempfile
import threading
import warnings
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import pytest
from hypothesis import HealthCheck, settings

from skyfast._cache import DEFAULT_TTL
from skyfast._common import POD_ENV_VARS, env_flag, keep_tracebacklimit

# The `ci` profile is Hypothesis' own (loaded when CI is set); extend it so
# CI stays within its time budget, and keep a `thorough` profile for long runs.
settings.register_profile(
    "ci",
    parent=settings.get_profile("ci"),
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("thorough", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--c-extensions",
        action="store_true",
        dest="c_extensions",
        default=True,
        help="run the tests against the compiled core too (default)",
    )
    parser.addoption(
        "--no-c-extensions",
        dest="c_extensions",
        action="store_false",
        help="run the tests against the pure-Python implementation only",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    """Tiers: reliability scenarios get their marker; no leg compares the twin with itself."""
    kept, dropped = [], []
    for item in items:
        if item.path.name.startswith("test_reliability_"):
            item.add_marker(pytest.mark.reliability)
        callspec = getattr(item, "callspec", None)
        on_twin = callspec is not None and callspec.params.get("impl") == "python"
        drop = on_twin and item.get_closest_marker("twin_only") is not None
        (dropped if drop else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def load_compiled(name: str) -> ModuleType:
    """A compiled module; a skip when it is not built, an error when it is required."""
    try:
        return importlib.import_module(name)
    except ImportError:
        if env_flag("SKYFAST_REQUIRE_EXTENSIONS"):
            raise
        pytest.skip(f"{name} is not built")


@pytest.fixture(
    scope="session",
    params=["cython", "python"],
    ids=["c-extension", "pure-python"],
)
def impl(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """One implementation module (skyfast._core or skyfast._core_py), cache off."""
    if request.param == "cython":
        if not request.config.getoption("c_extensions"):
            pytest.skip("--no-c-extensions")
        module = load_compiled("skyfast._core")
    else:
        module = importlib.import_module("skyfast._core_py")
    module.set_cache_ttl(0)
    yield module
    module.set_cache_ttl(DEFAULT_TTL)


@pytest.fixture(name="limits", scope="session")
def limits_fixture() -> ModuleType:
    """The container-limits code, skyfast._limits_py (plain Python in every install)."""
    return importlib.import_module("skyfast._limits_py")


@pytest.fixture(scope="session")
def compiled_core() -> ModuleType:
    """skyfast._core, for tests about the compiled core specifically."""
    return load_compiled("skyfast._core")


@pytest.fixture(scope="session")
def py_impl() -> ModuleType:
    """The pure-Python twin, the readable reference the compiled core is compared with."""
    module = importlib.import_module("skyfast._core_py")
    module.set_cache_ttl(0)
    return module


@pytest.fixture(scope="session")
def sky() -> Any:
    """SkyPilot's utility modules (0.14.1's code), or a skip when sky cannot be imported."""
    try:
        # SkyPilot's own imports raise deprecation warnings (SQLAlchemy); they
        # are not ours to turn into errors.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import sky  # noqa: F401
            from sky.utils import common_utils, subprocess_utils
    except Exception as e:  # ImportError, or a broken install
        pytest.skip(f"SkyPilot is not importable: {e!r}")
    from skyfast.integrations import skypilot

    # Any release whose ten functions are the code the contract names (0.14.1's,
    # unchanged since 0.11) is a reference; .ci/skypilot-releases.sh runs the
    # differential tests against each verified release.
    # SKYFAST_REFERENCE_CANDIDATE=1 (set by that script for a release not yet
    # listed) lets the differential tests vet a release whose code changed.
    changed = [v for v in skypilot.check().values() if not v.verified]
    if not os.environ.get("SKYFAST_REFERENCE_CANDIDATE"):
        assert not changed, f"the installed SkyPilot is not a verified reference: {changed}"

    class Reference:
        common = common_utils
        subprocess = subprocess_utils

    return Reference


def outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Tuple[Any, ...]:
    """('ok', value) or ('err', exception type, str(exception)) -- what differential tests compare.

    SkyPilot may leave ``sys.tracebacklimit`` changed; it is restored on return.
    """
    with keep_tracebacklimit():
        try:
            return ("ok", fn(*args, **kwargs))
        except Exception as e:  # the exception is the result
            return ("err", type(e), str(e))


@pytest.fixture(name="outcome", scope="session")
def outcome_fixture() -> Callable[..., Tuple[Any, ...]]:
    """The outcome() helper as a fixture, so test modules need not import conftest."""
    return outcome


# --- file/env function fixtures ---
# Shared by the tests of read_last_n_lines, hash_file, estimate_fd_for_dir,
# get_max_workers_for_file_mounts, get_cpu_count, get_mem_size_gb and import.



@contextlib.contextmanager
def _pod_env(**values: Optional[str]) -> Iterator[None]:
    """Set the SKYPILOT_POD_* variables given (others and None: unset); restore all after.

    A context manager rather than monkeypatch, so @given tests can use it per example.
    """
    unknown = set(values) - set(POD_ENV_VARS)
    assert not unknown, unknown
    saved = {name: os.environ.get(name) for name in POD_ENV_VARS}
    try:
        for name in POD_ENV_VARS:
            value = values.get(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(name="pod_env", scope="session")
def pod_env_fixture() -> Callable[..., Any]:
    """``with pod_env(SKYPILOT_POD_CPU_CORE_LIMIT='4'): ...`` -- the others are unset inside."""
    return _pod_env


_REAL_CGROUP = "/sys/fs/cgroup"


def write_cgroup_tree(root: str, files: Dict[str, Union[str, bytes, None]]) -> str:
    """Write a fake /sys/fs/cgroup under ``root``: {relative path: content (None = absent)}."""
    for rel, content in files.items():
        if content is None:
            continue
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        with open(path, "wb") as f:
            f.write(data)
    return root


@contextlib.contextmanager
def _cgroup_root(
    root: str,
    files: Optional[Dict[str, Union[str, bytes, None]]] = None,
    modules: Any = (),
    reference: Any = None,
) -> Iterator[None]:
    """Write ``files`` (see write_cgroup_tree) under ``root`` and point skyfast module(s)
    and optionally SkyPilot's common_utils (the ``sky`` fixture) at that fake cgroup tree.

    skyfast: ``_set_roots(cgroup=root)``.  The reference: its ``_is_cgroup_v2`` checks
    the fake tree and a module-global ``open`` rewrites '/sys/fs/cgroup...' paths.
    Everything is restored on exit.
    """
    if files:
        write_cgroup_tree(root, files)
    if isinstance(modules, ModuleType):
        modules = (modules,)
    common = None if reference is None else reference.common
    saved_v2 = None if common is None else common._is_cgroup_v2
    had_open = common is not None and "open" in vars(common)
    try:
        for module in modules:
            module._set_roots(cgroup=root)
        if common is not None:

            def fake_open(file: Any, *args: Any, **kwargs: Any) -> Any:
                if isinstance(file, str) and file.startswith(_REAL_CGROUP):
                    file = root + file[len(_REAL_CGROUP) :]
                return builtins.open(file, *args, **kwargs)

            common.open = fake_open
            common._is_cgroup_v2 = lambda: os.path.isfile(os.path.join(root, "cgroup.controllers"))
        yield
    finally:
        for module in modules:
            module._set_roots()
        if common is not None:
            common._is_cgroup_v2 = saved_v2
            if not had_open:
                del common.open


@pytest.fixture(name="cgroup_root", scope="session")
def cgroup_root_fixture() -> Callable[..., Any]:
    """``with cgroup_root(tmp, {"cpu.max": "max 100000"}, impl, sky): ...`` (_cgroup_root)."""
    return _cgroup_root


def _child_env() -> Dict[str, str]:
    """Environment for child Pythons that must import the same skyfast as this process.

    PYTHONPATH points at the directory holding the skyfast package unless that is a
    site-packages directory (an installed build is found there anyway).  SKYFAST_* and
    SKYPILOT_POD_* variables are dropped so the children start from a clean slate.
    """
    import skyfast

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SKYFAST_") and k not in POD_ENV_VARS
    }
    parent = os.path.dirname(os.path.dirname(os.path.abspath(skyfast.__file__)))
    if os.path.basename(parent) not in ("site-packages", "dist-packages"):
        env["PYTHONPATH"] = parent
    else:
        env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(name="child_env", scope="session")
def child_env_fixture() -> Dict[str, str]:
    """A fresh copy per session of the environment for child Pythons (see _child_env)."""
    return _child_env()


@pytest.fixture(name="core_built", scope="session")
def core_built_fixture() -> bool:
    """Whether the compiled core skyfast._core imports in this process."""
    try:
        importlib.import_module("skyfast._core")
    except ImportError:
        return False
    return True


_REFERENCE_CHILD = r"""
import contextlib, hashlib, json, os, sys
from typing import List
class ux_utils:  # the one sky helper the two functions use (on their error path)
    print_exception_no_traceback = staticmethod(contextlib.nullcontext)
ns = {"os": os, "hashlib": hashlib, "List": List, "ux_utils": ux_utils}
exec(compile(sys.stdin.read(), "sky/utils/common_utils.py", "exec"), ns)
fn = ns[sys.argv[1]]
sanity = fn(*json.loads(sys.argv[3]))
sanity = sanity if isinstance(sanity, list) else sanity.hexdigest()
print(json.dumps(["ready", sys.flags.optimize, sanity]), flush=True)
fn(*json.loads(sys.argv[2]))
print(json.dumps(["returned"]), flush=True)
"""


def _reference_blocks(
    function: Callable[..., Any],
    args: List[Any],
    sanity_args: List[Any],
    *,
    optimize: bool = False,
    seconds: float = 1.5,
) -> Tuple[bool, Any]:
    """Run a SkyPilot function's own source (``inspect.getsource``) in a child Python.

    Importing all of sky takes seconds (more under -O, whose .pyc files are not cached);
    read_last_n_lines and hash_file need only os/hashlib, so the child compiles just the
    function -- under ``-O`` when asked, which drops its asserts as in the real module.
    The child first calls it on ``sanity_args`` (proving it works), then on ``args``.
    Returns (still running after ``seconds``, the sanity result).
    """
    import inspect
    import json
    import subprocess

    cmd = [sys.executable, *(["-O"] if optimize else []), "-c", _REFERENCE_CHILD,
           function.__name__, json.dumps(args), json.dumps(sanity_args)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(inspect.getsource(function))
        proc.stdin.close()
        ready = proc.stdout.readline()
        assert ready, proc.stderr.read() if proc.stderr else ""
        tag, optimized, sanity = json.loads(ready)
        assert tag == "ready" and optimized == int(optimize)
        try:
            proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return True, sanity
        return False, sanity
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(name="reference_blocks", scope="session")
def reference_blocks_fixture() -> Callable[..., Tuple[bool, Any]]:
    """See _reference_blocks: does a reference function block (or loop) in a child?"""
    return _reference_blocks


# --- child processes ---


@pytest.fixture(scope="session", autouse=True)
def _children_import_the_skyfast_under_test(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """Child Pythons must import the same skyfast as this process.

    Under ``python -Im pytest`` from the repository root, a child started with
    ``-c`` would put the working directory first on sys.path and import the
    uncompiled source tree instead of the installed build.  So the session runs
    from an empty directory; when skyfast itself comes from a source tree (an
    in-place build), PYTHONPATH points the children at it.
    """
    import skyfast

    patch = pytest.MonkeyPatch()
    patch.chdir(tmp_path_factory.mktemp("cwd"))
    parent = os.path.dirname(os.path.dirname(os.path.abspath(skyfast.__file__)))
    if os.path.basename(parent) not in ("site-packages", "dist-packages"):
        patch.setenv("PYTHONPATH", parent + os.pathsep + os.environ.get("PYTHONPATH", ""))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def short_dir() -> Iterator[str]:
    """A short directory (unix socket paths are limited to 107 bytes)."""
    d = tempfile.mkdtemp(prefix="sf", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _call_with_watchdog(
    fn: Callable[..., Any], fifo: str, *args: Any
) -> Tuple[bool, Tuple[Any, ...]]:
    """Call fn(fifo, ...); if it blocks, a writer opened after 2 s unblocks it.

    Returns (whether the watchdog had to step in, ("ok", value) | ("err", exc)):
    a call that returns by itself never needs it, however busy the machine is.
    """
    stepped_in = threading.Event()

    def unblock() -> None:
        stepped_in.set()
        os.close(os.open(fifo, os.O_WRONLY))

    timer = threading.Timer(2.0, unblock)
    timer.daemon = True
    timer.start()
    try:
        try:
            result: Tuple[Any, ...] = ("ok", fn(fifo, *args))
        except Exception as e:  # the exception is the result
            result = ("err", e)
    finally:
        timer.cancel()
        timer.join()
    return stepped_in.is_set(), result


@pytest.fixture(name="call_with_watchdog", scope="session")
def call_with_watchdog_fixture() -> Callable[..., Tuple[bool, Tuple[Any, ...]]]:
    """``(watchdog stepped in, ("ok", value) | ("err", exc))`` of a call on a FIFO."""
    return _call_with_watchdog
