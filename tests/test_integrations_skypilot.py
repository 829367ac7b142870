"""skyfast.integrations.skypilot: skyfast's functions swapped into SkyPilot.

With them installed, SkyPilot's own callers must give what they give without;
uninstall must put back the very objects that were there; a function that is
not the verified code (itself or a helper it reaches) is left alone, named in
a warning, and the others are replaced whatever the version string says.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import warnings
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
from _guards import HANG_GUARD
from hypothesis import example, given
from hypothesis import strategies as st

import skyfast
from skyfast.integrations import skypilot

pytestmark = pytest.mark.reference

# Written out here rather than read from skypilot.UPSTREAM_NAMES, so a name
# dropped from (or misplaced in) the integration fails a test.
COMMON = [
    "base36_encode", "find_free_port", "format_float", "get_cpu_count", "get_mem_size_gb",
    "hash_file", "read_last_n_lines", "truncate_long_string",
]
SUBPROCESS = ["get_max_workers_for_file_mounts", "get_parallel_threads"]


def sky_module(name: str) -> ModuleType:
    """A SkyPilot module; its import-time deprecation warnings are not ours to fail on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(name)


def targets(sky: Any) -> List[Tuple[ModuleType, str]]:
    return [(sky.common, n) for n in COMMON] + [(sky.subprocess, n) for n in SUBPROCESS]


def snapshot(sky: Any) -> Dict[str, Any]:
    return {f"{m.__name__}.{n}": getattr(m, n) for m, n in targets(sky)}


@pytest.fixture
def clean_state(sky: Any) -> Iterator[Dict[str, Any]]:
    """The test starts and ends with SkyPilot's own functions in place; yields them.

    Not autouse: Hypothesis rejects function-scoped fixtures in @given tests, whose
    patched() blocks clean up after themselves.
    """
    before = snapshot(sky)
    assert not skypilot.is_installed()
    yield before
    leaked = skypilot.is_installed()
    skypilot.uninstall()
    assert not leaked, "a test left the patch installed"
    assert snapshot(sky) == before


def assert_originals(sky: Any, before: Dict[str, Any]) -> None:
    for key, value in snapshot(sky).items():
        assert value is before[key], key


def assert_skyfast(sky: Any) -> None:
    for module, name in targets(sky):
        assert getattr(module, name) is getattr(skyfast, name), f"{module.__name__}.{name}"


# --- the names and their signatures ---


def test_upstream_names_are_the_ten_existing_functions(sky):
    assert {m: set(n) for m, n in skypilot.UPSTREAM_NAMES.items()} == {
        "sky.utils.common_utils": set(COMMON),
        "sky.utils.subprocess_utils": set(SUBPROCESS),
    }
    for module, name in targets(sky):
        assert callable(getattr(module, name))
        assert getattr(module, name).__module__ == module.__name__  # defined there, not imported
    # The two NEW functions have no upstream counterpart to replace.
    for name in ("is_process_alive", "estimate_fd_for_dir"):
        assert not hasattr(sky.common, name) and not hasattr(sky.subprocess, name)


@pytest.mark.parametrize("name", COMMON + SUBPROCESS)
def test_signature_accepts_every_upstream_call(sky, name):
    """Each upstream parameter keeps its position, kind and default; extras are keyword-only."""
    module = sky.common if name in COMMON else sky.subprocess
    upstream = list(inspect.signature(getattr(module, name)).parameters.values())
    ours = list(inspect.signature(getattr(skyfast, name)).parameters.values())
    assert len(ours) >= len(upstream)
    for up, mine in zip(upstream, ours):
        assert (mine.name, mine.kind, mine.default) == (up.name, up.kind, up.default)
    for extra in ours[len(upstream):]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY
        assert extra.default is not inspect.Parameter.empty


# --- install / uninstall / patched ---


def test_install_then_uninstall_restores_the_same_objects(sky, clean_state):
    assert skypilot.install() is True
    assert skypilot.is_installed()
    assert_skyfast(sky)
    assert skypilot.uninstall() is True
    assert not skypilot.is_installed()
    assert_originals(sky, clean_state)


def test_double_install_keeps_the_true_originals(sky, clean_state):
    assert skypilot.install() is True
    assert skypilot.install() is True  # must not save skyfast's functions as "originals"
    assert_skyfast(sky)
    assert skypilot.uninstall() is True
    assert_originals(sky, clean_state)
    assert skypilot.uninstall() is False


def test_uninstall_without_install_changes_nothing(sky, clean_state):
    assert skypilot.uninstall() is False
    assert_originals(sky, clean_state)


def test_restores_whatever_was_there_before(sky, clean_state, monkeypatch):
    """A value someone else put in place before install() (a mock, say) comes back as it was."""
    def sentinel(path: Any, hash_alg: str) -> None:
        raise AssertionError("not to be called")

    monkeypatch.setattr(sky.common, "hash_file", sentinel)
    skypilot.install()
    assert sky.common.hash_file is skyfast.hash_file
    skypilot.uninstall()
    assert sky.common.hash_file is sentinel


def test_missing_upstream_name_leaves_that_one_alone(sky, clean_state, monkeypatch):
    monkeypatch.delattr(sky.subprocess, "get_parallel_threads")
    with pytest.warns(skypilot.UnsupportedVersionWarning,
                      match=r"subprocess_utils\.get_parallel_threads \(missing\)") as record:
        assert skypilot.install() is True
    assert len(record) == 1
    assert record[0].filename == __file__  # blamed on the caller, not on skyfast
    assert not hasattr(sky.subprocess, "get_parallel_threads")
    assert skypilot.replaced() == tuple(sorted(
        [f"sky.utils.common_utils.{n}" for n in COMMON]
        + ["sky.utils.subprocess_utils.get_max_workers_for_file_mounts"]))
    skypilot.uninstall()


def test_patched_block(sky, clean_state):
    with skypilot.patched() as active:
        assert active is True
        assert_skyfast(sky)
    assert not skypilot.is_installed()
    assert_originals(sky, clean_state)


def test_patched_restores_on_exception(sky, clean_state):
    with pytest.raises(KeyError), skypilot.patched():
        raise KeyError("boom")
    assert_originals(sky, clean_state)


def test_nested_patched_blocks(sky, clean_state):
    with skypilot.patched():
        with skypilot.patched():
            assert_skyfast(sky)
        assert_skyfast(sky)  # the inner exit must not undo the outer block
    assert_originals(sky, clean_state)


def test_install_inside_patched_outlives_the_block(sky, clean_state):
    with skypilot.patched():
        skypilot.install()
    assert_skyfast(sky)
    skypilot.uninstall()
    assert_originals(sky, clean_state)


def test_patched_inside_install_leaves_it_installed(sky, clean_state):
    skypilot.install()
    with skypilot.patched():
        assert_skyfast(sky)
    assert_skyfast(sky)
    skypilot.uninstall()
    assert_originals(sky, clean_state)


def test_uninstall_inside_patched_wins(sky, clean_state):
    with skypilot.patched():
        skypilot.uninstall()
        assert_originals(sky, clean_state)
    assert_originals(sky, clean_state)
    assert not skypilot.is_installed()


def test_overlapping_blocks_in_threads(sky, clean_state):
    """Threads' blocks overlap: the originals return only after the last one exits."""
    n = 6
    inside = threading.Barrier(n)
    seen: List[bool] = []
    errors: List[BaseException] = []
    gate = threading.Semaphore(0)

    def worker() -> None:
        try:
            with skypilot.patched():
                inside.wait(timeout=HANG_GUARD)
                gate.acquire(timeout=HANG_GUARD)  # exit one at a time, in any order
                seen.append(all(getattr(m, k) is getattr(skyfast, k) for m, k in targets(sky)))
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for _ in range(n):
        gate.release()
    for t in threads:
        t.join(timeout=HANG_GUARD)
    assert not errors, errors
    assert seen == [True] * n  # every thread still saw skyfast's functions before its exit
    assert_originals(sky, clean_state)


def test_concurrent_install_uninstall_never_loses_the_originals(sky, clean_state):
    """Unsynchronized, a racing install() could save skyfast's functions as the originals."""
    errors: List[BaseException] = []
    # Switch threads as often as possible, so an unlocked race shows up here.
    saved_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)

    def churn() -> None:
        try:
            for _ in range(300):
                skypilot.install()
                with skypilot.patched():
                    pass
                skypilot.uninstall()
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=churn) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=HANG_GUARD)
    finally:
        sys.setswitchinterval(saved_interval)
    assert not errors, errors
    skypilot.uninstall()
    assert_originals(sky, clean_state)


# --- the rule: the code, not the version string ---


@pytest.mark.parametrize("version", ["0.15.0", "0.13.2", "1.0.0.dev20250101", "0.14", None])
def test_the_version_string_does_not_matter(sky, clean_state, monkeypatch, version):
    if version is None:
        monkeypatch.delattr(sys.modules["sky"], "__version__")
    else:
        monkeypatch.setattr(sys.modules["sky"], "__version__", version)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # verified code: no warning at all
        assert skypilot.install() is True
    assert_skyfast(sky)
    skypilot.uninstall()


def test_check_reads_the_installed_source_without_importing(sky):
    verdicts = skypilot.check()
    assert sorted(verdicts) == sorted(COMMON + SUBPROCESS)
    for name, verdict in verdicts.items():
        module = "sky.utils.common_utils" if name in COMMON else "sky.utils.subprocess_utils"
        assert verdict == skypilot.Verdict(module, name, True, "verified")


def test_check_without_skypilot_raises_import_error(monkeypatch):
    monkeypatch.setattr(sys, "path", [p for p in sys.path if not os.path.isdir(
        os.path.join(p or ".", "sky"))])
    with pytest.raises(ImportError, match="no SkyPilot"):
        skypilot.check()


def test_verified_releases_are_listed():
    assert "skypilot==0.14.1" in skypilot.VERIFIED_RELEASES
    prefixes = ("skypilot==", "skypilot-nightly==")
    assert all(r.startswith(prefixes) for r in skypilot.VERIFIED_RELEASES)


def test_without_skypilot_install_raises_import_error(sky, clean_state, monkeypatch):
    monkeypatch.setitem(sys.modules, "sky", None)  # what `import sky` sees when it is absent
    with pytest.raises(ImportError, match="needs SkyPilot"):
        skypilot.install()
    with pytest.raises(ImportError, match="needs SkyPilot"), skypilot.patched():
        pass
    assert not skypilot.is_installed()
    assert skypilot.uninstall() is False
    assert_originals(sky, clean_state)


def test_importing_the_integration_does_not_import_sky(child_env):
    code = ("import sys, skyfast.integrations.skypilot as s; "
            "print(sorted(m for m in sys.modules if m == 'sky' or m.startswith('sky.')))")
    proc = subprocess.run([sys.executable, "-c", code], env=child_env, capture_output=True,
                          text=True, timeout=HANG_GUARD, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


_FD_WARNING_CHILD = r"""
import json, logging, resource, sys, warnings
warnings.simplefilter("ignore")
from sky.utils import subprocess_utils
from skyfast.integrations import skypilot
records = []
class Catch(logging.Handler):
    def emit(self, r):
        records.append([r.name, r.levelno, r.getMessage()])
for name in ("skyfast", "sky.utils.subprocess_utils"):
    logging.getLogger(name).addHandler(Catch())
resource.setrlimit(resource.RLIMIT_NOFILE, (500, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
installed = skypilot.install()
subprocess_utils.get_max_workers_for_file_mounts({})
skypilot.uninstall()
print(json.dumps([installed, sys.modules["skyfast"].IMPLEMENTATION, records]))
"""


@pytest.mark.parametrize("no_extensions", ["0", "1"], ids=["c-extension", "pure-python"])
def test_low_fd_warning_goes_to_skypilots_logger_while_installed(sky, child_env,
                                                                 no_extensions):
    env = dict(child_env, SKYFAST_NO_EXTENSIONS=no_extensions)
    proc = subprocess.run([sys.executable, "-c", _FD_WARNING_CHILD], env=env,
                          capture_output=True, text=True, timeout=HANG_GUARD, check=False)
    assert proc.returncode == 0, proc.stderr
    installed, implementation, records = json.loads(proc.stdout.splitlines()[-1])
    assert installed is True
    assert implementation == ("python" if no_extensions == "1" else skyfast.IMPLEMENTATION)
    text = ("Open file descriptor limit (500) is low. File sync to remote clusters may be "
            "slow. Consider increasing the limit using `ulimit -n <number>` or modifying "
            "system limits.")
    # Once, on SkyPilot's logger (as SkyPilot's own function logs it), not on skyfast's.
    assert records == [["sky.utils.subprocess_utils", logging.WARNING, text]]


def test_uninstall_stops_forwarding_the_fd_warning(sky, clean_state):
    logger = logging.getLogger("skyfast")
    skypilot.install()
    assert any(isinstance(f, logging.Filter) and type(f).__name__ == "_ForwardFdWarning"
               for f in logger.filters)
    skypilot.uninstall()
    assert not any(type(f).__name__ == "_ForwardFdWarning" for f in logger.filters)


# --- SkyPilot's own callers give the same results ---


def with_and_without(
    outcome: Callable[..., Any], fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> Tuple[Any, Any]:
    """fn's outcome (the conftest helper) with SkyPilot's functions, then with skyfast's."""
    plain = outcome(fn, *args, **kwargs)
    with skypilot.patched() as active:
        assert active
        fast = outcome(fn, *args, **kwargs)
    return plain, fast


# Mostly names longer than max_length: only those are hashed.
cluster_names = st.one_of(
    st.from_regex(r"[a-zA-Z][a-zA-Z0-9._-]{0,15}", fullmatch=True),
    st.from_regex(r"[a-zA-Z][a-zA-Z0-9._-]{20,100}", fullmatch=True),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=16, max_size=80),
)


@given(name=cluster_names, max_length=st.sampled_from([None, 15, 20, 35]))
@example(name="a" * 40, max_length=15)
@example(name="My_Cluster.Name-with-a-long-tail", max_length=15)
@example(name="sky-serve-controller-2ea485ea", max_length=20)
def test_make_cluster_name_on_cloud(sky, outcome, name, max_length):
    """It md5-hashes long names and base36-encodes the hash into the cloud-side name."""
    # add_user_hash=False: the user hash would read (and create) ~/.sky/user_hash.
    plain, fast = with_and_without(
        outcome, sky.common.make_cluster_name_on_cloud, name, max_length, add_user_hash=False)
    assert plain == fast


@given(cpus=st.one_of(st.integers(0, 10**6), st.floats()),
       memory=st.one_of(st.integers(0, 10**9), st.floats()))
@example(cpus=0.5, memory=1.5)
@example(cpus=1.35, memory=-0.0)
def test_kubernetes_instance_type_name(sky, outcome, cpus, memory):
    """Kubernetes' virtual instance types are named with format_float."""
    utils = sky_module("sky.provision.kubernetes.utils")
    plain, fast = with_and_without(outcome, lambda: utils.KubernetesInstanceType(cpus, memory).name)
    assert plain == fast


@given(command=st.text(st.sampled_from("ab \t-é😀"), max_size=80))
@example(command="sky launch -c mycluster --gpus A100:8 task.yaml --env FOO=bar")
def test_status_table_command_column(sky, outcome, command):
    """`sky status` truncates each cluster's last command with truncate_long_string."""
    status_utils = sky_module("sky.utils.cli_utils.status_utils")
    plain, fast = with_and_without(outcome, status_utils._get_command, {"last_use": command})
    assert plain == fast


def test_cluster_config_hash(sky, outcome, tmp_path, clean_state):
    """The cluster-config hash sha256-hashes every file of every file mount via hash_file."""
    backend_utils = sky_module("sky.backends.backend_utils")
    mount = tmp_path / "mount"
    (mount / "sub").mkdir(parents=True)
    (mount / "a.txt").write_bytes(b"alpha\n")
    (mount / "sub" / "b.bin").write_bytes(bytes(range(256)) * 100)
    (tmp_path / "single.cfg").write_bytes(b"")
    config = tmp_path / "cluster.yaml"
    config.write_text(f"cluster_name: c\nfile_mounts:\n  /remote/dir: {mount}\n"
                      f"  /remote/file: {tmp_path / 'single.cfg'}\n")
    plain, fast = with_and_without(
        outcome, backend_utils._deterministic_cluster_yaml_hash, str(config))
    assert plain[0] == "ok" and plain == fast


def test_file_mount_workers(sky, outcome, tmp_path, clean_state):
    for i in range(30):
        (tmp_path / f"f{i}").touch()
    mounts = {"/a": str(tmp_path), "/b": str(tmp_path / "f0"), "/c": "/nonexistent"}
    for cloud in (None, "kubernetes", "aws"):
        plain, fast = with_and_without(outcome, sky.subprocess.get_max_workers_for_file_mounts,
                                       mounts, cloud)
        assert plain[0] == "ok" and plain == fast


@contextlib.contextmanager
def serve_logs_at(path: str) -> Iterator[ModuleType]:
    """sky.serve.serve_utils with its service lookups pointed at one local log file.

    The real ones consult the serve state database; only the log tailing is under test.
    """
    serve_utils = sky_module("sky.serve.serve_utils")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(serve_utils, "_check_service_status_healthy", lambda *a, **k: None)
        mp.setattr(serve_utils, "generate_remote_controller_log_file_name", lambda _: path)
        mp.setattr(serve_utils, "generate_replica_log_file_name", lambda *_: path)
        yield serve_utils


def printed(fn: Callable[..., Any], *args: Any) -> Tuple[Any, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = fn(*args)
    return result, out.getvalue()


@pytest.fixture(scope="module")
def log_dir() -> Iterator[str]:
    # Module scope: Hypothesis rejects function-scoped fixtures such as tmp_path.
    with tempfile.TemporaryDirectory() as d:
        yield d


@given(content=st.binary(max_size=3000) | st.lists(
           st.sampled_from([b"line", b"\n", b"\r\n", b"\r", b"\xff", "é😀".encode()]),
           max_size=200).map(b"".join),
       tail=st.integers(0, 40))
@example(content=b"first\nsecond\r\nthird", tail=2)
@example(content=b"x" * 20000 + b"\nlast\n", tail=5)
def test_serve_log_tail(sky, log_dir, content, tail):
    """`sky serve logs --tail N` for the controller and a replica reads with read_last_n_lines."""
    path = os.path.join(log_dir, "controller.log")
    with open(path, "wb") as f:
        f.write(content)
    with serve_logs_at(path) as serve_utils:
        for fn, args in [
            (serve_utils.stream_serve_process_logs, ("svc", True, False, tail, False)),
            (serve_utils.stream_replica_logs, ("svc", 1, False, tail, False)),
        ]:
            if not content and fn is serve_utils.stream_replica_logs:
                continue  # an empty replica log makes it look up the replica's cluster
            plain = printed(fn, *args)
            with skypilot.patched():
                fast = printed(fn, *args)
            assert plain == fast


def test_serve_log_tail_of_a_fifo_fails_at_once(sky, tmp_path, clean_state):
    """Proof the serve helper goes through skyfast: SkyPilot's read_last_n_lines would block
    forever on a FIFO (docs/contract.md §2.8 item 6, a FIX), skyfast's raises."""
    fifo = tmp_path / "controller.log"
    os.mkfifo(fifo)
    with unblock_after(str(fifo), 20.0), serve_logs_at(str(fifo)) as serve_utils, \
            skypilot.patched():
        with pytest.raises(RuntimeError, match="Failed to read last 3 lines"):
            serve_utils.stream_serve_process_logs("svc", True, False, 3, False)


@contextlib.contextmanager
def unblock_after(fifo: str, seconds: float) -> Iterator[None]:
    """If a reader is still stuck on ``fifo`` after ``seconds``, connect and hang up a writer.

    Turns a regression (SkyPilot's blocking reader in place) into a failure, not a hung run.
    """
    done = threading.Event()

    def watchdog() -> None:
        if done.wait(seconds):
            return
        try:
            # Non-blocking: succeeds only while a reader has the FIFO open.
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def test_cpu_count_fix_reaches_skypilot(sky, pod_env, clean_state):
    """SkyPilot's callers see skyfast's documented fix (never below one CPU) once installed."""
    with pod_env(SKYPILOT_POD_CPU_CORE_LIMIT="0.5"):
        assert sky.common.get_cpu_count() == 0  # SkyPilot 0.14.1's own answer
        with skypilot.patched():
            assert sky.common.get_cpu_count() == 1
