"""get_mem_size_gb: SPEC 2.5 env and cgroup vectors, bit-exact floats, Hypothesis differentials."""

from __future__ import annotations

import math
import pathlib
import struct
import tempfile
from typing import Any, Dict, Optional, Tuple

import psutil
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

GIB = 1024**3


def mem_total() -> int:
    return psutil.virtual_memory().total


def with_limit(limit: Optional[int]) -> float:
    """SPEC 2.5 item 3: min(MemTotal, cgroup limit) / 1024**3."""
    total = mem_total()
    return (total if limit is None else min(total, limit)) / GIB


def spec_limit(text: Any) -> Optional[int]:
    """SPEC 2.5 item 3's parse of memory.max / memory.limit_in_bytes."""
    try:
        value = (text.decode("utf-8") if isinstance(text, bytes) else text).strip()
    except ValueError:
        return None
    if value == "max" or not value:
        return None
    try:
        limit = int(value)
    except ValueError:
        return None
    return limit if limit > 0 else None


def spec_from_env(gb: Optional[str], raw: Optional[str]) -> float:
    """SPEC 2.5 items 1 and 2 (callers only use it with one of the two set)."""
    if gb is not None:
        try:
            return float(gb)
        except ValueError:
            raise ValueError(f"Failed to parse the memory size from {gb} (GB)") from None
    assert raw is not None
    try:
        return float(raw) / GIB
    except ValueError:
        raise ValueError(f"Failed to parse the memory size from {raw} (bytes)") from None


def key(o: Tuple[Any, ...]) -> Tuple[Any, ...]:
    """Outcomes compared bit for bit (so nan == nan and -0.0 != 0.0)."""
    if o[0] == "ok" and isinstance(o[1], float):
        return ("ok", type(o[1]), struct.pack("<d", o[1]))
    return o


def v2(memory_max: Any) -> Dict[str, Any]:
    return {"cgroup.controllers": "cpu memory\n", "memory.max": memory_max,
            "cpu.max": "max 100000\n"}


def v1(limit: Any) -> Dict[str, Any]:
    return {"memory/memory.limit_in_bytes": limit, "cpu/cpu.cfs_quota_us": "-1\n",
            "cpu/cpu.cfs_period_us": "100000\n"}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("mem")


def fresh(scratch: pathlib.Path) -> str:
    return tempfile.mkdtemp(dir=scratch)


# --- 1. SPEC vectors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("4", 4.0), ("2.5", 2.5), (" 16 ", 16.0), ("1_0", 10.0), ("-1", -1.0), ("0", 0.0),
     ("-0", -0.0), ("inf", math.inf), ("-inf", -math.inf), ("1e400", math.inf),
     ("1e-400", 0.0), ("\u0664", 4.0), ("nan", math.nan), ("-nan", -math.nan)],
)
def test_gb_env(impl, pod_env, outcome, value, expected):
    with pod_env(SKYPILOT_POD_MEMORY_GB_LIMIT=value):
        assert key(outcome(impl.get_mem_size_gb)) == key(("ok", float(expected)))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(str(GIB), 1.0), ("1.5e9", 1.5e9 / GIB), ("0", 0.0), ("-1073741824", -1.0),
     (" 536870912\n", 0.5), ("3", 3 / GIB), ("inf", math.inf), (str(2**70), 2.0**70 / GIB)],
)
def test_bytes_env(impl, pod_env, outcome, value, expected):
    with pod_env(SKYPILOT_POD_MEMORY_BYTES_LIMIT=value):
        assert key(outcome(impl.get_mem_size_gb)) == key(("ok", expected))


@pytest.mark.parametrize(
    ("gb", "raw", "message"),
    [
        ("", None, "Failed to parse the memory size from  (GB)"),
        ("abc", None, "Failed to parse the memory size from abc (GB)"),
        ("4GB", "1073741824", "Failed to parse the memory size from 4GB (GB)"),
        (None, "", "Failed to parse the memory size from  (bytes)"),
        (None, "1Gi", "Failed to parse the memory size from 1Gi (bytes)"),
    ],
)
def test_env_errors(impl, pod_env, gb, raw, message):
    with pod_env(SKYPILOT_POD_MEMORY_GB_LIMIT=gb, SKYPILOT_POD_MEMORY_BYTES_LIMIT=raw):
        with pytest.raises(ValueError) as info:
            impl.get_mem_size_gb()
    assert type(info.value) is ValueError
    assert str(info.value) == message
    assert isinstance(info.value.__cause__, ValueError)


def test_gb_wins_over_bytes(impl, pod_env):
    with pod_env(SKYPILOT_POD_MEMORY_GB_LIMIT="8", SKYPILOT_POD_MEMORY_BYTES_LIMIT="garbage"):
        assert impl.get_mem_size_gb() == 8.0
    with pod_env(SKYPILOT_POD_MEMORY_GB_LIMIT="8", SKYPILOT_POD_MEMORY_BYTES_LIMIT=str(GIB)):
        assert impl.get_mem_size_gb() == 8.0


def test_env_wins_over_cgroup(impl, pod_env, cgroup_root, scratch):
    with cgroup_root(fresh(scratch), v2(f"{GIB}\n"), impl):
        with pod_env(SKYPILOT_POD_MEMORY_BYTES_LIMIT=str(2 * GIB)):
            assert impl.get_mem_size_gb() == 2.0
        with pod_env():
            assert impl.get_mem_size_gb() == with_limit(GIB)


@pytest.mark.parametrize(
    ("files", "limit"),
    [
        (v2(f"{GIB}\n"), GIB),
        (v2("max\n"), None),
        (v2("\n"), None),
        (v2("0\n"), None),
        (v2("-1\n"), None),
        (v2(str(2**62)), None),  # more than the host: MemTotal
        (v2("536870912"), 512 * 1024**2),
        (v2(" 1_073_741_824 "), GIB),
        (v2(None), None),
        (v1("9223372036854771712\n"), None),  # v1's "unlimited"
        (v1(f"{3 * GIB}\n"), 3 * GIB),
        (v1("12345"), 12345),
        (v1("abc"), None),
        (v1(b"\xff"), None),
        (v1("1.5e9"), None),  # int(), not float()
        ({}, None),
    ],
)
def test_cgroup_vectors(impl, pod_env, cgroup_root, scratch, files, limit):
    with pod_env(), cgroup_root(fresh(scratch), files, impl):
        result = impl.get_mem_size_gb()
    assert type(result) is float
    assert struct.pack("<d", result) == struct.pack("<d", with_limit(limit))


def test_real_host(impl, pod_env):
    with pod_env():
        result = impl.get_mem_size_gb()
    assert type(result) is float
    assert 0 < result <= mem_total() / GIB


# --- 2. bad environment strings -


@pytest.mark.parametrize("value", ["\u00a0", "1e", ".", "-", "true", "0x10", "1__0", "1,5", "4 4"])
def test_env_odd_strings_follow_float(impl, pod_env, outcome, value):
    with pod_env(SKYPILOT_POD_MEMORY_GB_LIMIT=value):
        assert key(outcome(impl.get_mem_size_gb)) == key(outcome(spec_from_env, value, None))
    with pod_env(SKYPILOT_POD_MEMORY_BYTES_LIMIT=value):
        assert key(outcome(impl.get_mem_size_gb)) == key(outcome(spec_from_env, None, value))


# --- 3. Hypothesis -

WS = st.sampled_from(["", " ", "\t", "\n", "\u3000"])
number_like = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.tuples(st.integers(0, 999), st.integers(0, 999)).map(lambda t: f"{t[0]}_{t[1]}"),
    st.tuples(st.floats(0, 100), st.integers(-400, 400)).map(lambda t: f"{t[0]}e{t[1]}"),
    st.text(alphabet="0123456789\u0660\u0663\uff14._-+eE", min_size=1, max_size=10),
    st.sampled_from(["inf", "-inf", "nan", "-nan", "", "abc", "1Gi", "0x1f", "-0"]),
)
env_values = st.one_of(
    st.tuples(WS, number_like, WS).map("".join),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
            max_size=10),
)
env_pairs = st.one_of(
    st.tuples(env_values, st.none()),
    st.tuples(st.none(), env_values),
    st.tuples(env_values, env_values),
)


@given(pair=env_pairs)
@example(pair=("-nan", None))
@example(pair=(None, "1e400"))
def test_env_matches_spec_and_twin(impl, py_impl, pod_env, outcome, pair):
    gb, raw = pair
    with pod_env(SKYPILOT_POD_MEMORY_GB_LIMIT=gb, SKYPILOT_POD_MEMORY_BYTES_LIMIT=raw):
        ours = key(outcome(impl.get_mem_size_gb))
        assert ours == key(outcome(py_impl.get_mem_size_gb))
    assert ours == key(outcome(spec_from_env, gb, raw))


@pytest.mark.reference
@given(pair=env_pairs)
def test_env_matches_reference(impl, sky, pod_env, outcome, pair):
    gb, raw = pair
    with pod_env(SKYPILOT_POD_MEMORY_GB_LIMIT=gb, SKYPILOT_POD_MEMORY_BYTES_LIMIT=raw):
        assert key(outcome(impl.get_mem_size_gb)) == key(outcome(sky.common.get_mem_size_gb))


memory_texts = st.one_of(
    st.integers(1, 2**63).map(lambda n: f"{n}\n"),
    st.integers(1, 64).map(lambda n: f"{n * GIB}\n"),
    st.sampled_from(["max\n", "-1\n", "0\n", "9223372036854771712\n", "", "\n"]),
    st.tuples(WS, st.integers(-(2**64), 2**64).map(str), WS).map("".join),
    st.text(alphabet="0123456789\u0663 _-+xmax\n\r\t", max_size=20),
    st.binary(max_size=12),
)


@st.composite
def memory_trees(draw: Any) -> Tuple[Dict[str, Any], Any]:
    text = draw(memory_texts)
    return (v2(text) if draw(st.booleans()) else v1(text)), text


@given(case=memory_trees())
def test_cgroup_matches_spec_and_twin(impl, py_impl, pod_env, cgroup_root, scratch, outcome,
                                      case):
    files, text = case
    with pod_env(), cgroup_root(fresh(scratch), files, (impl, py_impl)):
        ours = key(outcome(impl.get_mem_size_gb))
        assert ours == key(outcome(py_impl.get_mem_size_gb))
    assert ours == key(("ok", with_limit(spec_limit(text))))


@pytest.mark.reference
@given(case=memory_trees())
def test_cgroup_matches_reference(impl, sky, pod_env, cgroup_root, scratch, outcome, case):
    # The reference catches every parse error here (ValueError, OSError): EXACT on all text.
    files, _ = case
    with pod_env(), cgroup_root(fresh(scratch), files, impl, sky):
        assert key(outcome(impl.get_mem_size_gb)) == key(outcome(sky.common.get_mem_size_gb))


def test_fake_root_is_restored(impl, pod_env, cgroup_root, scratch):
    """After the fake tree is gone, the real host's value comes back (not a stale limit)."""
    with pod_env():
        real = impl.get_mem_size_gb()
        with cgroup_root(fresh(scratch), v2("4096\n"), impl):
            assert impl.get_mem_size_gb() == 4096 / GIB
        assert impl.get_mem_size_gb() == real
