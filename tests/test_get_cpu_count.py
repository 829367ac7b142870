"""get_cpu_count: docs/contract.md §2.2 env and cgroup vectors, Hypothesis differentials, FIXes."""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Any, Dict, Optional, Tuple

import psutil
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

ENV = "SKYPILOT_POD_CPU_CORE_LIMIT"


def host_limit() -> int:
    """min(host logical CPUs, affinity): the count with no cgroup limit, from psutil/os."""
    return min(psutil.cpu_count(), len(os.sched_getaffinity(0)))


def with_quota(cores: Optional[float]) -> int:
    """contract §2.2 item 2 plus the FIX of item 4 (never below 1)."""
    cpus = host_limit()
    if cores is not None:
        cpus = min(cpus, int(cores))
    return max(cpus, 1)


def spec_from_env(value: str) -> int:
    """contract §2.2 items 1 and 4."""
    try:
        cpus = int(float(value))
    except (ValueError, OverflowError):
        raise ValueError(f"Failed to parse the number of CPUs from {value}") from None
    return max(cpus, 1)


def v2(cpu_max: Any) -> Dict[str, Any]:
    return {"cgroup.controllers": "cpuset cpu io memory pids\n", "cpu.max": cpu_max,
            "memory.max": "max\n"}


def v1(quota: Any, period: Any) -> Dict[str, Any]:
    return {"cpu/cpu.cfs_quota_us": quota, "cpu/cpu.cfs_period_us": period,
            "cpu/cpu.shares": "2\n", "memory/memory.limit_in_bytes": "9223372036854771712\n"}


def parse_error(value: str) -> Tuple[Any, ...]:
    return ("err", ValueError, f"Failed to parse the number of CPUs from {value}")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("cpu")


def fresh(scratch: pathlib.Path) -> str:
    return tempfile.mkdtemp(dir=scratch)


# --- 1. contract vectors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("4", 4), ("4.9", 4), (" 7 ", 7), ("1e3", 1000), ("4_0", 40), ("\t12\n", 12),
     ("+3", 3), ("\u0663", 3), ("\uff14", 4), ("1e308", int(1e308)), ("2.0000001", 2)],
)
def test_env_values(impl, pod_env, value, expected):
    with pod_env(SKYPILOT_POD_CPU_CORE_LIMIT=value):
        result = impl.get_cpu_count()
    assert type(result) is int
    assert result == expected


@pytest.mark.parametrize("value", ["abc", "", "nan", "-nan", "1,5", "0x10", "4 4", "1__0"])
def test_env_parse_errors(impl, pod_env, outcome, value):
    with pod_env(SKYPILOT_POD_CPU_CORE_LIMIT=value):
        assert outcome(impl.get_cpu_count) == parse_error(value)
        with pytest.raises(ValueError) as info:
            impl.get_cpu_count()
    assert isinstance(info.value.__cause__, ValueError)  # raised from float()'s error


def test_empty_env_message_has_trailing_space(impl, pod_env):
    with pod_env(SKYPILOT_POD_CPU_CORE_LIMIT=""), pytest.raises(ValueError) as info:
        impl.get_cpu_count()
    assert str(info.value) == "Failed to parse the number of CPUs from "


def test_env_is_read_on_every_call(impl, pod_env):
    with pod_env(SKYPILOT_POD_CPU_CORE_LIMIT="3"):
        assert impl.get_cpu_count() == 3
        os.environ[ENV] = "5"
        assert impl.get_cpu_count() == 5
    assert impl.get_cpu_count() == impl.get_cpu_count()  # unset again


def test_env_wins_over_cgroup(impl, pod_env, cgroup_root, scratch):
    root = fresh(scratch)
    with cgroup_root(root, v2("100000 100000\n"), impl), pod_env(SKYPILOT_POD_CPU_CORE_LIMIT="64"):
        assert impl.get_cpu_count() == 64


@pytest.mark.parametrize(
    ("files", "cores"),
    [
        (v2("max 100000\n"), None),
        (v2("1600000 100000\n"), 16.0),
        (v2("200000 100000\n"), 2.0),
        (v2("100000 100000\n"), 1.0),
        (v2("150000 100000"), 1.5),
        (v2("  250000\t100000  \n"), 2.5),
        (v1("-1\n", "100000\n"), None),
        (v1("1600000\n", "100000\n"), 16.0),
        (v1("100000\n", "100000\n"), 1.0),
        (v1("150000\n", "100000\n"), 1.5),
        ({"cgroup.controllers": ""}, None),  # v2 without cpu.max
        ({}, None),  # v1 without the cpu controller
    ],
)
def test_cgroup_vectors(impl, pod_env, cgroup_root, scratch, files, cores):
    with pod_env(), cgroup_root(fresh(scratch), files, impl):
        result = impl.get_cpu_count()
    assert type(result) is int
    assert result == with_quota(cores)


def test_affinity_limits(impl, pod_env, cgroup_root, scratch):
    saved = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(saved)})
        with pod_env(), cgroup_root(fresh(scratch), v2("max 100000\n"), impl):
            assert impl.get_cpu_count() == 1
    finally:
        os.sched_setaffinity(0, saved)


def test_real_host(impl, pod_env):
    # Whatever this machine's cgroup says: within [1, host limit].
    with pod_env():
        assert 1 <= impl.get_cpu_count() <= host_limit()


# --- 4. FIXes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "reference_value"), [("0.5", 0), ("0", 0), ("-3", -3),
                                                         ("-0.9", 0), ("1e-9", 0)])
def test_fix_never_below_one_env(impl, pod_env, value, reference_value):
    with pod_env(SKYPILOT_POD_CPU_CORE_LIMIT=value):
        assert impl.get_cpu_count() == 1
        assert int(float(value)) == reference_value  # what the reference computes


@pytest.mark.reference
@pytest.mark.parametrize("value", ["0.5", "0", "-3"])
def test_fix_never_below_one_env_reference(impl, sky, pod_env, outcome, value):
    with pod_env(SKYPILOT_POD_CPU_CORE_LIMIT=value):
        ref = outcome(sky.common.get_cpu_count)
        ours = outcome(impl.get_cpu_count)
    assert ref == ("ok", int(float(value)))
    assert ours == ("ok", 1)


@pytest.mark.parametrize("files", [v2("50000 100000\n"), v1("50000\n", "100000\n"),
                                   v2("1000 1000000\n")])
def test_fix_sub_core_quota(impl, pod_env, cgroup_root, scratch, files):
    with pod_env(), cgroup_root(fresh(scratch), files, impl):
        assert impl.get_cpu_count() == 1


@pytest.mark.reference
def test_fix_sub_core_quota_reference(impl, sky, pod_env, cgroup_root, scratch, outcome):
    with pod_env(), cgroup_root(fresh(scratch), v2("50000 100000\n"), impl, sky):
        assert outcome(sky.common.get_cpu_count) == ("ok", 0)
        assert outcome(impl.get_cpu_count) == ("ok", 1)


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", " INF ", "1e400", "-1e999"])
def test_fix_inf_is_parse_error(impl, pod_env, outcome, value):
    with pod_env(SKYPILOT_POD_CPU_CORE_LIMIT=value):
        assert outcome(impl.get_cpu_count) == parse_error(value)


@pytest.mark.reference
def test_fix_inf_reference_overflows(impl, sky, pod_env, outcome):
    with pod_env(SKYPILOT_POD_CPU_CORE_LIMIT="inf"):
        ref = outcome(sky.common.get_cpu_count)
        ours = outcome(impl.get_cpu_count)
    assert ref[:2] == ("err", OverflowError)
    assert ours == parse_error("inf")


# --- 2. bad environment / file content -


@pytest.mark.parametrize("value", ["\u00a0", "\u0663.\u0665", "1e", ".", "-", "true", "0b11"])
def test_env_odd_strings_follow_float(impl, pod_env, outcome, value):
    with pod_env(SKYPILOT_POD_CPU_CORE_LIMIT=value):
        assert outcome(impl.get_cpu_count) == outcome(spec_from_env, value)


@pytest.mark.parametrize(
    "files",
    [
        v2("max"), v2(""), v2("   \n"), v2("100000"), v2("1 2 3"), v2("abc 100000"),
        v2("100000 abc"), v2("0 100000"), v2("-5 100000"), v2("100000 0"), v2("100000 -5"),
        v2("inf 100000"), v2("nan 100000"), v2("1e400 1"), v2("100000 nan"), v2("1 1e-400"),
        v2(b"\xff\xfe 100000"), v2(b"200000 100000\xff"), v2(None),
        v1("abc", "100000"), v1("100000", "abc"), v1("0", "100000"), v1("100000", "0"),
        v1("100000", "-100000"), v1("inf", "1"), v1("nan", "1"), v1("1", "1e-400"),
        v1("100000", None), v1(None, "100000"), v1(b"\xff", "100000"), v1("", ""),
    ],
)
def test_malformed_cgroup_is_no_limit(impl, py_impl, pod_env, cgroup_root, scratch, outcome, files):
    root = fresh(scratch)
    with pod_env(), cgroup_root(root, files, (impl, py_impl)):
        ours = outcome(impl.get_cpu_count)
        twin = outcome(py_impl.get_cpu_count)
    assert ours == ("ok", with_quota(None))
    assert ours == twin


def test_cgroup_controllers_directory_is_v1(impl, pod_env, cgroup_root, scratch):
    # v2 is detected by cgroup.controllers being a *file*.
    root = fresh(scratch)
    os.mkdir(os.path.join(root, "cgroup.controllers"))
    files = {"cpu.max": "100000 100000\n", **v1("-1", "100000")}
    with pod_env(), cgroup_root(root, files, impl):
        assert impl.get_cpu_count() == with_quota(None)


# --- 3. Hypothesis -

WS = st.sampled_from(["", " ", "\t", "\n", "  ", "\u3000", "\r\n"])
UNICODE_DIGITS = "0123456789\u0660\u0661\u0663\u06f5\u0967\uff10\uff14\U0001d7ce"
number_like = st.one_of(
    st.integers(-(10**6), 10**25).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-1e6, 1e6).map(str),
    st.tuples(st.integers(0, 999), st.integers(0, 999)).map(lambda t: f"{t[0]}_{t[1]}"),
    st.tuples(st.floats(0, 100), st.integers(-400, 400)).map(lambda t: f"{t[0]}e{t[1]}"),
    st.tuples(st.integers(0, 99), st.integers(-320, 320)).map(lambda t: f"{t[0]}E{t[1]:+d}"),
    st.text(alphabet=UNICODE_DIGITS + "._-+e", min_size=1, max_size=8),
    st.sampled_from(["inf", "-inf", "nan", "-nan", "Infinity", "+1", "1e", ".5", "5.", "0.99",
                     "-0.0", "1_000", "_1", "1__0", "0x10", "", "abc", "1,5",
                     "\u0663\u066b\u0665"]),
)
env_values = st.one_of(
    st.tuples(WS, number_like, WS).map("".join),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=12,
    ),
)


@given(value=env_values)
@example(value="0.5")
@example(value="1e400")
@example(value=" \u0667 ")
def test_env_matches_spec_and_twin(impl, py_impl, pod_env, outcome, value):
    with pod_env(SKYPILOT_POD_CPU_CORE_LIMIT=value):
        ours = outcome(impl.get_cpu_count)
        twin = outcome(py_impl.get_cpu_count)
    assert ours == outcome(spec_from_env, value)
    assert ours == twin


def reference_equivalent(ref: Tuple[Any, ...], value: Optional[str]) -> Tuple[Any, ...]:
    """The reference's outcome mapped through contract §3's get_cpu_count FIXes."""
    if ref[0] == "ok" and ref[1] < 1:
        return ("ok", 1)
    if ref[0] == "err" and ref[1] is OverflowError and value is not None:
        return parse_error(value)
    return ref


@pytest.mark.reference
@given(value=env_values)
def test_env_matches_reference(impl, sky, pod_env, outcome, value):
    with pod_env(SKYPILOT_POD_CPU_CORE_LIMIT=value):
        ours = outcome(impl.get_cpu_count)
        ref = outcome(sky.common.get_cpu_count)
    assert ours == reference_equivalent(ref, value)


quota_ints = st.one_of(st.integers(1, 10**7), st.sampled_from([1000, 50000, 100000, 150000]))
period_ints = st.one_of(st.integers(1000, 10**6), st.just(100000))


@st.composite
def kernel_shaped(draw: Any) -> Tuple[Dict[str, Any], Optional[float]]:
    """cgroup files a kernel writes, and the quota in cores contract §2.2 derives from them."""
    ws_end = draw(st.sampled_from(["\n", "", " \n"]))
    if draw(st.booleans()):
        period = draw(period_ints)
        if draw(st.integers(0, 3)) == 0:
            return v2(f"max {period}{ws_end}"), None
        quota = draw(quota_ints)
        sep = draw(st.sampled_from([" ", "  ", "\t"]))
        return v2(f"{quota}{sep}{period}{ws_end}"), quota / period
    period = draw(period_ints)
    if draw(st.integers(0, 3)) == 0:
        return v1(f"-1{ws_end}", f"{period}{ws_end}"), None
    quota = draw(quota_ints)
    return v1(f"{quota}{ws_end}", f"{period}{ws_end}"), quota / period


@given(case=kernel_shaped())
def test_kernel_shaped_cgroup(impl, py_impl, pod_env, cgroup_root, scratch, outcome, case):
    files, cores = case
    with pod_env(), cgroup_root(fresh(scratch), files, (impl, py_impl)):
        ours = outcome(impl.get_cpu_count)
        assert ours == ("ok", with_quota(cores))
        assert ours == outcome(py_impl.get_cpu_count)


@pytest.mark.reference
@given(case=kernel_shaped())
def test_kernel_shaped_cgroup_reference(impl, sky, pod_env, cgroup_root, scratch, outcome,
                                        case):
    files, _ = case
    with pod_env(), cgroup_root(fresh(scratch), files, impl, sky):
        ours = outcome(impl.get_cpu_count)
        ref = outcome(sky.common.get_cpu_count)
    assert ours == reference_equivalent(ref, None)


garbage_token = st.text(alphabet="abcdxyz:/#", min_size=1, max_size=6)
nonpositive = st.sampled_from(["0", "-1", "-5", "-100000", "0.0", "-0", "nan", "-inf"])
positive = st.integers(1, 10**7).map(str)


@st.composite
def malformed(draw: Any) -> Dict[str, Any]:
    """cgroup text contract §2.2 reads as "no limit" (no kernel writes it)."""
    if draw(st.booleans()):
        shape = draw(st.integers(0, 6))
        if shape == 0:  # wrong number of tokens
            n = draw(st.sampled_from([0, 1, 3, 4]))
            text = " ".join(draw(st.lists(positive, min_size=n, max_size=n)))
        elif shape == 1:
            text = f"{draw(garbage_token)} {draw(positive)}"
        elif shape == 2:
            text = f"{draw(positive)} {draw(garbage_token)}"
        elif shape == 3:
            text = f"{draw(nonpositive)} {draw(positive)}"
        elif shape == 4:
            text = f"{draw(positive)} {draw(nonpositive)}"
        elif shape == 5:
            text = f"{draw(st.sampled_from(['inf', '1e400', 'nan', 'Infinity']))} {draw(positive)}"
        else:
            text = f"max {draw(st.one_of(positive, garbage_token, nonpositive))}"
        data: Any = text.encode() + draw(st.sampled_from([b"", b"\n", b"\xff"]))
        return v2(data)
    kind = draw(st.integers(0, 3))
    q, p = draw(positive), draw(positive)
    if kind == 0:
        q = draw(st.one_of(garbage_token, nonpositive, st.sampled_from(["inf", "1e400"])))
    elif kind == 1:
        p = draw(st.one_of(garbage_token, nonpositive))
    elif kind == 2:
        q = draw(st.sampled_from([None, b"\xff\xfe", ""]))
    else:
        p = draw(st.sampled_from([None, b"\x80", ""]))
    return v1(q, p)


@given(files=malformed())
def test_malformed_generated(impl, py_impl, pod_env, cgroup_root, scratch, outcome, files):
    with pod_env(), cgroup_root(fresh(scratch), files, (impl, py_impl)):
        ours = outcome(impl.get_cpu_count)
        assert ours == ("ok", with_quota(None))
        assert ours == outcome(py_impl.get_cpu_count)
