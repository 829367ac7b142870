"""Reliability (docs/contract.md §7, §2.1): is_process_alive on the hard cases.

Zombies, non-leader thread ids and create_time mismatches on our own pid are pinned in
test_is_process_alive.py; this module adds what needs separate processes:

* pid 0, -1 and -pgid are False and **no signal is sent**.  Two proofs, both needed:
  - a recorder process in its own process group catches every catchable signal and
    reports what it got, while is_process_alive(0/-1/-pgid) is called from inside that
    group and from outside it: it must report nothing.  This catches a real signal
    (kill(0, SIGTERM) by mistake) but not signal 0, which is never delivered;
  - so the caller also runs under strace (when usable): between two markers no
    signal-sending or pidfd system call may happen at all (kill, tkill, tgkill,
    pidfd_open, pidfd_send_signal, rt_sigqueueinfo, rt_tgsigqueueinfo).  This covers
    the compiled core, where monkeypatching os.kill (test_is_process_alive.py does that
    for the twin) cannot see a direct libc call.
* pid 1 seen by an unprivileged user (kill gives EPERM): alive.
* a pid reused by another process, simulated with a live child and a create_time that
  is not its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from types import ModuleType
from typing import Dict

import psutil
import pytest
from _guards import HANG_GUARD
from _reliability import run_child, strace_calls, strace_usable

_RECORDER = r"""
import json, os, signal, sys
os.setpgid(0, 0)  # a group of its own, in our session (so a caller can join it)
got = []
def record(signum, frame):
    got.append(signum)
for s in signal.valid_signals():
    if s in (signal.SIGKILL, signal.SIGSTOP):
        continue
    try:
        signal.signal(s, record)
    except (OSError, ValueError):
        pass  # the few the kernel or Python reserve
print("ready", flush=True)
sys.stdin.read()  # until the test closes our stdin (PEP 475 retries across handlers)
print(json.dumps(got), flush=True)
"""

_CALLER = r"""
pgid = int(ARGS[0])
pids = [0, -1, -pgid, -os.getpgid(0), -os.getpid()]
results = []
for pid in pids:
    results.append(impl.is_process_alive(pid))
    results.append(impl.is_process_alive(pid, allow_zombie=True))
    results.append(impl.is_process_alive(pid, create_time=1.0))
emit({"pgid": os.getpgid(0), "results": results})
"""


def _start_recorder() -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _RECORDER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


def test_non_positive_pids_send_no_signal(impl: ModuleType, child_env: Dict[str, str]) -> None:
    """is_process_alive(0 / -1 / -pgid), from inside and outside a group: False, no signal."""
    recorder = _start_recorder()
    try:
        pgid = os.getpgid(recorder.pid)
        assert pgid == recorder.pid and pgid != os.getpgid(0)
        # A caller inside the recorder's group: kill(0, ...) would reach the recorder.
        inside = subprocess.run(
            [sys.executable, "-c", "import os, sys; os.setpgid(0, int(sys.argv[1])); "
             "os.execv(sys.executable, [sys.executable] + sys.argv[2:])", str(pgid),
             "-c", _caller_source(), impl.__name__, str(pgid)],
            env=child_env, capture_output=True, text=True, timeout=HANG_GUARD, check=False)
        assert inside.returncode == 0, inside.stderr
        out = json.loads(inside.stdout.splitlines()[-1])
        assert out["pgid"] == pgid
        assert out["results"] == [False] * 15
        # ... and this process, outside the group.
        for pid in (0, -1, -pgid):
            assert impl.is_process_alive(pid) is False
        # Control: a real signal to the group is recorded.
        os.killpg(pgid, signal.SIGWINCH)
    finally:
        assert recorder.stdin is not None and recorder.stdout is not None
        recorder.stdin.close()
        got = json.loads(recorder.stdout.readline())
        recorder.wait(10)
        recorder.stdout.close()
    assert got == [signal.SIGWINCH]


def _caller_source() -> str:
    from _reliability import CHILD_PRELUDE

    return CHILD_PRELUDE + _CALLER


_SIGNALLING = {"kill", "tkill", "tgkill", "pidfd_open", "pidfd_send_signal",
               "rt_sigqueueinfo", "rt_tgsigqueueinfo"}

_TRACED_CALLER = r"""
pids = [0, -1, -os.getpgid(0), -os.getpid(), -(2 ** 31), -(2 ** 70)]
for pid in pids:  # warm-up (lazy imports)
    impl.is_process_alive(pid)
try:
    os.write(-1, b"SFBEGIN nonpositive")
except OSError:
    pass
results = [impl.is_process_alive(pid, allow_zombie=z) for pid in pids for z in (False, True)]
results += [impl.is_process_alive(pid, create_time=time.time()) for pid in pids]
try:
    os.write(-1, b"SFEND")
except OSError:
    pass
try:
    os.write(-1, b"SFBEGIN positive")  # control: a real pid does probe
except OSError:
    pass
results.append(impl.is_process_alive(os.getppid()))
try:
    os.write(-1, b"SFEND")
except OSError:
    pass
emit(results)
"""


def test_non_positive_pids_make_no_signal_syscall(
    impl: ModuleType, child_env: Dict[str, str]
) -> None:
    """Under strace: no kill/tgkill/pidfd call at all for pid <= 0 (a positive pid makes one)."""
    why = strace_usable()
    if why is not None:
        pytest.skip(why)
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "strace.log")
        traced = ",".join(sorted(_SIGNALLING | {"write"}))
        prefix = ("strace", "-qq", "-o", log, "-e", "trace=" + traced)
        results = run_child(impl.__name__, "import time\n" + _TRACED_CALLER, env=child_env,
                            prefix=prefix)
        with open(log) as f:
            calls = strace_calls(f.read(), "SFBEGIN", "SFEND")
    assert results == [False] * 18 + [True]
    assert [c for c in calls["nonpositive"] if c[0] in _SIGNALLING] == []
    # The control proves the trace would have shown such a call.
    assert any(c[0] in _SIGNALLING for c in calls["positive"])


_NOBODY = r"""
create_time = float(ARGS[0])
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
try:
    os.kill(1, 0)
    probe = "ok"
except PermissionError:
    probe = "EPERM"
emit({
    "probe": probe,
    "alive": impl.is_process_alive(1),
    "allow_zombie": impl.is_process_alive(1, allow_zombie=True),
    "own_time": impl.is_process_alive(1, create_time=create_time),
    "other_time": impl.is_process_alive(1, create_time=create_time + 5),
})
"""


def test_pid_1_seen_by_an_unprivileged_user(impl: ModuleType, child_env: Dict[str, str]) -> None:
    """As uid 65534, kill(1, 0) gives EPERM: pid 1 is alive (and its create_time matches)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to uid 65534")
    started = psutil.Process(1).create_time()
    env = dict(child_env)
    out = run_child(impl.__name__, _NOBODY, repr(started), env=env)
    assert out == {"probe": "EPERM", "alive": True, "allow_zombie": True, "own_time": True,
                   "other_time": False}


def test_reused_pid_is_detected_by_create_time(impl: ModuleType) -> None:
    """A live child with another process's create_time (its pid 'reused') is not alive."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        own = psutil.Process(child.pid).create_time()
        assert impl.is_process_alive(child.pid) is True
        assert impl.is_process_alive(child.pid, create_time=own) is True
        # What a pid file written by an earlier holder of this pid would record: the
        # start of this (older) test process.
        earlier = psutil.Process().create_time()
        assert own - earlier > 0.05
        assert impl.is_process_alive(child.pid, create_time=earlier) is False
        assert impl.is_process_alive(child.pid, create_time=own - 1) is False
        assert impl.is_process_alive(child.pid, create_time=own + 1, allow_zombie=True) is False
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)
    # Reaped: gone whatever create_time says.
    assert impl.is_process_alive(child.pid, create_time=own) is False
