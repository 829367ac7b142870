"""get_max_workers_for_file_mounts: docs/contract.md §2.7 formula, trees, low NOFILE, warning."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pathlib
import resource
import subprocess
import sys
from typing import Any, Dict, Iterator, List, Optional

import pytest
from _guards import HANG_GUARD
from hypothesis import given
from hypothesis import strategies as st

import skyfast

NOFILE = resource.RLIMIT_NOFILE


def warning_text(fd_limit: int) -> str:
    """contract §2.7 item 2, verbatim."""
    return (
        f"Open file descriptor limit ({fd_limit}) is low. File sync to remote clusters may be "
        "slow. Consider increasing the limit using `ulimit -n <number>` or modifying system "
        "limits."
    )


def threads_for(cloud_str: Optional[str]) -> int:
    """contract §2.3 from os.cpu_count()."""
    multiplier = 4 if cloud_str and cloud_str.lower() == "kubernetes" else 1
    return max(4, (os.cpu_count() or 1) - 1) * multiplier


def spec_max_workers(mounts: Dict[str, Any], cloud_str: Optional[str], fd_limit: int) -> int:
    """contract §2.7 items 3-5, from os.listdir and os.cpu_count."""
    fd_per_rsync = 5
    for src in mounts.values():
        if os.path.isdir(src):
            fd_per_rsync = max(fd_per_rsync, 5 * len(os.listdir(src)))
    if fd_limit == resource.RLIM_INFINITY:
        return threads_for(cloud_str)
    return min(max((fd_limit - 100) // fd_per_rsync, 1), threads_for(cloud_str))


@contextlib.contextmanager
def soft_nofile(soft: int) -> Iterator[None]:
    saved = resource.getrlimit(NOFILE)
    resource.setrlimit(NOFILE, (soft, saved[1]))
    try:
        yield
    finally:
        resource.setrlimit(NOFILE, saved)


def make_dir(root: pathlib.Path, name: str, entries: int) -> str:
    d = root / name
    d.mkdir()
    for i in range(entries):
        (d / (f".h{i}" if i % 7 == 0 else f"f{i}")).write_bytes(b"")
    return str(d)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """Directories with known entry counts, plus a file, a missing path and a dir symlink."""
    root = tmp_path_factory.mktemp("mounts")
    dirs = {k: make_dir(root, f"d{k}", k) for k in (0, 1, 3, 12, 50, 150, 250, 400)}
    (root / "file").write_bytes(b"x" * 100)
    nested = root / "nested"
    (nested / "a" / "b").mkdir(parents=True)
    (root / "link400").symlink_to(dirs[400])
    return {
        "dirs": dirs,
        "file": str(root / "file"),
        "missing": str(root / "missing"),
        "nested": str(nested),
        "link400": str(root / "link400"),
        "root": root,
    }


# --- 1. vectors (current limit and lowered soft limits >= 1024: no warning involved) ------


def test_vectors_with_current_limit(impl, pool):
    fd_limit = resource.getrlimit(NOFILE)[0]
    cases: List[Dict[str, Any]] = [
        {},
        {"~/x": pool["file"]},
        {"/a": pool["missing"]},
        {"/a": pool["dirs"][3], "/b": pool["dirs"][400], "/c": pool["file"]},
        {"/a": pool["link400"]},
        {"/a": pool["nested"]},
        {"/r": "~"},  # '~' is not expanded
    ]
    for mounts in cases:
        for cloud in (None, "kubernetes", "Kubernetes", "KUBERNETES", "k8s", "", "kubernetes "):
            result = impl.get_max_workers_for_file_mounts(mounts, cloud)
            assert type(result) is int
            assert result == spec_max_workers(mounts, cloud, fd_limit), (mounts, cloud)


@pytest.mark.parametrize(
    ("soft", "entries", "cloud", "expected"),
    [
        # (soft - 100) // (5 * entries), at least 1, at most the thread cap.
        (1124, 400, None, 1),  # 1024 // 2000 = 0 -> 1
        (2100, 400, None, 1),
        (4100, 400, "kubernetes", 2),
        (1124, 50, "kubernetes", 4),  # 1024 // 250 = 4
        (1124, 12, "kubernetes", 17),  # 1024 // 60 = 17, cap 4 * max(4, cpus - 1)
        (1024, 0, None, 184),  # empty dir: fd_per_rsync stays 5
    ],
)
def test_fd_limit_binds(impl, pool, soft, entries, cloud, expected):
    mounts = {"/m": pool["dirs"][entries], "/f": pool["file"]}
    expected = min(expected, threads_for(cloud))
    with soft_nofile(soft):
        assert impl.get_max_workers_for_file_mounts(mounts, cloud) == expected


def test_alias(impl):
    assert impl.get_max_workers is impl.get_max_workers_for_file_mounts
    assert skyfast.get_max_workers is skyfast.get_max_workers_for_file_mounts


@pytest.mark.parametrize("kind", ["bytes", "pathlib"])
def test_value_path_types(impl, pool, kind):
    src = pool["dirs"][400]
    value = os.fsencode(src) if kind == "bytes" else pathlib.Path(src)
    with soft_nofile(2100):
        assert impl.get_max_workers_for_file_mounts({"/m": value}) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists any directory")
def test_unreadable_directory_propagates(impl, tmp_path):
    d = tmp_path / "locked"
    d.mkdir()
    d.chmod(0)
    try:
        with pytest.raises(PermissionError):
            impl.get_max_workers_for_file_mounts({"/m": str(d)})
    finally:
        d.chmod(0o700)


# --- 2. bad input, live against the reference --------------------------------------------


def _bad_inputs(pool: Dict[str, Any]) -> List[Any]:
    return [
        (None, None),
        ([pool["dirs"][3]], None),
        ((), None),
        ("abc", None),
        ({"/m": None}, None),
        ({"/m": 1.5}, None),
        ({"/m": float("nan")}, None),
        ({"/m": ""}, None),
        ({"/m": "a\0b"}, None),
        ({"/m": 2**100}, None),
        ({"/m": pool["dirs"][3]}, 123),
        ({"/m": pool["dirs"][3]}, b"kubernetes"),
        ({}, ["kubernetes"]),
        ({"/m": pool["dirs"][3]}, 0),
        ({"/m": pool["dirs"][3]}, "\u212aubernetes"),  # KELVIN SIGN lowercases to 'k'
    ]


@pytest.mark.reference
def test_bad_inputs_match_reference(impl, sky, outcome, pool):
    failures = []
    for mounts, cloud in _bad_inputs(pool):
        ours = outcome(impl.get_max_workers_for_file_mounts, mounts, cloud)
        ref = outcome(sky.subprocess.get_max_workers_for_file_mounts, mounts, cloud)
        if ours != ref:
            failures.append((mounts, cloud, ours, ref))
    assert not failures


def test_bad_inputs_documented_errors(impl, outcome, pool):
    # contract §2.7: None or a list -> AttributeError; §2.3: a truthy non-str cloud ->
    # AttributeError.
    assert outcome(impl.get_max_workers_for_file_mounts, None) == (
        "err", AttributeError, "'NoneType' object has no attribute 'values'")
    assert outcome(impl.get_max_workers_for_file_mounts, [pool["file"]]) == (
        "err", AttributeError, "'list' object has no attribute 'values'")
    assert outcome(impl.get_max_workers_for_file_mounts, {}, 123) == (
        "err", AttributeError, "'int' object has no attribute 'lower'")


# --- 3. Hypothesis -----------------------------------------------------------------------------

clouds = st.sampled_from([None, "kubernetes", "Kubernetes", "aws", "", "kubernetes ", "gcp"])


@st.composite
def mount_maps(draw: Any, pool: Dict[str, Any]) -> Dict[str, Any]:
    choices = [*pool["dirs"].values(), pool["file"], pool["missing"], pool["nested"],
               pool["link400"], "~"]
    values = draw(st.lists(st.sampled_from(choices), max_size=6))
    return {f"/remote/{i}": v for i, v in enumerate(values)}


@given(data=st.data(), soft=st.integers(1024, 4000), cloud=clouds)
def test_generated(impl, py_impl, pool, data, soft, cloud):
    mounts = data.draw(mount_maps(pool))
    with soft_nofile(soft):
        result = impl.get_max_workers_for_file_mounts(mounts, cloud)
        assert result == spec_max_workers(mounts, cloud, soft)
        assert result == py_impl.get_max_workers_for_file_mounts(mounts, cloud)


@pytest.mark.reference
@given(data=st.data(), soft=st.integers(1024, 4000), cloud=clouds)
def test_generated_reference(impl, sky, pool, data, soft, cloud):
    mounts = data.draw(mount_maps(pool))
    with soft_nofile(soft):
        ours = impl.get_max_workers_for_file_mounts(mounts, cloud)
        assert ours == sky.subprocess.get_max_workers_for_file_mounts(mounts, cloud)


# --- low soft limits and the once-per-process warning, in child processes -----------------------

_CHILD = r"""
import importlib, json, logging, resource, sys, threading
which, mounts, cloud, seq, nthreads = sys.argv[1:6]
mounts, cloud = json.loads(mounts), json.loads(cloud)
seq, nthreads = [int(x) for x in seq.split(",")], int(nthreads)
if which == "reference":
    from sky.utils import subprocess_utils as m
    logger_name = "sky.utils.subprocess_utils"
else:
    m = importlib.import_module(which)
    logger_name = "skyfast"
records = []
class Catch(logging.Handler):
    def emit(self, r):
        if r.levelno >= logging.WARNING:
            records.append([r.name, r.levelno, r.getMessage()])
logging.getLogger(logger_name).addHandler(Catch())
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
if seq == [-1]:
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (resource.RLIM_INFINITY,) * 2)
    except (ValueError, OSError) as e:
        print("RESULT:" + json.dumps({"skip": str(e)}))
        sys.exit(0)
out = []
for soft in seq:
    if soft != -1:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    before = len(records)
    values = []
    def call():
        values.append(m.get_max_workers_for_file_mounts(mounts, cloud))
    threads = [threading.Thread(target=call) for _ in range(nthreads)]
    for t in threads: t.start()
    for t in threads: t.join()
    out.append([soft, values, records[before:]])
print("RESULT:" + json.dumps(out))
"""


def run_child(child_env: Dict[str, str], which: str, mounts: Dict[str, str], cloud: Any,
              seq: List[int], nthreads: int = 1) -> Any:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, which, json.dumps(mounts), json.dumps(cloud),
         ",".join(map(str, seq)), str(nthreads)],
        env=child_env, capture_output=True, text=True, timeout=HANG_GUARD, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT:")]
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0][len("RESULT:"):])


SEQUENCE = [1024, 2000, 1023, 500, 1023, 120, 100, 60]


def skyfast_modules(core_built: bool) -> List[str]:
    return ["skyfast._core_py"] + (["skyfast._core"] if core_built else [])


def test_low_limits_warn_once(pool, child_env, core_built):
    mounts = {"/a": pool["dirs"][3], "/b": pool["file"], "/c": pool["missing"]}
    for which in skyfast_modules(core_built):
        out = run_child(child_env, which, mounts, "kubernetes", SEQUENCE)
        for i, (soft, values, records) in enumerate(out):
            assert values == [spec_max_workers(mounts, "kubernetes", soft)], (which, soft)
            # The first call below 1024 warns; nothing after it, nothing at >= 1024.
            assert records == ([["skyfast", logging.WARNING, warning_text(1023)]]
                               if i == 2 else []), (which, soft)


def test_warning_is_once_under_threads(pool, child_env, core_built):
    mounts = {"/a": pool["dirs"][12]}
    for which in skyfast_modules(core_built):
        out = run_child(child_env, which, mounts, None, [300, 200], nthreads=16)
        assert out[0][1] == [spec_max_workers(mounts, None, 300)] * 16
        assert out[0][2] == [["skyfast", logging.WARNING, warning_text(300)]], which
        assert out[1][2] == [], which


@pytest.mark.reference
def test_low_limits_match_reference(sky, pool, child_env, core_built):
    mounts = {"/a": pool["dirs"][3], "/b": pool["file"], "/c": pool["missing"]}
    ref = run_child(child_env, "reference", mounts, "kubernetes", SEQUENCE)
    # The reference's warning text is the contract's (§2.7 item 2), once, on the first call
    # below 1024.
    assert [r[2] for r in ref] == [
        ([["sky.utils.subprocess_utils", logging.WARNING, warning_text(1023)]] if i == 2 else [])
        for i in range(len(SEQUENCE))
    ]
    for which in skyfast_modules(core_built):
        ours = run_child(child_env, which, mounts, "kubernetes", SEQUENCE)
        assert [r[1] for r in ours] == [r[1] for r in ref], which
        assert [[x[2] for x in r[2]] for r in ours] == [[x[2] for x in r[2]] for r in ref]


# --- 4. FIX: an unlimited soft limit -------------------------------------------------------------


def test_unlimited_nofile_gives_thread_cap(pool, child_env, core_built):
    mounts = {"/a": pool["dirs"][400]}
    for which in skyfast_modules(core_built):
        out = run_child(child_env, which, mounts, "kubernetes", [-1])
        if isinstance(out, dict):
            pytest.skip(f"cannot set RLIMIT_NOFILE to RLIM_INFINITY: {out['skip']}")
        assert out == [[-1, [threads_for("kubernetes")], []]]


def _fake_unlimited_getrlimit(real: Any) -> Any:
    def fake(which: int) -> Any:
        if which == NOFILE:
            return (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        return real(which)

    return fake


def test_unlimited_nofile_twin(py_impl, pool, monkeypatch, caplog):
    """The twin reads resource.getrlimit: an unlimited soft limit gives the thread cap, silently.

    (The compiled core calls getrlimit(2) directly; the child test above covers it where
    the kernel allows RLIM_INFINITY.)
    """
    mounts = {"/a": pool["dirs"][400]}
    monkeypatch.setattr(resource, "getrlimit", _fake_unlimited_getrlimit(resource.getrlimit))
    with caplog.at_level(logging.WARNING, logger="skyfast"):
        assert py_impl.get_max_workers_for_file_mounts(mounts, "kubernetes") == threads_for(
            "kubernetes"
        )
        assert py_impl.get_max_workers_for_file_mounts(mounts) == threads_for(None)
    assert [r for r in caplog.records if r.name == "skyfast"] == []


@pytest.mark.reference
def test_unlimited_nofile_reference_gives_one(sky, outcome, pool, monkeypatch):
    """The divergence: on the same input the reference sizes the pool at 1 worker.

    Only where Python shows the unlimited soft limit as -1 (before 3.15); from 3.15 on
    RLIM_INFINITY is 2**64 - 1, and SkyPilot's own arithmetic gives the thread cap, as
    skyfast does: no divergence there.
    """
    mounts = {"/a": pool["dirs"][400]}
    monkeypatch.setattr(resource, "getrlimit", _fake_unlimited_getrlimit(resource.getrlimit))
    monkeypatch.setattr(sky.subprocess, "_fd_limit_warning_shown", True)  # keep it quiet
    reference = outcome(sky.subprocess.get_max_workers_for_file_mounts, mounts)
    if resource.RLIM_INFINITY < 0:
        assert reference == ("ok", 1)
    else:
        assert reference == ("ok", sky.subprocess.get_parallel_threads())
