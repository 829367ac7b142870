"""Importing skyfast: implementation choice (SPEC 5), a clean import, the public API (SPEC 1)."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from typing import Dict, List, Optional

import pytest

import skyfast

FUNCTIONS = [
    "is_process_alive", "get_cpu_count", "get_parallel_threads", "base36_encode",
    "get_mem_size_gb", "hash_file", "get_max_workers_for_file_mounts", "read_last_n_lines",
    "format_float", "estimate_fd_for_dir", "find_free_port", "truncate_long_string",
]


def skyfast_dir_for_path() -> Optional[str]:
    """The directory to put on sys.path so a child imports this skyfast (None: installed)."""
    parent = os.path.dirname(os.path.dirname(os.path.abspath(skyfast.__file__)))
    if os.path.basename(parent) in ("site-packages", "dist-packages"):
        return None
    return parent


def run_python(child_env: Dict[str, str], code: str, extra_env: Optional[Dict[str, str]] = None,
               flags: List[str] = ()) -> subprocess.CompletedProcess:
    env = dict(child_env)
    env.update(extra_env or {})
    return subprocess.run([sys.executable, *flags, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


REPORT = (
    "import skyfast, skyfast.limits\n"
    "print(skyfast.IMPLEMENTATION, skyfast.limits.IMPLEMENTATION, skyfast.__file__)"
)


def implementation(child_env: Dict[str, str], **env: str) -> str:
    """The implementation a child picks; the core and the limits code must pick alike."""
    proc = run_python(child_env, REPORT, env)
    assert proc.returncode == 0, proc.stderr
    name, limits_name, where = proc.stdout.split()
    assert os.path.realpath(where) == os.path.realpath(skyfast.__file__)  # the same skyfast
    assert limits_name == name
    return name


def require_core(core_built: bool) -> None:
    if not core_built and not os.environ.get("SKYFAST_REQUIRE_EXTENSIONS"):
        pytest.skip("the compiled core is not built (and SKYFAST_REQUIRE_EXTENSIONS is not set)")


def test_require_extensions_gives_cython(child_env, core_built):
    require_core(core_built)
    assert implementation(child_env, SKYFAST_REQUIRE_EXTENSIONS="1") == "cython"


def test_require_extensions_without_core_fails(child_env, core_built):
    if core_built:
        pytest.skip("the compiled core is built")
    proc = run_python(child_env, "import skyfast", {"SKYFAST_REQUIRE_EXTENSIONS": "1"})
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr or "ModuleNotFoundError" in proc.stderr


def test_default_uses_the_core_when_built(child_env, core_built):
    assert implementation(child_env) == ("cython" if core_built else "python")


@pytest.mark.parametrize("value", ["1", "yes", "true", "TRUE", " 1 "])
def test_no_extensions_forces_python(child_env, value):
    assert implementation(child_env, SKYFAST_NO_EXTENSIONS=value) == "python"


@pytest.mark.parametrize("value", ["0", "false", "no", ""])
def test_false_values_do_not_force_python(child_env, core_built, value):
    require_core(core_built)
    assert implementation(child_env, SKYFAST_NO_EXTENSIONS=value) == "cython"


@pytest.mark.parametrize("value", ["0", "false", "no", ""])
def test_false_values_do_not_require(child_env, value):
    # SKYFAST_REQUIRE_EXTENSIONS set to a false word never makes the import fail.
    proc = run_python(child_env, REPORT, {"SKYFAST_REQUIRE_EXTENSIONS": value})
    assert proc.returncode == 0, proc.stderr


# The switch is read once, by `import skyfast`; flipping it afterwards changes nothing.
LATE_SWITCH = (
    "import os, skyfast\n"
    "if os.environ.pop('SKYFAST_NO_EXTENSIONS', None) is None:\n"
    "    os.environ['SKYFAST_NO_EXTENSIONS'] = '1'\n"
    "import skyfast.limits\n"
    "from skyfast import _bench\n"
    "core = _bench._load_impls(against_skypilot=False).core\n"
    "print(skyfast.IMPLEMENTATION, skyfast.limits.IMPLEMENTATION, core is not None)"
)


@pytest.mark.parametrize("at_import", ["compiled", "twin"])
def test_switch_flipped_after_import_changes_nothing(child_env, core_built, at_import):
    """skyfast.limits and the benchmark follow the build `import skyfast` chose."""
    if at_import == "compiled":
        require_core(core_built)
    env = {"SKYFAST_NO_EXTENSIONS": "1"} if at_import == "twin" else {}
    proc = run_python(child_env, LATE_SWITCH, env)
    assert proc.returncode == 0, proc.stderr
    want = "cython cython True" if at_import == "compiled" else "python python False"
    assert proc.stdout.split() == want.split()


def test_no_extensions_functions_are_the_twin(child_env):
    code = (
        "import skyfast, skyfast._core_py as p\n"
        f"names = {FUNCTIONS!r}\n"
        "print(all(getattr(skyfast, n) is getattr(p, n) for n in names))"
    )
    proc = run_python(child_env, code, {"SKYFAST_NO_EXTENSIONS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"


def test_isolated_import_is_clean(child_env):
    # -I ignores PYTHONPATH, so a source-tree skyfast goes on sys.path by hand.
    where = skyfast_dir_for_path()
    code = ("import sys\n" + (f"sys.path.insert(0, {where!r})\n" if where else "")
            + "import skyfast\nassert skyfast.__file__ == " + repr(skyfast.__file__))
    proc = run_python(child_env, code, flags=["-I", "-W", "error"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout == ""


def test_public_names():
    expected = set(FUNCTIONS) | {"get_max_workers", "IMPLEMENTATION"}
    assert expected <= set(skyfast.__all__)
    assert len(skyfast.__all__) == len(set(skyfast.__all__))
    for name in skyfast.__all__:
        assert hasattr(skyfast, name), name
    assert skyfast.get_max_workers is skyfast.get_max_workers_for_file_mounts
    assert skyfast.IMPLEMENTATION in ("cython", "python")


def test_implementation_matches_functions(core_built):
    if skyfast.IMPLEMENTATION == "cython":
        import skyfast._core as core

        assert skyfast.read_last_n_lines is core.read_last_n_lines
    else:
        import skyfast._core_py as twin

        assert skyfast.read_last_n_lines is twin.read_last_n_lines
        assert not core_built or os.environ.get("SKYFAST_NO_EXTENSIONS")


@pytest.mark.parametrize("name", FUNCTIONS)
def test_docstrings(impl, name):
    for fn in (getattr(skyfast, name), getattr(impl, name)):
        doc = inspect.getdoc(fn)
        assert doc and doc.strip(), f"{name} has no docstring"
