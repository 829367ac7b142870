"""The kernel layer (skyfast._kernel): one reader policy and one parser per kernel file.

The compiled core, the twin and the container-limits code all read cgroup files with
these parsers, in SkyPilot 0.14.1's grammar; the awkward inputs below (float syntax,
underscores, a zero or negative period, inf) give one answer everywhere.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any, Optional

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from skyfast import _kernel, _limits_py

AWKWARD_CPU_MAX = [
    ("1e5 1e5", 1.0),
    ("50_000 100000", 0.5),
    ("+200000 100000\n", 2.0),
    ("max 100000", None),
    ("100000 0", None),  # SkyPilot: ZeroDivisionError (a documented fix)
    ("inf 1", None),  # SkyPilot: OverflowError later (a documented fix)
    ("100000 -100000", None),  # SkyPilot: a negative count (a documented fix)
    ("500000us 100000", None),
    ("1 2 3", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "cores"), AWKWARD_CPU_MAX)
def test_cpu_max_one_answer(text: str, cores: Optional[float], limits: ModuleType) -> None:
    assert _kernel.cpu_max_cores(text) == cores
    assert limits.parse_cpu_max(text) == cores


@pytest.mark.parametrize(("quota", "period", "cores"), [
    ("1e5", "1e5", 1.0), ("50_000", "100000", 0.5), ("-1", "100000", None),
    ("100000", "0", None), ("inf", "inf", None), ("100000", "-5", None),
])
def test_cfs_one_answer(quota: str, period: str, cores: Optional[float],
                        limits: ModuleType) -> None:
    assert _kernel.cfs_cores(quota, period) == cores
    assert limits.parse_cfs_quota(quota, period) == cores


@pytest.mark.parametrize(("text", "limit"), [
    ("1073741824\n", 1 << 30), ("1_073_741_824", 1 << 30), ("+5", 5), ("max", None),
    ("", None), ("0", None), ("-1", None), ("1.5e9", None), ("\u0661\u0662", 12),
])
def test_memory_one_answer(text: str, limit: Optional[int], limits: ModuleType) -> None:
    assert _kernel.memory_limit_bytes(text) == limit
    assert limits.parse_memory_max(text) == limit


def _skypilot_cpu_limit(sky: Any, tmp_path: Any, cgroup_root: Any, text: str) -> Any:
    with cgroup_root(str(tmp_path), {"cgroup.controllers": "cpu\n", "cpu.max": text},
                     reference=sky):
        try:
            return ("ok", sky.common._get_cgroup_cpu_limit())
        except Exception as e:  # the reference's own error is the result
            return ("err", type(e))


@pytest.mark.reference
@given(text=st.one_of(
    st.from_regex(r"\A(max|[0-9_]{1,8}|[0-9]e[0-9]|-[0-9]{1,3})[ \t]{1,2}[0-9_e+]{1,8}\n?\Z"),
    st.text(max_size=20)))
@example("1e5 1e5")
@example("50_000 100000")
@example("1 1e400")
def test_cpu_max_is_skypilots_grammar(sky: Any, tmp_path_factory: Any, cgroup_root: Any,
                                      text: str) -> None:
    """Wherever SkyPilot's own parser answers with a positive finite limit, ours agrees."""
    if "\x00" in text or "\r" in text:
        return  # not representable in a file read in text mode the same way
    ref = _skypilot_cpu_limit(sky, tmp_path_factory.mktemp("cg"), cgroup_root, text)
    ours = _kernel.cpu_max_cores(text)
    if ref[0] == "ok" and ref[1] is not None and 0 <= ref[1] < float("inf"):
        assert ours == ref[1]  # 0.0 too ('1 1e400'): get_cpu_count then gives 1 (a fix)
    else:  # SkyPilot: no limit, or an error / negative count (the documented fixes)
        assert ours is None


def test_reader_policy(tmp_path: Any) -> None:
    """Regular files only, read whole; anything else is None, never an exception or a hang."""
    regular = tmp_path / "f"
    regular.write_bytes(b"\xff 1\n")
    assert _kernel.read_file(str(regular)) == b"\xff 1\n"
    assert _kernel.read_text(str(regular)) is None  # not UTF-8: SkyPilot's ValueError
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert _kernel.read_file(str(fifo)) is None  # no writer: must not block
    assert _kernel.read_file(str(tmp_path)) is None
    assert _kernel.read_file(str(tmp_path / "missing")) is None
    assert _kernel.read_file("a\x00b") is None


def test_fifo_in_place_of_a_cgroup_file_never_blocks(impl: ModuleType, tmp_path: Any,
                                                     pod_env: Any, cgroup_root: Any,
                                                     call_with_watchdog: Any) -> None:
    """The compiled core's small-file reader keeps the kernel layer's policy."""
    os.mkfifo(tmp_path / "cpu.max")
    os.mkfifo(tmp_path / "memory.max")
    with pod_env(), cgroup_root(str(tmp_path), {"cgroup.controllers": "cpu memory\n"}, impl):
        stepped_in, result = call_with_watchdog(lambda _: impl.get_cpu_count(),
                                                str(tmp_path / "cpu.max"))
        assert not stepped_in
        assert result[0] == "ok"


def test_limits_reads_through_the_kernel_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    real = _kernel.read_file

    def spy(path: str) -> Optional[bytes]:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(_kernel, "read_file", spy)
    _limits_py.read_limits()
    assert any(path.endswith("/self/cgroup") for path in seen)


_NUMBERS = st.one_of(st.integers(-10**6, 10**12).map(str), st.floats().map(repr),
                     st.text(max_size=12))


@given(quota=_NUMBERS, period=_NUMBERS)
@example(quota="-1\n", period="100000\n")
@example(quota="-1\n", period="garbage")
@example(quota="50000\n", period="100000\n")
@example(quota="nan", period="1")
@example(quota="inf", period="1e400")
def test_cfs_quota_may_limit_decides_without_the_period(quota, period):
    """The cores readers skip cpu.cfs_period_us when this says no: the period must not matter."""
    if not _kernel.cfs_quota_may_limit(quota):
        assert _kernel.cfs_cores(quota, period) is None
    else:
        assert float(quota) > 0
