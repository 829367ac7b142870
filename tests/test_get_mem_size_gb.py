"""get_mem_size_gb: docs/contract.md §2.5 env and cgroup vectors, bit-exact floats, Hypothesis
differentials, MemTotal from /proc/meminfo (fake procfs roots, a bind mount, EMFILE)."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import tempfile
from types import ModuleType
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple, Union

import psutil
import pytest
from _guards import HANG_GUARD
from _oracles import spec_limit
from _reliability import run_child
from hypothesis import example, given
from hypothesis import strategies as st

from skyfast._cache import DEFAULT_TTL

GIB = 1024**3


def mem_total() -> int:
    return psutil.virtual_memory().total


def with_limit(limit: Optional[int]) -> float:
    """contract §2.5 item 3: min(MemTotal, cgroup limit) / 1024**3."""
    total = mem_total()
    return (total if limit is None else min(total, limit)) / GIB


def spec_from_env(gb: Optional[str], raw: Optional[str]) -> float:
    """contract §2.5 items 1 and 2 (callers only use it with one of the two set)."""
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


# --- 1. contract vectors --------------------------------------------------------------------------


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


# --- 4. MemTotal from /proc/meminfo -----------------------------------------------------------
# SkyPilot takes the host's memory from psutil.virtual_memory().total, which is MemTotal of
# f"{psutil.PROCFS_PATH}/meminfo": under LXCFS (LXD, some Kubernetes pods) that file holds the
# container's memory.  skyfast reads the same line (it used sysconf(SC_PHYS_PAGES), the host's
# memory, before: every test below that expects a MemTotal other than the host's, or an OSError,
# fails on that).  A file psutil cannot parse (no kernel writes one) raises psutil's own
# KeyError/ValueError/IndexError, as SkyPilot does.

# /proc/meminfo of a 24 GiB Linux 6.x host, in kernel order; psutil needs MemFree, and warns
# (an error under this suite's filterwarnings) without Buffers, Cached, Shmem, Active, Inactive.
HOST_MEMINFO: Tuple[Tuple[str, int], ...] = (
    ("MemTotal", 24683656), ("MemFree", 23570812), ("MemAvailable", 24057780),
    ("Buffers", 10688), ("Cached", 620624), ("SwapCached", 0), ("Active", 263968),
    ("Inactive", 512644), ("Active(anon)", 1536), ("Inactive(anon)", 152692),
    ("Active(file)", 262432), ("Inactive(file)", 359952), ("Unevictable", 11224),
    ("Mlocked", 10208), ("SwapTotal", 0), ("SwapFree", 0), ("Dirty", 5572), ("Writeback", 0),
    ("AnonPages", 156564), ("Mapped", 47416), ("Shmem", 8924), ("KReclaimable", 147600),
    ("Slab", 174016), ("SReclaimable", 147600), ("SUnreclaim", 26416), ("KernelStack", 1488),
    ("PageTables", 2348), ("NFS_Unstable", 0), ("Bounce", 0), ("WritebackTmp", 0),
    ("CommitLimit", 12341828), ("Committed_AS", 287532), ("VmallocTotal", 34359738367),
    ("VmallocUsed", 14236), ("VmallocChunk", 0), ("Percpu", 688), ("HugePages_Total", 0),
    ("HugePages_Free", 0), ("HugePages_Rsvd", 0), ("HugePages_Surp", 0), ("Hugepagesize", 2048),
    ("Hugetlb", 0), ("DirectMap4k", 28672), ("DirectMap2M", 2068480),
    ("DirectMap1G", 25165824),
)


def meminfo_text(total_kb: Optional[int], **changes: int) -> str:
    """HOST_MEMINFO with MemTotal = total_kb (None: no MemTotal line), printed as the kernel
    does ("%-16s%8lu kB"; HugePages_* without a unit).  ``changes`` replace other values
    (keys with parentheses spelt with '_' for them: Active_anon_ -> Active(anon))."""
    values = {k.replace("_anon_", "(anon)").replace("_file_", "(file)"): v
              for k, v in changes.items()}
    lines = []
    for name, value in HOST_MEMINFO:
        if name == "MemTotal":
            if total_kb is None:
                continue
            value = total_kb
        value = values.get(name, value)
        unit = "" if name.startswith("HugePages_") else " kB"
        lines.append(f"{name + ':':<16}{value:>8}{unit}\n")
    return "".join(lines)


def lxcfs_meminfo(total_kb: int) -> str:
    """What LXCFS serves as /proc/meminfo in a container limited to ``total_kb``: MemTotal,
    MemFree, MemAvailable, swap and page-cache lines are the container's, the rest (Vmalloc,
    CommitLimit, DirectMap -- larger than MemTotal) stay the host's."""
    used = total_kb // 8
    return meminfo_text(
        total_kb, MemFree=total_kb - used, MemAvailable=total_kb - used // 2, Buffers=0,
        Cached=used // 2, Active=used // 2, Inactive=used // 2, Active_anon_=used // 4,
        Inactive_anon_=used // 4, Active_file_=used // 4, Inactive_file_=used // 4,
        Shmem=0, Slab=1024, SReclaimable=512, SUnreclaim=512, SwapTotal=0, SwapFree=0,
    )


class _Directory:
    """Marker: /proc/meminfo is a directory in the fake procfs."""


DIRECTORY = _Directory()
Meminfo = Union[str, bytes, None, _Directory]


@contextlib.contextmanager
def fake_procfs(
    base: str,
    meminfo: Meminfo,
    modules: Union[ModuleType, Sequence[ModuleType]],
    cgroup_root: Any,
    reference: Any = None,
) -> Iterator[str]:
    """A fake procfs root under ``base`` holding ``meminfo`` (None: absent; DIRECTORY: a
    directory), beside an empty fake cgroup tree (so no limit applies).

    skyfast ``modules`` read both through ``_set_roots(proc=..., cgroup=...)``; SkyPilot (the
    ``sky`` fixture as ``reference``) through psutil.PROCFS_PATH and the ``cgroup_root``
    fixture.  Yields the procfs root; everything is restored on exit.
    """
    proc = os.path.join(base, "proc")
    cgroup = os.path.join(base, "cgroup")
    os.makedirs(proc)
    os.makedirs(cgroup)
    path = os.path.join(proc, "meminfo")
    if isinstance(meminfo, _Directory):
        os.mkdir(path)
    elif meminfo is not None:
        with open(path, "wb") as f:
            f.write(meminfo.encode("utf-8") if isinstance(meminfo, str) else meminfo)
    if isinstance(modules, ModuleType):
        modules = (modules,)
    saved_procfs = psutil.PROCFS_PATH
    try:
        with cgroup_root(cgroup, {}, (), reference):
            for module in modules:
                module._set_roots(proc=proc, cgroup=cgroup)
            if reference is not None:
                psutil.PROCFS_PATH = proc  # psutil's linux module reads it at every call
            yield proc
    finally:
        psutil.PROCFS_PATH = saved_procfs
        for module in modules:
            module._set_roots()


def replace_total(text: str, *lines: str) -> str:
    """``text`` (meminfo_text) with its MemTotal line replaced by ``lines``."""
    kept = [line for line in text.splitlines(keepends=True) if not line.startswith("MemTotal:")]
    return "".join(lines) + "".join(kept)


BASE = meminfo_text(4 * 1024**2)

# (meminfo, GiB): files psutil reads without error, so SkyPilot gives the same value.
MEMTOTAL_CASES = {
    "kernel-4GiB": (BASE, 4.0),
    "lxcfs-2GiB": (lxcfs_meminfo(2 * 1024**2), 2.0),
    "lxcfs-1500MB": (lxcfs_meminfo(1536000), 1536000 * 1024 / GIB),
    "lxcfs-512MiB-odd-kB": (lxcfs_meminfo(524289), 524289 * 1024 / GIB),
    # psutil keeps the last value of a repeated key (a dict): so does skyfast.
    "repeated-last-wins": (replace_total(BASE, "MemTotal: 8388608 kB\n")
                           + "MemTotal:        4194304 kB\n", 4.0),
    "repeated-smaller-first": (replace_total(BASE, "MemTotal: 1048576 kB\n")
                               + "MemTotal: 4194304 kB\n", 4.0),
    # psutil splits on any whitespace and int()s the second field (bytes): so does skyfast.
    "tabs-crlf": (replace_total(BASE, "MemTotal:\t4194304\tkB\r\n"), 4.0),
    "no-unit-leading-space": (replace_total(BASE, "  MemTotal: 4194304\n"), 4.0),
    "underscores-plus-zeros": (replace_total(BASE, "MemTotal: +0_004_194_304 kB\n"), 4.0),
    "last-line-no-newline": (BASE + "MemTotal: 2097152 kB", 2.0),
    "zero": (replace_total(BASE, "MemTotal: 0 kB\n"), 0.0),
    "negative": (replace_total(BASE, "MemTotal: -4 kB\n"), -4096 / GIB),
    "huge-2**52-kB": (replace_total(BASE, f"MemTotal: {2**52} kB\n"), 2.0**62 / GIB),
}

# (meminfo, SkyPilot's exception type): files psutil cannot parse; skyfast raises the same.
UNPARSABLE_CASES = {
    "blank-line": (BASE + "\n" + "Zswap: 0 kB\n", IndexError),
    "no-MemFree": ("".join(line for line in BASE.splitlines(keepends=True)
                           if not line.startswith("MemFree:")), KeyError),
    "bad-number-elsewhere": (BASE + "Zswap: 1.5 kB\n", ValueError),
    "no-MemTotal": (meminfo_text(None), KeyError),
    "empty-file": ("", KeyError),
    "no-space-after-colon": (replace_total(BASE, "MemTotal:4194304 kB\n"), ValueError),
    "lowercase-key": (replace_total(BASE, "memtotal: 4194304 kB\n"), KeyError),
    "not-a-number": (replace_total(BASE, "MemTotal: many kB\n"), ValueError),
    "non-ascii-digit": (replace_total(BASE, "MemTotal: \u0664 kB\n"), ValueError),
    "no-value": (replace_total(BASE, "MemTotal:\n"), IndexError),
    "last-of-two-unparsable": (BASE + "MemTotal: 4.0 GB\n", ValueError),
}

# meminfo that cannot be read: the OSError open()/read() raise, naming the file.
UNREADABLE_CASES = {"missing": (None, FileNotFoundError, errno.ENOENT),
                    "directory": (DIRECTORY, IsADirectoryError, errno.EISDIR)}


@pytest.mark.parametrize(("text", "expected"), MEMTOTAL_CASES.values(), ids=MEMTOTAL_CASES)
def test_fake_procfs_memtotal(impl, pod_env, cgroup_root, scratch, text, expected):
    # Old behaviour (sysconf): the host's memory, never these values.
    with pod_env(), fake_procfs(fresh(scratch), text, impl, cgroup_root):
        result = impl.get_mem_size_gb()
    assert type(result) is float
    assert struct.pack("<d", result) == struct.pack("<d", expected)


@pytest.mark.parametrize(("text", "exc_type"), UNPARSABLE_CASES.values(), ids=UNPARSABLE_CASES)
def test_fake_procfs_unparsable_raises_like_psutil(impl, pod_env, cgroup_root, scratch, text,
                                                   exc_type):
    # Old behaviour (sysconf): a float, no exception.
    with pod_env(), fake_procfs(fresh(scratch), text, impl, cgroup_root):
        with pytest.raises(exc_type):
            impl.get_mem_size_gb()


def test_fake_procfs_memtotal_capped_by_cgroup(impl, pod_env, cgroup_root, scratch):
    """min(MemTotal, cgroup limit): either side may be the smaller."""
    base = fresh(scratch)
    with pod_env(), fake_procfs(base, BASE, impl, cgroup_root):
        cgroup = os.path.join(base, "cgroup")
        with open(os.path.join(cgroup, "cgroup.controllers"), "w") as f:
            f.write("cpu memory\n")
        for limit, expected in ((f"{GIB}\n", 1.0), (f"{8 * GIB}\n", 4.0), ("max\n", 4.0)):
            with open(os.path.join(cgroup, "memory.max"), "w") as f:
                f.write(limit)
            assert impl.get_mem_size_gb() == expected


@pytest.mark.parametrize(("text", "exc_type", "code"), UNREADABLE_CASES.values(),
                         ids=UNREADABLE_CASES)
def test_fake_procfs_unreadable_raises(impl, pod_env, cgroup_root, scratch, text, exc_type,
                                       code):
    # Old behaviour (sysconf): a float, no exception.
    with pod_env(), fake_procfs(fresh(scratch), text, impl, cgroup_root) as proc:
        path = f"{proc}/meminfo"
        with pytest.raises(OSError) as info:
            impl.get_mem_size_gb()
    assert type(info.value) is exc_type
    assert info.value.errno == code
    assert info.value.filename == path
    assert str(info.value) == f"[Errno {code}] {os.strerror(code)}: {path!r}"


def test_fake_procfs_is_restored(impl, pod_env, cgroup_root, scratch):
    """_set_roots() brings the real /proc/meminfo back (no stale fake MemTotal)."""
    with pod_env():
        real = impl.get_mem_size_gb()
        with fake_procfs(fresh(scratch), BASE, impl, cgroup_root):
            assert impl.get_mem_size_gb() == 4.0
        assert impl.get_mem_size_gb() == real


@pytest.mark.reference
@pytest.mark.parametrize(
    "text",
    [*(text for text, _ in MEMTOTAL_CASES.values()),
     *(text for text, _, _ in UNREADABLE_CASES.values())],
    ids=[*MEMTOTAL_CASES, *UNREADABLE_CASES],
)
def test_fake_procfs_matches_reference(impl, sky, pod_env, cgroup_root, scratch, outcome, text):
    # SkyPilot with psutil.PROCFS_PATH on the same fake procfs: same float bit for bit, or the
    # same exception type and message ("[Errno 2] No such file or directory: '.../meminfo'").
    with pod_env(), fake_procfs(fresh(scratch), text, impl, cgroup_root, sky):
        ours = outcome(impl.get_mem_size_gb)
        theirs = outcome(sky.common.get_mem_size_gb)
    assert key(ours) == key(theirs)
    assert ours[0] == "ok" or issubclass(ours[1], OSError)


@pytest.mark.reference
@pytest.mark.parametrize(("text", "exc_type"), UNPARSABLE_CASES.values(), ids=UNPARSABLE_CASES)
def test_fake_procfs_unparsable_matches_reference(impl, sky, pod_env, cgroup_root, scratch,
                                                  outcome, text, exc_type):
    """psutil raises on these files; skyfast raises the same type and message."""
    with pod_env(), fake_procfs(fresh(scratch), text, impl, cgroup_root, sky):
        ours = outcome(impl.get_mem_size_gb)
        theirs = outcome(sky.common.get_mem_size_gb)
    assert theirs[:2] == ("err", exc_type)
    assert ours == theirs


# A MemTotal line as psutil parses it: any whitespace, optional unit, sign, zeros, underscores.
# Values well past a C long long (bytes of 2**70 kB): the division must stay exact.
memtotal_values = st.integers(-(2**70), 2**70)
memtotal_lines = st.builds(
    lambda lead, value, fmt, sep, unit, end: f"{lead}MemTotal:{sep}{fmt(value)}{unit}{end}",
    st.sampled_from(["", " ", "\t"]),
    memtotal_values,
    st.sampled_from([str, lambda n: f"{n:_}", lambda n: f"{n:+}", lambda n: f"{n:012}"]),
    st.sampled_from([" ", "\t", "       ", " \x0b "]),
    st.sampled_from([" kB", "", "\tkB", " KiB"]),
    st.sampled_from(["\n", "\r\n"]),
)


@st.composite
def meminfo_files(draw: Any) -> str:
    """A file psutil reads: the host lines, one or more MemTotal lines here and there."""
    lines = meminfo_text(None).splitlines(keepends=True)
    for line in draw(st.lists(memtotal_lines, min_size=1, max_size=3)):
        lines.insert(draw(st.integers(0, len(lines))), line)
    return "".join(lines)


@pytest.mark.twin_only
@given(text=meminfo_files())
def test_fake_procfs_twin_matches(impl, py_impl, pod_env, cgroup_root, scratch, outcome, text):
    with pod_env(), fake_procfs(fresh(scratch), text, (impl, py_impl), cgroup_root):
        ours = key(outcome(impl.get_mem_size_gb))
        assert ours == key(outcome(py_impl.get_mem_size_gb))
    assert ours[0] == "ok"


@pytest.mark.reference
@given(text=meminfo_files())
def test_fake_procfs_matches_reference_hypothesis(impl, sky, pod_env, cgroup_root, scratch,
                                                  outcome, text):
    with pod_env(), fake_procfs(fresh(scratch), text, impl, cgroup_root, sky):
        theirs = outcome(sky.common.get_mem_size_gb)
        assert theirs[0] == "ok", theirs  # the strategy only writes files psutil reads
        assert key(outcome(impl.get_mem_size_gb)) == key(theirs)


# --- 5. a real /proc/meminfo replaced by a bind mount (a private mount namespace) -------------

_BIND_CHILD = r"""
import ctypes, json, os, sys, warnings
warnings.simplefilter("ignore")  # SkyPilot's own imports warn (SQLAlchemy)
import skyfast, skyfast._core as core, skyfast._core_py as twin
from sky.utils import common_utils
for module in (skyfast, core, twin):
    module.set_cache_ttl(0)
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                       ctypes.c_void_p]
MS_BIND = 4096

def bind(source, target):
    if libc.mount(source.encode(), target.encode(), None, MS_BIND, None) != 0:
        print(json.dumps(["no-mount", target, os.strerror(ctypes.get_errno())]), flush=True)
        sys.exit(0)

def values():
    return {"core": core.get_mem_size_gb(), "twin": twin.get_mem_size_gb(),
            "public": skyfast.get_mem_size_gb(), "sky": common_utils.get_mem_size_gb()}

fake, empty = sys.argv[1:3]
bind(fake, "/proc/meminfo")
with open("/proc/meminfo") as f:
    seen = f.read()
limit = common_utils._get_cgroup_memory_limit()
with_cgroup = values()
bind(empty, "/sys/fs/cgroup")  # hide this machine's cgroup memory limit too
without_cgroup = values()
print(json.dumps(["ok", sorted(k for k in os.environ if k.startswith("SKYPILOT_POD_")),
                  core.__file__, seen, limit, with_cgroup, without_cgroup]), flush=True)
"""


def host_mounts_at(*targets: str) -> Dict[str, int]:
    """How many mounts this process sees at each of ``targets`` (mountinfo field 5)."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return {target: points.count(target) for target in targets}


def memtotal_line(path: str = "/proc/meminfo") -> str:
    with open(path) as f:
        return next(line for line in f if line.startswith("MemTotal:"))


def test_bind_mounted_proc_meminfo(child_env, tmp_path, sky):
    """A real /proc/meminfo saying 4 GiB (as LXCFS bind-mounts it) in a child's private mount
    namespace: the compiled core, the twin, the public API and SkyPilot all say 4.0.

    The old behaviour (sysconf) gives the host's memory there, not 4.0.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root to bind-mount over /proc/meminfo")
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare(1) is not installed")
    command = [unshare, "--mount", "--propagation", "private"]
    probe = subprocess.run([*command, "true"], capture_output=True, text=True, timeout=HANG_GUARD,
                           check=False)
    if probe.returncode != 0:
        pytest.skip(f"unshare --mount does not work here: {probe.stderr.strip()[:200]}")
    import skyfast._core as core  # the child must import this very build

    fake = tmp_path / "meminfo"
    fake.write_text(meminfo_text(4 * 1024**2))
    empty = tmp_path / "empty"
    empty.mkdir()
    host_line = memtotal_line()
    host_mounts = host_mounts_at("/proc/meminfo", "/sys/fs/cgroup")
    assert host_line != "MemTotal:        4194304 kB\n", "the host itself has exactly 4 GiB"

    proc = subprocess.run([*command, sys.executable, "-c", _BIND_CHILD, str(fake), str(empty)],
                          env=child_env, capture_output=True, text=True, timeout=HANG_GUARD,
                          check=False)
    try:
        assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        if result[0] == "no-mount":
            pytest.skip(f"mount --bind over {result[1]} failed: {result[2]}")
        _, pod_vars, core_file, seen, limit, with_cgroup, without_cgroup = result
        assert pod_vars == []
        assert os.path.samefile(core_file, core.__file__)
        assert seen == fake.read_text()  # the mount took effect in the child
        # This machine's cgroup limit still applies (as SkyPilot applies it) ...
        expected = min(4 * GIB, limit) / GIB if limit is not None else 4.0
        assert with_cgroup == dict.fromkeys(("core", "twin", "public", "sky"), expected)
        # ... and without it, MemTotal alone decides: exactly 4.0 everywhere.
        assert without_cgroup == dict.fromkeys(("core", "twin", "public", "sky"), 4.0)
    finally:
        # The mounts lived and died with the child's namespace: the host's are untouched.
        assert memtotal_line() == host_line
        assert host_mounts_at("/proc/meminfo", "/sys/fs/cgroup") == host_mounts


# --- 6. EMFILE: SkyPilot's open() of /proc/meminfo fails; skyfast's must fail alike -----------

_EMFILE_CHILD = r"""
import resource, warnings
warnings.simplefilter("ignore")  # SkyPilot's own imports warn (SQLAlchemy)
from sky.utils import common_utils
calls = {"impl": impl.get_mem_size_gb, "sky": common_utils.get_mem_size_gb}
before = {name: outcome(fn) for name, fn in calls.items()}  # every lazy import done now
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 64), hard))
fds = []
try:
    while True:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as e:
    exhausted = e.errno
during = {name: outcome(fn) for name, fn in calls.items()}
for fd in fds:
    os.close(fd)
after = {name: outcome(fn) for name, fn in calls.items()}
emit([exhausted, len(fds), before, during, after])
"""


def test_emfile_raises_like_reference(impl, child_env, sky):
    """With no descriptor left, psutil's open('/proc/meminfo') raises EMFILE for SkyPilot;
    both skyfast implementations raise the same OSError (the old sysconf code returned)."""
    exhausted, opened, before, during, after = run_child(impl.__name__, _EMFILE_CHILD,
                                                          env=child_env)
    assert exhausted == errno.EMFILE and opened > 0
    assert before["impl"] == before["sky"] and before["impl"][0] == "ok"
    assert during["impl"] == during["sky"] == [
        "err", "OSError", errno.EMFILE, "[Errno 24] Too many open files: '/proc/meminfo'"]
    assert after == before


# --- 6. the kernel's own /proc/meminfo: sysinfo(2) in place of the text (compiled core) ------
# Where statfs(2) says /proc/meminfo is on procfs, the compiled core takes MemTotal from
# sysinfo(2) (the same kernel counter, docs/implementation.md); anything else is read.


def memtotal_bytes_from_text(path: str = "/proc/meminfo") -> int:
    """The oracle: MemTotal's kB field of the file, times 1024 (as psutil reads it)."""
    fields = memtotal_line(path).split()
    assert fields[0] == "MemTotal:" and fields[2] == "kB", fields
    return int(fields[1]) * 1024


def test_kernel_meminfo_answer_is_memtotal_exactly(impl, pod_env, cgroup_root, scratch):
    """On this kernel's real /proc (no cgroup limit in the way): MemTotal to the byte."""
    with pod_env(), cgroup_root(fresh(scratch), {}, impl):
        impl.set_cache_ttl(0)
        try:
            for _ in range(3):
                result = impl.get_mem_size_gb()
                assert struct.pack("<d", result) == struct.pack(
                    "<d", memtotal_bytes_from_text() / GIB)
        finally:
            impl.set_cache_ttl(DEFAULT_TTL)


_SYSCALLS_CHILD = r"""
import os, sys
import skyfast._core as core
proc = sys.argv[1]
if proc != "/proc":
    core._set_roots(proc=proc)
core.set_cache_ttl(0)
core.get_mem_size_gb()
os.write(2, b"=== begin\n")
value = core.get_mem_size_gb()
os.write(2, b"=== end\n")
print(repr(value))
"""


def traced_cold_call(child_env: Dict[str, str], proc: str) -> Tuple[str, str]:
    """(value printed, the system calls of one cold compiled call) for procfs root ``proc``."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    result = subprocess.run(
        [strace, "-f", "-e", "trace=openat,open,statfs,sysinfo", sys.executable, "-c",
         _SYSCALLS_CHILD, proc],
        env=child_env, capture_output=True, text=True, timeout=HANG_GUARD, check=False)
    if result.returncode != 0 and "PTRACE" in result.stderr:
        pytest.skip(f"strace cannot trace here: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stderr
    calls = result.stderr.split("=== begin\n", 1)[1].split("=== end\n", 1)[0]
    return result.stdout.strip(), calls


def test_compiled_cold_call_uses_sysinfo_on_procfs(core_built, child_env):
    if not core_built:
        pytest.skip("the compiled core is not built")
    value, calls = traced_cold_call(child_env, "/proc")
    assert 'statfs("/proc/meminfo"' in calls and "sysinfo(" in calls, calls
    assert float(value) > 0
    assert "meminfo\", O_RDONLY" not in calls, calls


def test_compiled_cold_call_reads_a_file_that_is_not_procfs(core_built, child_env, tmp_path):
    if not core_built:
        pytest.skip("the compiled core is not built")
    (tmp_path / "meminfo").write_text(meminfo_text(3 * 1024**2))
    value, calls = traced_cold_call(child_env, str(tmp_path))
    assert "sysinfo(" not in calls, calls
    assert f'"{tmp_path}/meminfo", O_RDONLY' in calls, calls
    assert float(value) <= 3.0  # 3 GiB, or a cgroup limit below it


@pytest.mark.parametrize("st_size", ["zero", "true"])
def test_fuse_meminfo_is_read_as_lxcfs_serves_it(impl, sky, outcome, pod_env, cgroup_root,
                                                  scratch, st_size):
    """LXCFS is a FUSE filesystem: its meminfo must be read, never replaced by sysinfo(2)."""
    from _fuse import mounted_short_read_files

    text = lxcfs_meminfo(2 * 1024**2).encode()
    with mounted_short_read_files({"meminfo": text}, max_read=100, st_size=st_size) as mnt:
        base = fresh(scratch)
        cgroup = os.path.join(base, "cgroup")
        os.makedirs(cgroup)
        saved = psutil.PROCFS_PATH
        try:
            with pod_env(), cgroup_root(cgroup, {}, (), sky):
                impl._set_roots(proc=mnt, cgroup=cgroup)
                psutil.PROCFS_PATH = mnt
                ours = outcome(impl.get_mem_size_gb)
                assert ours == outcome(sky.common.get_mem_size_gb)
        finally:
            psutil.PROCFS_PATH = saved
            impl._set_roots()
    assert ours == ("ok", 2.0)
