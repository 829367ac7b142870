"""SKYFAST_SKYPILOT: the start-up activation (.pth / PEP 829 .start, _skyfast_startup).

Each test starts a fresh interpreter of this venv, where the installed wheel put
``skyfast_skypilot.pth``, ``skyfast_skypilot.start`` and ``_skyfast_startup.py``
at the top of site-packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from _guards import HANG_GUARD

import skyfast
from skyfast import _common

pytestmark = pytest.mark.startup_hook

# Before 3.15 the .pth's import line starts the hook; from 3.15 the .start file
# does, and turns that line off.
STARTER = "start" if sys.version_info >= (3, 15) else "pth"

_STATE = r"""
import json, sys
state = sys.modules.get("_skyfast_startup")
print(json.dumps({
    "skyfast": sorted(m for m in sys.modules if m == "skyfast" or m.startswith("skyfast.")),
    "startup": state is not None,
    "started_by": getattr(state, "started_by", None),
    "finders": sum(type(f).__name__ == "PostImportFinder" for f in sys.meta_path),
}))
"""


def child(code: str, env: Dict[str, str], *flags: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *flags, "-c", code], env=env, capture_output=True,
                          text=True, timeout=HANG_GUARD, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc


def last_json(proc: subprocess.CompletedProcess) -> Any:
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.fixture(scope="module", autouse=True)
def installed() -> None:
    try:
        import _skyfast_startup
    except ImportError:
        pytest.fail("_skyfast_startup is not installed: skyfast was installed without its "
                    "start-up files (an editable install?)")
    site = Path(_skyfast_startup.__file__).parent
    for name in ("skyfast_skypilot.pth", "skyfast_skypilot.start"):
        assert (site / name).is_file(), f"{name} is not beside {_skyfast_startup.__file__}"


def test_off_words_and_modules_are_skyfasts():
    """The start-up module cannot import skyfast: its two copies of facts must match."""
    import _skyfast_startup

    from skyfast.integrations import skypilot

    assert _skyfast_startup.OFF_WORDS == _common._FALSE_WORDS
    assert _skyfast_startup.WATCHED == set(skypilot.UPSTREAM_NAMES)


@pytest.mark.parametrize("value", [None, "", "0", "false", "No ", "FALSE"])
def test_off_imports_no_skyfast(child_env, value):
    env = {k: v for k, v in child_env.items() if k != "SKYFAST_SKYPILOT"}
    if value is not None:
        env["SKYFAST_SKYPILOT"] = value
    state = last_json(child(_STATE, env))
    assert state["skyfast"] == []
    assert state["finders"] == 0
    # Unset or empty, the .pth line is one lookup and imports nothing; the .start
    # entry point (3.15+) always imports the small start-up module, never skyfast.
    assert state["startup"] == (bool(value) or STARTER == "start")


@pytest.mark.parametrize("value", ["1", "true", "YES", " yes "])
def test_on_adds_one_finder_and_imports_skyfast_only_with_skypilot(child_env, value):
    env = dict(child_env, SKYFAST_SKYPILOT=value)
    state = last_json(child(_STATE, env))
    assert state == {"skyfast": [], "startup": True, "started_by": STARTER, "finders": 1}


def test_hook_runs_once_under_isolated_mode_and_in_a_venv(child_env):
    """-I keeps site-packages (only -S drops it); the hook still starts exactly once."""
    state = last_json(child(_STATE, dict(child_env, SKYFAST_SKYPILOT="1"), "-I"))
    assert state["finders"] == 1 and state["started_by"] == STARTER


_IMPORT_SKY = r"""
import inspect, json, sys, warnings
warnings.simplefilter("ignore", DeprecationWarning)
from sky.utils import common_utils, subprocess_utils
import skyfast
print(json.dumps({
    "replaced": sorted(f"{m.__name__}.{n}" for m in (common_utils, subprocess_utils)
                       for n in skyfast.__all__ if getattr(m, n, None) is getattr(skyfast, n)),
    "loader": type(common_utils.__loader__).__name__,
    "spec_loader_is_loader": common_utils.__spec__.loader is common_utils.__loader__,
    "source": "def get_cpu_count" in inspect.getsource(common_utils),
    "via": skyfast.IMPLEMENTATION,
}))
"""

ALL_TEN = sorted(
    [f"sky.utils.common_utils.{n}" for n in (
        "base36_encode", "find_free_port", "format_float", "get_cpu_count", "get_mem_size_gb",
        "hash_file", "read_last_n_lines", "truncate_long_string")]
    + [f"sky.utils.subprocess_utils.{n}" for n in (
        "get_max_workers_for_file_mounts", "get_parallel_threads")])


@pytest.mark.reference
def test_on_skypilot_gets_skyfast_and_keeps_its_own_loader(sky, child_env):
    proc = child(_IMPORT_SKY, dict(child_env, SKYFAST_SKYPILOT="1"))
    state = last_json(proc)
    assert state["replaced"] == ALL_TEN
    assert state["loader"] == "SourceFileLoader" and state["spec_loader_is_loader"]
    assert state["source"]
    assert "skyfast" not in proc.stderr  # verified code: no warning


@pytest.mark.reference
def test_off_skypilot_keeps_its_functions(sky, child_env):
    env = {k: v for k, v in child_env.items() if k != "SKYFAST_SKYPILOT"}
    assert last_json(child(_IMPORT_SKY, env))["replaced"] == []


_NUM_THREADS = r"""
import json, sys, warnings
warnings.simplefilter("ignore", DeprecationWarning)
import sky.provision.kubernetes.instance as instance
if sys.argv[1] == "install-after":
    from skyfast.integrations import skypilot
    skypilot.install()
import skyfast
print(json.dumps([instance._NUM_THREADS, skyfast.get_parallel_threads("kubernetes")]))
"""


def calls_from(trace: Path, caller: str) -> List[Dict[str, Any]]:
    records = [json.loads(line) for f in trace.iterdir() for line in f.read_text().splitlines()]
    return [r for r in records if r["event"] == "call" and r["caller"] == caller]


@pytest.mark.reference
@pytest.mark.parametrize("how", ["startup", "install-after"])
def test_import_time_value_comes_from_skyfast_only_at_startup(sky, child_env, tmp_path, how):
    """``_NUM_THREADS`` is computed when the module is imported: the hook is there first."""
    trace = tmp_path / "made-by-the-trace"  # the trace makes its directory
    env = dict(child_env, SKYFAST_SKYPILOT_TRACE=str(trace))
    if how == "startup":
        env["SKYFAST_SKYPILOT"] = "1"
    proc = subprocess.run([sys.executable, "-c", _NUM_THREADS, how], env=env,
                          capture_output=True, text=True, timeout=HANG_GUARD, check=False)
    assert proc.returncode == 0, proc.stderr
    value, skyfasts = json.loads(proc.stdout.splitlines()[-1])
    assert value == skyfasts
    calls = calls_from(trace, "sky.provision.kubernetes.instance")
    if how == "startup":
        assert [(c["function"], c["skyfast"]) for c in calls] == [
            ("get_parallel_threads", skyfast.get_parallel_threads.__module__)]
    else:  # install() after the import: the constant was SkyPilot's own call
        assert calls == []


def broken_skyfast(tmp_path: Path) -> Path:
    """A directory whose ``skyfast`` package fails to import."""
    root = tmp_path / "broken"
    (root / "skyfast").mkdir(parents=True)
    (root / "skyfast" / "__init__.py").write_text("raise RuntimeError('skyfast is broken')\n")
    return root


_SKY_OWN = r"""
import json, warnings
warnings.simplefilter("ignore", DeprecationWarning)
from sky.utils import common_utils, subprocess_utils
print(json.dumps([common_utils.get_cpu_count.__module__,
                  subprocess_utils.get_parallel_threads.__module__,
                  common_utils.get_cpu_count() >= 1]))
"""


@pytest.mark.reference
@pytest.mark.parametrize("flags", [[], ["-W", "error::RuntimeWarning"]], ids=["default", "W-error"])
def test_a_failure_in_the_hook_warns_once_and_leaves_skypilot(sky, child_env, tmp_path, flags):
    env = dict(child_env, SKYFAST_SKYPILOT="1", PYTHONPATH=str(broken_skyfast(tmp_path)))
    proc = child(_SKY_OWN, env, *flags)
    assert last_json(proc) == ["sky.utils.common_utils", "sky.utils.subprocess_utils", True]
    assert proc.stderr.count("SkyPilot was not switched to skyfast") == 1, proc.stderr
    assert "RuntimeError: skyfast is broken" in proc.stderr


def altered_sky(tmp_path: Path, sky_dir: str, function: str) -> Path:
    """The installed ``sky`` package as symlinks, but ``function`` in common_utils changed."""
    root = tmp_path / "altered"
    shutil.copytree(sky_dir, root / "sky", symlinks=True, copy_function=os.symlink)
    target = root / "sky" / "utils" / "common_utils.py"
    source = target.read_text()
    target.unlink()
    marker = f"def {function}("
    assert source.count(marker) == 1
    head, tail = source.split(marker)
    # One more statement at the top of the function's body.
    tail = tail.replace(":\n", ":\n    _altered = True\n", 1)
    target.write_text(head + marker + tail)
    for cached in (root / "sky" / "utils" / "__pycache__").glob("common_utils.*"):
        cached.unlink()
    return root


@pytest.mark.reference
def test_an_altered_release_is_refused_by_name_at_startup(sky, child_env, tmp_path):
    from skyfast.integrations import _fingerprint

    sky_dir: Optional[str] = _fingerprint.sky_source_dir()
    assert sky_dir is not None
    root = altered_sky(tmp_path, sky_dir, "base36_encode")
    env = dict(child_env, SKYFAST_SKYPILOT="1", PYTHONPATH=str(root),
               PYTHONDONTWRITEBYTECODE="1")
    proc = child(_IMPORT_SKY + "\nprint(common_utils.__file__)", env)
    assert proc.stdout.splitlines()[-1].startswith(str(root))  # the altered copy was imported
    state = json.loads(proc.stdout.splitlines()[-2])
    assert state["replaced"] == [n for n in ALL_TEN if not n.endswith(".base36_encode")]
    assert proc.stderr.count("UnsupportedVersionWarning") == 1, proc.stderr
    assert "sky.utils.common_utils.base36_encode (changed)" in proc.stderr
