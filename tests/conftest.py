"""Shared fixtures: every test runs against both implementations, and against
SkyPilot 0.14.1 where it is installed.

``impl`` is session-scoped (Hypothesis rejects function-scoped fixtures in
@given tests) and parametrized with ids ``c-extension`` / ``pure-python``.
``--no-c-extensions`` drops the compiled runs; with SKYFAST_REQUIRE_EXTENSIONS
set, a missing extension is an error, not a skip.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from types import ModuleType
from typing import Any, Callable, Iterator, Tuple

import pytest
from hypothesis import HealthCheck, settings

from skyfast._common import env_flag

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


def _load_core() -> ModuleType:
    try:
        return importlib.import_module("skyfast._core")
    except ImportError:
        if env_flag("SKYFAST_REQUIRE_EXTENSIONS"):
            raise
        pytest.skip("the compiled core is not built")


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
        module = _load_core()
    else:
        module = importlib.import_module("skyfast._core_py")
    module.set_cache_ttl(0)
    yield module
    module.set_cache_ttl(0.020)


@pytest.fixture(scope="session")
def py_impl() -> ModuleType:
    """The pure-Python twin, the readable reference the compiled core is compared with."""
    module = importlib.import_module("skyfast._core_py")
    module.set_cache_ttl(0)
    return module


@pytest.fixture(scope="session")
def sky() -> Any:
    """SkyPilot 0.14.1's utility modules, or a skip when sky cannot be imported."""
    try:
        # SkyPilot's own imports raise deprecation warnings (SQLAlchemy); they
        # are not ours to turn into errors.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import sky  # noqa: F401
            from sky.utils import common_utils, subprocess_utils
    except Exception as e:  # ImportError, or a broken install
        pytest.skip(f"SkyPilot is not importable: {e!r}")
    import sky as sky_pkg

    assert getattr(sky_pkg, "__version__", "0.14.1") == "0.14.1", sky_pkg.__version__

    class Reference:
        common = common_utils
        subprocess = subprocess_utils

    return Reference


def outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Tuple[Any, ...]:
    """('ok', value) or ('err', exception type, str(exception)) -- what differential tests compare.

    SkyPilot sets ``sys.tracebacklimit`` while it raises some errors and may
    leave it changed; it is restored here so one reference call cannot change
    how later failures are reported.
    """
    saved = getattr(sys, "tracebacklimit", None)
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as e:  # noqa: BLE001 - the exception is the result
        return ("err", type(e), str(e))
    finally:
        if saved is None:
            if hasattr(sys, "tracebacklimit"):
                del sys.tracebacklimit
        else:
            sys.tracebacklimit = saved
