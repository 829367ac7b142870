"""The one cache (skyfast._cache): one window, one clear, one fork rule for every layer.

The compiled core keeps its entries in C, the twin and the limits code in _cache; a
window set or a clear made through any of them reaches all.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Iterator

import pytest

import skyfast
from skyfast import _cache, _core_py, _limits_py


@pytest.fixture
def restore_ttl() -> Iterator[None]:
    yield
    _cache.set_cache_ttl(0)  # the suite runs with the cache off


@pytest.mark.parametrize("setter", ["cache", "core", "twin", "public"])
def test_one_window(compiled_core: ModuleType, restore_ttl: None, setter: str) -> None:
    module = {"cache": _cache, "core": compiled_core, "twin": _core_py, "public": skyfast}[setter]
    for seconds in (0.5, 0, 0.020):
        module.set_cache_ttl(seconds)
        for other in (_cache, compiled_core, _core_py, skyfast):
            assert other.get_cache_ttl() == seconds


@pytest.mark.parametrize("clearer", ["cache", "core", "twin", "limits"])
def test_one_clear(compiled_core: ModuleType, restore_ttl: None, tmp_path, clearer: str,
                   pod_env) -> None:
    """A cgroup quota cached by the compiled core is dropped by any layer's clear_cache()."""
    (tmp_path / "cgroup.controllers").write_text("cpu\n")
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    clear = {"cache": _cache.clear_cache, "core": compiled_core.clear_cache,
             "twin": _core_py.clear_cache, "limits": _limits_py.clear_cache}[clearer]
    compiled_core._set_roots(cgroup=str(tmp_path))
    try:
        with pod_env():
            _cache.set_cache_ttl(60)
            assert compiled_core.get_cpu_count() == 1
            (tmp_path / "cpu.max").write_text("max 100000\n")
            assert compiled_core.get_cpu_count() == 1  # cached
            clear()
            assert compiled_core.get_cpu_count() == min(os.cpu_count() or 1,
                                                        len(os.sched_getaffinity(0)))
    finally:
        compiled_core._set_roots()


def test_entries_of_another_process_are_not_used(restore_ttl: None) -> None:
    _cache.set_cache_ttl(60)
    assert _cache.cached("test.key", lambda: "mine") == "mine"
    assert _cache.cached("test.key", lambda: "again") == "mine"
    # What a parent left behind before fork() (another pid) is recomputed.
    _cache._entries["test.key"] = (os.getpid() + 1, float("inf"), "parent's")
    assert _cache.cached("test.key", lambda: "child's") == "child's"


def test_bad_windows_are_refused() -> None:
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="cache ttl must be a finite number >= 0"):
            _cache.set_cache_ttl(bad)
