"""Off Linux (SkyPilot's client on a Mac): the twin answers as SkyPilot 0.14.1 does.

These machines are simulated on Linux by taking away what macOS lacks: no
``os.sched_getaffinity``, no ``os.pidfd_open``, no ``/proc``, no cgroup file system,
and ``sys.platform`` not Linux (psutil, and so SkyPilot, then asks the system for
the memory size instead of reading /proc/meminfo).  The compiled core is Linux-only:
setup.py builds none elsewhere.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any, Dict

import pytest
from _guards import HANG_GUARD

from skyfast import _kernel

# A child Python without the Linux-only APIs, before anything is imported; SkyPilot
# in the same process sees the same absences.  sys.platform stays Linux for SkyPilot's
# psutil (it has no macOS build to switch to), so the memory size is compared with what
# psutil gives there: sysconf's physical pages.
_MAC_LIKE = r"""
import json, os, sys, warnings
warnings.simplefilter("ignore")
del os.sched_getaffinity
del os.pidfd_open
real_platform, sys.platform = sys.platform, "darwin"
from skyfast import _core_py as twin, _kernel
sys.platform = real_platform
import skyfast
from sky.utils import common_utils as cu, subprocess_utils as su
assert skyfast.IMPLEMENTATION == "python" and not _kernel.ON_LINUX
twin.set_cache_ttl(0)
empty = sys.argv[1]
twin._set_roots(proc=empty, cgroup=empty)  # no /proc, no cgroup file system
def outcome(fn, *a):
    try:
        return ["ok", fn(*a)]
    except Exception as e:
        return ["err", type(e).__name__, str(e)]
mounts = {"/remote": os.path.dirname(empty)}
rows = {
    "get_cpu_count": [outcome(twin.get_cpu_count), outcome(cu.get_cpu_count)],
    "get_parallel_threads": [outcome(twin.get_parallel_threads, "kubernetes"),
                             outcome(su.get_parallel_threads, "kubernetes")],
    "get_max_workers_for_file_mounts": [
        outcome(twin.get_max_workers_for_file_mounts, mounts),
        outcome(su.get_max_workers_for_file_mounts, mounts)],
    "get_mem_size_gb": [outcome(twin.get_mem_size_gb),
                        ["ok", os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30]],
    # No cgroup file system: the container-aware count is the plain one.
    "container_aware": [outcome(lambda: twin.get_parallel_threads(container_aware=True)),
                        outcome(su.get_parallel_threads)],
    "is_process_alive": [outcome(twin.is_process_alive, os.getppid()),
                         ["ok", True]],
}
print(json.dumps(rows))
"""


def test_twin_without_linux_apis_matches_skypilot(sky: Any, child_env: Dict[str, str],
                                                   tmp_path: pathlib.Path) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    env = dict(child_env, SKYFAST_NO_EXTENSIONS="1")
    proc = subprocess.run([sys.executable, "-c", _MAC_LIKE, str(empty)], env=env,
                          capture_output=True, text=True, timeout=HANG_GUARD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, (ours, reference) in rows.items():
        assert ours == reference, name
        assert ours[0] == "ok", name


@pytest.fixture
def no_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity")


def test_same_process_without_sched_getaffinity(py_impl: Any, sky: Any, pod_env: Any,
                                                no_affinity: None, outcome: Any) -> None:
    """The issue's check: the four CPU and memory answers equal SkyPilot's, same process."""
    mounts = {"/a": str(pathlib.Path(__file__).parent)}
    with pod_env():
        pairs = [
            (py_impl.get_cpu_count, sky.common.get_cpu_count, ()),
            (py_impl.get_mem_size_gb, sky.common.get_mem_size_gb, ()),
            (py_impl.get_parallel_threads, sky.subprocess.get_parallel_threads, ()),
            (py_impl.get_max_workers_for_file_mounts,
             sky.subprocess.get_max_workers_for_file_mounts, (mounts,)),
        ]
        for ours, reference, args in pairs:
            assert outcome(ours, *args) == outcome(reference, *args), ours.__name__
            assert outcome(ours, *args)[0] == "ok"


def test_memory_off_linux_is_sysconf(py_impl: Any, pod_env: Any, tmp_path: pathlib.Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_kernel, "ON_LINUX", False)
    py_impl._set_roots(proc=str(tmp_path), cgroup=str(tmp_path))  # no /proc/meminfo
    try:
        with pod_env():
            assert py_impl.get_mem_size_gb() == (
                os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30)
    finally:
        py_impl._set_roots()


def test_liveness_off_linux_uses_psutil(py_impl: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    monkeypatch.setattr(_kernel, "ON_LINUX", False)
    monkeypatch.delattr(os, "pidfd_open")
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        started = psutil.Process(child.pid).create_time()
        assert py_impl.is_process_alive(child.pid) is True
        assert py_impl.is_process_alive(child.pid, create_time=started) is True
        assert py_impl.is_process_alive(child.pid, create_time=started - 100) is False
    finally:
        assert child.stdin is not None
        child.stdin.close()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
    try:
        assert py_impl.is_process_alive(child.pid) is False  # a zombie
        assert py_impl.is_process_alive(child.pid, allow_zombie=True) is True
    finally:
        child.wait()
    assert py_impl.is_process_alive(child.pid) is False
    monkeypatch.setitem(sys.modules, "psutil", None)  # not installed
    with pytest.raises(RuntimeError, match="needs psutil"):
        py_impl.is_process_alive(os.getppid())
    assert py_impl.is_process_alive(os.getppid(), allow_zombie=True) is True


def test_setup_builds_no_extension_off_linux() -> None:
    setup = pathlib.Path(_kernel.__file__).parent.parent / "setup.py"
    if not setup.exists():
        pytest.skip("not a source tree (setup.py is not installed)")
    # setuptools (and what it imports) first, under the real platform name.
    code = ("import sys, setuptools, setuptools.command.build_ext, urllib.request\n"
            "sys.platform = 'darwin'; sys.argv = ['setup.py', '--name']\n"
            f"exec(compile(open({str(setup)!r}).read(), 'setup.py', 'exec'))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYFAST_")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=setup.parent, env=env,
                          capture_output=True, text=True, timeout=HANG_GUARD)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "compiled core is Linux-only" in proc.stderr
    env["SKYFAST_REQUIRE_EXTENSIONS"] = "1"
    proc = subprocess.run([sys.executable, "-c", code], cwd=setup.parent, env=env,
                          capture_output=True, text=True, timeout=HANG_GUARD)
    assert proc.returncode != 0 and "Linux-only" in proc.stderr
