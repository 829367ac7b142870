"""Importing skyfast: implementation choice, clean import, public API (docs/contract.md §5, §1)."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from typing import Dict, List, Optional

import pytest
from _guards import HANG_GUARD

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
                          text=True, timeout=HANG_GUARD, check=False)


REPORT = "import skyfast, skyfast.limits\nprint(skyfast.IMPLEMENTATION, skyfast.__file__)"


def implementation(child_env: Dict[str, str], **env: str) -> str:
    """The implementation a child picks (skyfast.limits imports alongside, in every build)."""
    proc = run_python(child_env, REPORT, env)
    assert proc.returncode == 0, proc.stderr
    name, where = proc.stdout.split()
    assert os.path.realpath(where) == os.path.realpath(skyfast.__file__)  # the same skyfast
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
    "from skyfast import _bench\n"
    "core = _bench.load_impls(against_skypilot=False).core\n"
    "print(skyfast.IMPLEMENTATION, core is not None)"
)


@pytest.mark.parametrize("at_import", ["compiled", "twin"])
def test_switch_flipped_after_import_changes_nothing(child_env, core_built, at_import):
    """The benchmark follows the build `import skyfast` chose."""
    if at_import == "compiled":
        require_core(core_built)
    env = {"SKYFAST_NO_EXTENSIONS": "1"} if at_import == "twin" else {}
    proc = run_python(child_env, LATE_SWITCH, env)
    assert proc.returncode == 0, proc.stderr
    want = "cython True" if at_import == "compiled" else "python False"
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


# SkyPilot's API server, jobs and serve controllers replace os.environ (and sys.stdout,
# sys.stderr, subprocess.Popen) before anything else: skyfast imported afterwards must
# answer every function as SkyPilot does, contextual environment variables included.
_HIJACKED = r"""
import json, os, sys, tempfile, warnings
warnings.simplefilter("ignore")
from sky.utils import common_utils as cu, context, context_utils, subprocess_utils as su
if sys.argv[2] == "hijack":
    context_utils.hijack_sys_attrs()
    assert type(os.environ).__name__ == "ContextualEnviron"
else:
    os.environ = dict(os.environ)  # a plain dict: no _data, no encodekey
import psutil
import skyfast
from skyfast import _core, _core_py
IMPL = {"cython": _core, "python": _core_py}[sys.argv[1]]
IMPL.set_cache_ttl(0)

def outcome(fn, *a):
    try:
        return ["ok", repr(fn(*a))]
    except Exception as e:
        return ["err", type(e).__name__, str(e)]

d = tempfile.mkdtemp()
log = os.path.join(d, "log")
with open(log, "wb") as f:
    f.write(b"a\nb\r\nc\n")
os.mkdir(os.path.join(d, "sub"))
with open(os.path.join(d, "sub", "x"), "w") as f:
    f.write("x")
ctx = context.initialize()
if sys.argv[2] != "hijack":  # no contextual overrides: set the variables themselves
    class Overrides:
        def override_envs(self, envs):
            for k, v in envs.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    ctx = Overrides()
pairs = {
    "format_float": ((IMPL.format_float, cu.format_float), [(1.25,), (3, 2), (2.5, 0)]),
    "truncate_long_string": ((IMPL.truncate_long_string, cu.truncate_long_string),
                             [("hello world", 7), ("abcdefghij", 5, True)]),
    "base36_encode": ((IMPL.base36_encode, cu.base36_encode), [("ff",), ("deadbeef",)]),
    "read_last_n_lines": ((IMPL.read_last_n_lines, cu.read_last_n_lines), [(log, 2), (log, 0)]),
    "hash_file": ((lambda *a: IMPL.hash_file(*a).hexdigest(),
                   lambda *a: cu.hash_file(*a).hexdigest()), [(log, "sha256")]),
    "find_free_port": ((IMPL.find_free_port, cu.find_free_port), [(65534,), (70000,)]),
    "get_parallel_threads": ((IMPL.get_parallel_threads, su.get_parallel_threads),
                             [(None,), ("kubernetes",)]),
    "get_max_workers_for_file_mounts": (
        (IMPL.get_max_workers_for_file_mounts, su.get_max_workers_for_file_mounts),
        [({"/a": d},), ({},)]),
    "is_process_alive": ((IMPL.is_process_alive, psutil.pid_exists), [(os.getpid(),), (0,)]),
    "estimate_fd_for_dir": ((IMPL.estimate_fd_for_dir, lambda p: 5 * len(os.listdir(p))),
                            [(d,)]),
}
env_cases = [{}, {"SKYPILOT_POD_CPU_CORE_LIMIT": "3", "SKYPILOT_POD_MEMORY_GB_LIMIT": "1.5"},
             {"SKYPILOT_POD_CPU_CORE_LIMIT": "abc"}, {"SKYPILOT_POD_MEMORY_BYTES_LIMIT": "2e9"}]
mismatches = []
for env in env_cases:
    ctx.override_envs(env)  # contextual: only os.environ (the hijacked one) sees them
    for name, ours, ref in (("get_cpu_count", IMPL.get_cpu_count, cu.get_cpu_count),
                            ("get_mem_size_gb", IMPL.get_mem_size_gb, cu.get_mem_size_gb)):
        a, b = outcome(ours), outcome(ref)
        if a != b:
            mismatches.append([name, env, a, b])
    ctx.override_envs({k: None for k in env})
for name, ((ours, ref), cases) in pairs.items():
    for args in cases:
        a, b = outcome(ours, *args), outcome(ref, *args)
        if a != b:
            mismatches.append([name, repr(args), a, b])
print(json.dumps({"functions": len(pairs) + 2, "mismatches": mismatches}))
"""


@pytest.mark.reference
@pytest.mark.parametrize("replacement", ["hijack", "dict"])
@pytest.mark.parametrize("implementation", ["cython", "python"])
def test_after_os_environ_was_replaced(child_env, core_built, sky, implementation, replacement):
    """SkyPilot's hijack_sys_attrs() or ``os.environ = dict(os.environ)`` before the import."""
    import json

    if implementation == "cython" and not core_built:
        pytest.skip("the compiled core is not built")
    result = subprocess.run([sys.executable, "-c", _HIJACKED, implementation, replacement],
                            env=child_env, capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["functions"] == 12
    assert report["mismatches"] == []
