"""The one rule for what the SkyPilot drop-in replaces: the code, function by function.

A function is replaced only if it and every module-level helper, constant and
import it reaches are the verified code.  These tests alter SkyPilot's real
source (the installed release's ``common_utils.py`` / ``subprocess_utils.py``)
and check which functions the rule then refuses.
"""

from __future__ import annotations

import ast
import types
import warnings
from typing import Any, Callable, Dict, Iterator

import pytest

import skyfast
from skyfast.integrations import _fingerprint, skypilot

pytestmark = pytest.mark.reference

COMMON = "sky.utils.common_utils"
SUBPROCESS = "sky.utils.subprocess_utils"


@pytest.fixture(scope="module")
def sources() -> Dict[str, str]:
    sky_dir = _fingerprint.sky_source_dir()
    if sky_dir is None:
        pytest.skip("SkyPilot is not installed")
    result = {}
    for module in skypilot.UPSTREAM_NAMES:
        with open(_fingerprint.module_path(sky_dir, module), encoding="utf-8") as f:
            result[module] = f.read()
    return result


@pytest.fixture
def clean_state() -> Iterator[None]:
    assert not skypilot.is_installed()
    yield
    skypilot.uninstall()


def verdicts(module: str, source: str) -> Dict[str, str]:
    """function -> reason ('verified', 'changed', 'missing') for one module's source."""
    return {v.name: v.reason for v in skypilot._verdicts(module, source)}


def edit(source: str, change: Callable[[ast.Module], None]) -> str:
    tree = ast.parse(source)
    change(tree)
    return ast.unparse(ast.fix_missing_locations(tree))


def top(tree: ast.Module, name: str) -> Any:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return node
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node
    raise LookupError(name)


def refused(result: Dict[str, str]) -> Dict[str, str]:
    return {name: reason for name, reason in result.items() if reason != "verified"}


def test_the_installed_release_is_verified(sources):
    for module, source in sources.items():
        assert refused(verdicts(module, source)) == {}


def test_formatting_comments_and_docstrings_do_not_count(sources):
    """Re-printed from the AST: no comment left, every line laid out anew."""
    for module, source in sources.items():
        def drop_docstrings(tree: ast.Module) -> None:
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and ast.get_docstring(node) is not None:
                    node.body[0] = ast.Expr(ast.Constant("another docstring"))

        rewritten = edit(source, drop_docstrings)
        assert rewritten != source and "#" not in rewritten.split("\n")[0]
        assert refused(verdicts(module, rewritten)) == {}


def test_a_changed_helper_refuses_exactly_its_callers(sources):
    def change(tree: ast.Module) -> None:
        top(tree, "_get_cgroup_cpu_limit").body.insert(0, ast.Pass())

    assert refused(verdicts(COMMON, edit(sources[COMMON], change))) == {
        "get_cpu_count": "changed"}


def test_a_helper_shared_by_two_refuses_both(sources):
    def change(tree: ast.Module) -> None:
        top(tree, "_is_cgroup_v2").body.insert(0, ast.Pass())

    assert refused(verdicts(COMMON, edit(sources[COMMON], change))) == {
        "get_cpu_count": "changed", "get_mem_size_gb": "changed"}


def test_a_changed_module_constant_counts(sources):
    """``logger`` is module state that find_free_port and the fd warning read."""
    def change(tree: ast.Module) -> None:
        top(tree, "logger").value = ast.Constant(None)

    assert refused(verdicts(COMMON, edit(sources[COMMON], change))) == {
        "find_free_port": "changed"}
    assert refused(verdicts(SUBPROCESS, edit(sources[SUBPROCESS], change))) == {
        "get_max_workers_for_file_mounts": "changed"}


def test_a_changed_import_counts(sources):
    def change(tree: ast.Module) -> None:
        for node in tree.body:
            if isinstance(node, ast.Import) and [a.name for a in node.names] == ["hashlib"]:
                node.names[0] = ast.alias(name="hashlib_compat", asname="hashlib")
                return
        raise LookupError("import hashlib")

    assert refused(verdicts(COMMON, edit(sources[COMMON], change))) == {
        "hash_file": "changed"}


def test_an_unrelated_change_refuses_nothing(sources):
    def change(tree: ast.Module) -> None:
        top(tree, "make_cluster_name_on_cloud").body.insert(0, ast.Pass())

    assert refused(verdicts(COMMON, edit(sources[COMMON], change))) == {}


def test_a_removed_function_is_missing(sources):
    def change(tree: ast.Module) -> None:
        tree.body.remove(top(tree, "truncate_long_string"))

    assert refused(verdicts(COMMON, edit(sources[COMMON], change))) == {
        "truncate_long_string": "missing"}


def test_the_fingerprint_is_the_listed_one(sources):
    """The table in _verified.py is what this interpreter's parser gives (any 3.9+)."""
    for module, source in sources.items():
        names = skypilot.UPSTREAM_NAMES[module]
        for name, found in _fingerprint.source_fingerprints(source, names).items():
            assert found in skypilot.FINGERPRINTS[module][name], name


class _SourceLoader:
    def __init__(self, source: str) -> None:
        self.source = source

    def get_source(self, name: str) -> str:
        return self.source


def test_an_altered_function_is_left_alone_and_named(sky, sources, clean_state):
    """activate_module (the start-up hook's and the plugin's path) on altered source."""
    def change(tree: ast.Module) -> None:
        top(tree, "base36_encode").body.insert(0, ast.Pass())

    altered = types.ModuleType(COMMON)
    altered.__spec__ = types.SimpleNamespace(loader=_SourceLoader(edit(sources[COMMON], change)))
    originals = {n: getattr(sky.common, n) for n in skypilot.UPSTREAM_NAMES[COMMON]}
    for name, function in originals.items():
        setattr(altered, name, function)
    with pytest.warns(skypilot.UnsupportedVersionWarning,
                      match=r"common_utils\.base36_encode \(changed\)") as record:
        skypilot.activate_module(altered, via="test")
    assert len(record) == 1
    assert "find_free_port" not in str(record[0].message)
    assert altered.base36_encode is originals["base36_encode"]
    for name in originals:
        if name != "base36_encode":
            assert getattr(altered, name) is getattr(skyfast, name), name
    assert skypilot.uninstall() is True
    for name, function in originals.items():
        assert getattr(altered, name) is function


def test_no_source_refuses_everything(sky, clean_state):
    blind = types.ModuleType(SUBPROCESS)
    blind.__spec__ = types.SimpleNamespace(loader=None)
    blind.get_parallel_threads = sky.subprocess.get_parallel_threads
    blind.get_max_workers_for_file_mounts = sky.subprocess.get_max_workers_for_file_mounts
    with pytest.warns(skypilot.UnsupportedVersionWarning, match="no source"):
        skypilot.activate_module(blind, via="test")
    assert not skypilot.is_installed()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert skypilot.uninstall() is False
