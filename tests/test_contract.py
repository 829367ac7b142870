"""The two implementations present one API: same names, signatures and docstrings.

The compiled core and the pure-Python twin are interchangeable behind skyfast's
dispatcher, so what a reader or a type checker sees of one must hold for the other;
the stub of the compiled module (_core.pyi) is checked against it by mypy's stubtest
in CI.  The Cython directives live in one place per source: its header.
"""

from __future__ import annotations

import inspect
import pathlib
import re
from types import ModuleType

import pytest
from _guards import HANG_GUARD

import skyfast
from skyfast import _core_py

PUBLIC = [name for name in skyfast.__all__ if callable(getattr(skyfast, name))
          and name != "FileNotFoundAssertionError"]


CACHE_CONTROLS = {"clear_cache", "get_cache_ttl", "set_cache_ttl"}
ALIASES = {"get_max_workers": "get_max_workers_for_file_mounts"}
NO_UPSTREAM = {"is_process_alive", "estimate_fd_for_dir"}  # NEW in skyfast (contract §2)
REPO = pathlib.Path(__file__).resolve().parent.parent


def test_the_function_list_is_skyfasts_public_functions() -> None:
    """_common.FUNCTIONS, which the CLI, the harness and the benchmarks read, is __all__'s."""
    from skyfast._common import FUNCTIONS

    assert len(FUNCTIONS) == len(set(FUNCTIONS)) == 12
    assert set(FUNCTIONS) == set(PUBLIC) - CACHE_CONTROLS - set(ALIASES)
    for alias, name in ALIASES.items():
        assert getattr(skyfast, alias) is getattr(skyfast, name)


def _functions() -> list:
    from skyfast._common import FUNCTIONS

    return list(FUNCTIONS)


@pytest.mark.parametrize("name", _functions())
def test_every_function_has_each_of_its_places(name: str) -> None:
    """Twin, stub, asv module, bench case and the SkyPilot mapping: none may be forgotten."""
    from skyfast import _bench
    from skyfast.integrations import skypilot

    assert callable(getattr(_core_py, name)), "the twin"
    stub = pathlib.Path(_core_py.__file__).with_name("_core.pyi")
    if stub.exists():
        assert re.search(rf"^def {name}\(", stub.read_text(), flags=re.M), "the stub"
    assert name in _bench.FUNCTIONS, "a skyfast bench case"
    upstream = {n for names in skypilot.UPSTREAM_NAMES.values() for n in names}
    assert (name in upstream) != (name in NO_UPSTREAM), "the SkyPilot mapping"
    benchmarks = REPO / "benchmarks"
    if benchmarks.is_dir():  # a checkout or an sdist
        assert (benchmarks / f"bench_{name}.py").is_file(), "an asv module"
        text = (benchmarks / "bench_instructions.py").read_text()
        assert f'function = "{name}"' in text, "an instruction count"


def test_info_does_not_import_the_harness(child_env: dict) -> None:
    """``skyfast info`` is a report: the benchmark harness stays unimported."""
    import subprocess
    import sys

    code = ("import contextlib, io, sys\n"
            "from skyfast.__main__ import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['info']) == 0\n"
            "print('skyfast._bench' in sys.modules, 'skyfast._benchdata' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], env=child_env, capture_output=True,
                          text=True, timeout=HANG_GUARD, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("name", PUBLIC)
def test_same_signature(compiled_core: ModuleType, name: str) -> None:
    compiled = inspect.signature(getattr(compiled_core, name))
    twin = inspect.signature(getattr(_core_py, name))
    described = [(p.name, p.kind, p.default) for p in compiled.parameters.values()]
    assert described == [(p.name, p.kind, p.default) for p in twin.parameters.values()]


@pytest.mark.parametrize("name", PUBLIC)
def test_same_docstring(compiled_core: ModuleType, name: str) -> None:
    compiled = inspect.getdoc(getattr(compiled_core, name)) or ""
    twin = inspect.getdoc(getattr(_core_py, name)) or ""
    # embedsignature puts the signature first in the compiled docstring.
    compiled = re.sub(r"\A\w+\(.*?\)( -> [^\n]+)?\n", "", compiled, flags=re.S).strip()
    assert twin and compiled == twin.strip()


def test_the_stub_names_every_public_function(compiled_core: ModuleType) -> None:
    stub = pathlib.Path(compiled_core.__file__).with_name("_core.pyi")
    if not stub.exists():  # an installed wheel ships it next to the module
        pytest.skip(f"no stub next to {compiled_core.__file__}")
    defined = set(re.findall(r"^def (\w+)", stub.read_text(), flags=re.M))
    assert set(PUBLIC) <= defined


# Free-threading safe (tests/test_reliability_free_threading.py, on a 3.13t build).
SOURCES = {"_core.pyx": {"language_level": "3", "freethreading_compatible": "True"}}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_directives_in_the_source_header(source: str) -> None:
    path = pathlib.Path(_core_py.__file__).with_name(source)
    if not path.exists():
        pytest.skip(f"{source} is not installed here")
    header = [line for line in path.read_text().splitlines()[:5] if line.startswith("# cython:")]
    directives = dict(item.strip().split("=", 1) for line in header
                      for item in line[len("# cython:"):].split(","))
    for key, value in SOURCES[source].items():
        assert directives.get(key) == value, (source, key)
    setup = pathlib.Path(_core_py.__file__).parent.parent / "setup.py"
    if setup.exists():  # a source tree: no second place sets them
        assert "compiler_directives=DIRECTIVES" not in setup.read_text()


def _package_imports(path: pathlib.Path) -> set:
    """skyfast modules a source imports at module level or inside functions (any import)."""
    import ast

    text = path.read_text()
    if path.suffix == ".pyx":  # the Python-level imports of the Cython source
        names = set(re.findall(r"^\s*from \. import ([\w, ]+)", text, flags=re.M))
        found = {n.strip().split(" as ")[0] for group in names for n in group.split(",")}
        return {f"skyfast.{n}" for n in found}
    found = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(f"skyfast.{node.module}")
            else:
                found.update(f"skyfast.{a.name}" for a in node.names)
    return found


def test_no_import_cycle() -> None:
    """Each module imports only modules that do not import it back (directly or not)."""
    package = pathlib.Path(_core_py.__file__).parent
    graph = {}
    for path in [*package.glob("*.py"), *package.glob("*.pyx")]:
        name = "skyfast." + path.stem
        graph[name] = _package_imports(path)
    graph["skyfast._core"] = graph.pop("skyfast._core", set())

    def reaches(start: str, goal: str, seen: set) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = [name for name in graph if reaches(name, name, {name})]
    assert graph["skyfast._core"] >= {"skyfast._kernel", "skyfast._cache"}
    assert cycles == []
