"""is_process_alive (docs/contract.md §2.1, NEW): does a pid name a live process (a group leader)?

No SkyPilot reference: psutil is the oracle (``pid_exists`` and ``status() != 'zombie'``
and the ``create_time`` comparison).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
import time
from decimal import Decimal
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import psutil
import pytest
from _guards import HANG_GUARD
from hypothesis import assume, example, given
from hypothesis import strategies as st

Outcome = Callable[..., Tuple[Any, ...]]


class MyInt(int):
    """An int subclass: accepted as a pid."""


def _proc_state(pid: int) -> str:
    """The one-letter state from /proc/<pid>/stat ('' when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return ""
    return text[text.rfind(")") + 2 :].split()[0]


def _short_child() -> subprocess.Popen[bytes]:
    """A child process that exits at once."""
    return subprocess.Popen([sys.executable, "-c", "pass"])


@pytest.fixture
def zombie() -> Iterator[int]:
    """The pid of a child that has exited and is not reaped yet (state Z); reaped afterwards."""
    child = _short_child()
    try:
        deadline = time.monotonic() + HANG_GUARD
        while _proc_state(child.pid) != "Z":
            if time.monotonic() > deadline:
                pytest.fail(f"child {child.pid} never became a zombie")
            time.sleep(0.005)
        yield child.pid
    finally:
        child.wait()


@pytest.fixture
def dead_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    child = _short_child()
    child.wait()
    return child.pid


@pytest.fixture
def thread_id() -> Iterator[int]:
    """The kernel id of a live thread of this process that is not the thread-group leader."""
    ready, stop = threading.Event(), threading.Event()
    ids: List[int] = []

    def run() -> None:
        ids.append(threading.get_native_id())
        ready.set()
        stop.wait()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        assert ids[0] != os.getpid()
        yield ids[0]
    finally:
        stop.set()
        thread.join()


def test_own_pid(impl: ModuleType) -> None:
    """The calling process is alive, with or without allow_zombie."""
    assert impl.is_process_alive(os.getpid()) is True
    assert impl.is_process_alive(os.getpid(), allow_zombie=True) is True
    assert impl.is_process_alive(pid=os.getpid()) is True


def test_parent_and_int_subclass(impl: ModuleType) -> None:
    """The parent process is alive; an int subclass is a valid pid."""
    assert impl.is_process_alive(os.getppid()) is psutil.pid_exists(os.getppid())
    assert impl.is_process_alive(MyInt(os.getpid())) is True


def test_dead_pid(impl: ModuleType, dead_pid: int) -> None:
    """A reaped child's pid is not alive (psutil agrees)."""
    assert psutil.pid_exists(dead_pid) is False
    assert impl.is_process_alive(dead_pid) is False
    assert impl.is_process_alive(dead_pid, allow_zombie=True) is False


def test_zombie(impl: ModuleType, zombie: int) -> None:
    """An exited, unreaped child is not alive, unless allow_zombie=True."""
    assert psutil.Process(zombie).status() == psutil.STATUS_ZOMBIE
    assert impl.is_process_alive(zombie) is False
    assert impl.is_process_alive(zombie, allow_zombie=True) is True


def test_zombie_with_create_time(impl: ModuleType, zombie: int) -> None:
    """allow_zombie with the zombie's own create_time is True; a wrong create_time is False."""
    started = psutil.Process(zombie).create_time()
    assert impl.is_process_alive(zombie, allow_zombie=True, create_time=started) is True
    assert impl.is_process_alive(zombie, allow_zombie=True, create_time=started + 10) is False
    assert impl.is_process_alive(zombie, create_time=started) is False


def test_thread_id_is_not_a_process(impl: ModuleType, thread_id: int) -> None:
    """A live thread id that is not a thread-group leader is not a process (psutil agrees)."""
    assert _proc_state(thread_id) != ""  # the kernel does answer for it under /proc
    assert psutil.pid_exists(thread_id) is False
    assert impl.is_process_alive(thread_id) is False
    assert impl.is_process_alive(thread_id, allow_zombie=True) is False


@pytest.mark.parametrize(
    "make_pid",
    [lambda: 0, lambda: -1, lambda: -os.getpgid(0), lambda: -os.getpid(), lambda: -(2**70)],
    ids=["0", "-1", "-pgid", "-pid", "-2**70"],
)
def test_non_positive_pids(impl: ModuleType, make_pid: Callable[[], int]) -> None:
    """pid <= 0 names process groups, not processes: always False."""
    pid = make_pid()
    assert impl.is_process_alive(pid) is False
    assert impl.is_process_alive(pid, allow_zombie=True) is False
    assert impl.is_process_alive(pid, create_time=time.time()) is False


@pytest.mark.parametrize("pid", [0, -1, -os.getpgid(0), -(2**70)])
def test_non_positive_pids_make_no_system_call(
    py_impl: ModuleType, monkeypatch: pytest.MonkeyPatch, pid: int
) -> None:
    """pid <= 0 is answered without kill() or pidfd_open() (pure-Python twin, both patched)."""

    def forbidden(*args: Any) -> None:
        raise AssertionError(f"system call made for pid {pid}")

    monkeypatch.setattr(os, "kill", forbidden)
    if hasattr(os, "pidfd_open"):
        monkeypatch.setattr(os, "pidfd_open", forbidden)
    assert py_impl.is_process_alive(pid) is False


@pytest.mark.parametrize(
    "make_pid",
    [
        lambda: 2**22 + 1,
        lambda: 2**31 - 1,
        lambda: 2**31,
        lambda: 2**32 + os.getpid(),  # wraps to our own pid if truncated to 32 bits
        lambda: 2**63 - 1,
        lambda: 2**64 + os.getpid(),
        lambda: 2**40,
        lambda: 2**200,
    ],
    ids=["2**22+1", "2**31-1", "2**31", "2**32+pid", "2**63-1", "2**64+pid", "2**40", "2**200"],
)
def test_huge_pids(impl: ModuleType, outcome: Outcome, make_pid: Callable[[], int]) -> None:
    """A pid above the kernel's maximum is False: no OverflowError, no wrap-around."""
    assert outcome(impl.is_process_alive, make_pid()) == ("ok", False)


@pytest.mark.parametrize(
    "pid",
    [True, False, float(os.getpid()), 1.0, str(os.getpid()), None, b"1", Decimal(1), 1j, [1]],
    ids=repr,
)
def test_non_int_pid_is_a_type_error(impl: ModuleType, pid: Any) -> None:
    """pid must be an int and not a bool: anything else raises TypeError."""
    with pytest.raises(TypeError):
        impl.is_process_alive(pid)


@pytest.mark.parametrize("create_time", ["1", b"1", [1.0]], ids=repr)
def test_non_number_create_time_is_a_type_error(impl: ModuleType, create_time: Any) -> None:
    """create_time must be a number or None: a clear TypeError, not a silent answer."""
    with pytest.raises(TypeError):
        impl.is_process_alive(os.getpid(), create_time=create_time)


def test_options_are_keyword_only(impl: ModuleType) -> None:
    """create_time and allow_zombie cannot be passed positionally."""
    with pytest.raises(TypeError):
        impl.is_process_alive(os.getpid(), None)
    with pytest.raises(TypeError):
        impl.is_process_alive(os.getpid(), None, True)


def test_create_time(impl: ModuleType) -> None:
    """Own pid with psutil's create_time is True; 10 s later or earlier it is False."""
    started = psutil.Process().create_time()
    assert impl.is_process_alive(os.getpid(), create_time=started) is True
    assert impl.is_process_alive(os.getpid(), create_time=started + 10) is False
    assert impl.is_process_alive(os.getpid(), create_time=started - 10) is False
    assert impl.is_process_alive(os.getpid(), create_time=0.0) is False
    assert impl.is_process_alive(os.getpid(), create_time=float("nan")) is False
    assert impl.is_process_alive(os.getpid(), create_time=float("inf")) is False


def test_create_time_of_a_dead_pid(impl: ModuleType, dead_pid: int) -> None:
    """A dead pid stays False whatever create_time is given."""
    assert impl.is_process_alive(dead_pid, create_time=time.time()) is False


_NOBODY_SCRIPT = """
import importlib, os, sys
sys.path.insert(0, sys.argv[1])
impl = importlib.import_module(sys.argv[2])
import psutil
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
print(impl.is_process_alive(int(sys.argv[3])), psutil.pid_exists(int(sys.argv[3])))
"""


def test_other_users_process(impl: ModuleType) -> None:
    """A process of another user (kill() gives EPERM) is alive: checked as uid 65534."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to uid 65534")
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(impl.__file__)))
    result = subprocess.run(
        [sys.executable, "-c", _NOBODY_SCRIPT, package_root, impl.__name__, str(os.getpid())],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        cwd="/",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


def _psutil_alive(pid: int, allow_zombie: bool) -> bool:
    """contract §2.1's definition, through psutil; pid <= 0 is never a process."""
    if pid <= 0 or not psutil.pid_exists(pid):
        return False
    return allow_zombie or psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


def _existing_ids() -> List[int]:
    """Pids and thread ids present when the module is collected (to hit live processes)."""
    ids = set(psutil.pids())
    try:
        for pid in list(ids)[:200]:
            ids.update(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        pass
    return sorted(ids)


PIDS = st.one_of(
    st.integers(min_value=-10, max_value=2**22 + 10),
    st.sampled_from(_existing_ids()),
    st.integers(min_value=-10, max_value=100),
)


@given(pid=PIDS, allow_zombie=st.booleans())
@example(pid=0, allow_zombie=False)
@example(pid=1, allow_zombie=False)
@example(pid=-1, allow_zombie=True)
@example(pid=2**22 + 10, allow_zombie=False)
def test_matches_psutil(impl: ModuleType, pid: int, allow_zombie: bool) -> None:
    """On any pid, the answer is psutil's pid_exists and not-a-zombie (unless allowed)."""
    try:
        before = _psutil_alive(pid, allow_zombie)
        got = impl.is_process_alive(pid, allow_zombie=allow_zombie)
        after = _psutil_alive(pid, allow_zombie)
    except psutil.NoSuchProcess:
        assume(False)  # the process went away between two psutil calls
        return
    assume(before == after)  # it started or exited while we were asking
    assert got is before


@given(pid=PIDS, allow_zombie=st.booleans(), use_time=st.booleans())
def test_matches_python_twin(
    impl: ModuleType,
    py_impl: ModuleType,
    outcome: Outcome,
    pid: int,
    allow_zombie: bool,
    use_time: bool,
) -> None:
    """The compiled core and the pure-Python twin agree on every pid (races aside)."""
    create_time = None
    if use_time:
        try:
            create_time = psutil.Process(pid).create_time() if pid > 0 else time.time()
        except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
            create_time = time.time()
    kwargs = {"create_time": create_time, "allow_zombie": allow_zombie}
    first = outcome(py_impl.is_process_alive, pid, **kwargs)
    got = outcome(impl.is_process_alive, pid, **kwargs)
    second = outcome(py_impl.is_process_alive, pid, **kwargs)
    assume(first == second)
    assert got == first


@given(delta=st.floats(min_value=-100, max_value=100))
@example(delta=0.0)
@example(delta=0.5)
@example(delta=-0.03)
def test_create_time_tolerance(impl: ModuleType, delta: float) -> None:
    """A create_time off by clearly more than a clock tick is a different process."""
    started = psutil.Process().create_time()
    got = impl.is_process_alive(os.getpid(), create_time=started + delta)
    if abs(delta) < 0.001:
        assert got is True
    elif abs(delta) > 0.03:
        assert got is False


# --- a process whose main thread has exited while another thread runs ---

# The main thread ends with pthread_exit (ctypes releases the GIL for the call); the
# other thread prints its id, then ends the whole process once stdin is closed.
_LEADER_EXITS_SCRIPT = r"""
import ctypes, os, sys, threading
def run():
    print(threading.get_native_id(), flush=True)
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=run).start()
ctypes.CDLL(None).pthread_exit(None)
"""


def _leader_has_exited(pid: int) -> bool:
    """Is the leader of ``pid`` in state Z while /proc/<pid>/task lists other threads?"""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    return _proc_state(pid) == "Z" and len(tasks) > 1


@pytest.fixture
def leader_exited() -> Iterator[subprocess.Popen[bytes]]:
    """A child whose main thread has exited (pthread_exit) while its other thread runs.

    Closing its stdin ends the process; it is killed and reaped afterwards in any case.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", _LEADER_EXITS_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip().isdigit()
        deadline = time.monotonic() + HANG_GUARD
        while not _leader_has_exited(child.pid):
            if time.monotonic() > deadline:
                pytest.fail(f"child {child.pid}'s main thread never exited")
            time.sleep(0.005)
        yield child
    finally:
        child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()


def _end_and_keep_zombie(child: subprocess.Popen[bytes]) -> None:
    """Let the child's last thread end it; return once it is a zombie (not reaped)."""
    assert child.stdin is not None
    child.stdin.close()
    deadline = time.monotonic() + HANG_GUARD
    while os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
        if time.monotonic() > deadline:
            pytest.fail(f"child {child.pid} did not exit")
        time.sleep(0.005)


def test_leader_exited_process_is_alive(
    impl: ModuleType, leader_exited: subprocess.Popen[bytes]
) -> None:
    """Main thread exited, another thread runs: alive (contract §2.1), though psutil says zombie.

    Once its last thread ends, it is a real zombie (alive only with allow_zombie), then
    gone once reaped.
    """
    pid = leader_exited.pid
    process = psutil.Process(pid)
    assert process.status() == psutil.STATUS_ZOMBIE  # psutil reads the leader's state
    started = process.create_time()
    assert impl.is_process_alive(pid) is True
    assert impl.is_process_alive(pid, allow_zombie=True) is True
    assert impl.is_process_alive(pid, create_time=started) is True
    assert impl.is_process_alive(pid, create_time=started, allow_zombie=True) is True
    assert impl.is_process_alive(pid, create_time=started + 10) is False
    assert _leader_has_exited(pid)  # still so: the answers were about that state
    _end_and_keep_zombie(leader_exited)
    assert impl.is_process_alive(pid) is False
    assert impl.is_process_alive(pid, allow_zombie=True) is True
    leader_exited.wait()
    assert impl.is_process_alive(pid) is False
    assert impl.is_process_alive(pid, allow_zombie=True) is False


# --- the /proc fallback, where pidfd_open is refused (seccomp) ---

# A child Python where a seccomp filter makes pidfd_open fail with errno argv[2] (as
# an old kernel's ENOSYS or a container's EPERM would), answering queries from stdin:
# [module, pid (null: its own), create_time, allow_zombie] -> [answer, fallback calls].
_NO_PIDFD_SERVER = r"""
import importlib, json, os, sys
sys.path.insert(0, sys.argv[1])
from _seccomp import SYS_PIDFD_OPEN, SeccompUnavailable, deny_syscall
try:
    deny_syscall(SYS_PIDFD_OPEN, int(sys.argv[2]))
except SeccompUnavailable as e:
    print(json.dumps(["unavailable", str(e)]), flush=True)
    sys.exit(0)
from skyfast import _kernel
calls = []
fallback = _kernel.alive_from_procfs
def counted(*args):
    calls.append(args)
    return fallback(*args)
_kernel.alive_from_procfs = counted  # both implementations call it through _kernel
try:
    os.pidfd_open(os.getpid())
    refused = 0
except OSError as e:
    refused = e.errno
print(json.dumps([refused, os.getpid()]), flush=True)
for line in sys.stdin:
    name, pid, create_time, allow_zombie = json.loads(line)
    impl = importlib.import_module(name)
    impl.set_cache_ttl(0)
    del calls[:]
    try:
        answer = impl.is_process_alive(
            os.getpid() if pid is None else pid,
            create_time=create_time,
            allow_zombie=allow_zombie,
        )
    except Exception as e:
        answer = repr(e)
    print(json.dumps([answer, len(calls)]), flush=True)
"""

class NoPidfdServer:
    """The child running _NO_PIDFD_SERVER; ``ask(impl, pid, ...)`` is (answer, fallback calls)."""

    def __init__(self, err: int, env: Dict[str, str]) -> None:
        tests_dir = os.path.dirname(os.path.abspath(__file__))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _NO_PIDFD_SERVER, tests_dir, str(err)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        try:
            first = json.loads(line) if line else ["no answer", "the child exited (stderr above)"]
        except BaseException:
            self.close()
            raise
        # The errno pidfd_open fails with in the child; None when the child serves
        # nothing (it has exited, or no filter can be installed: then `unavailable`
        # says why and `no_seccomp` whether that is the emulator's refusal).
        self.refused: Optional[int] = None
        self.pid = 0  # the child's, once it serves
        self.unavailable: Optional[str] = None
        self.no_seccomp = first[0] == "unavailable"
        if isinstance(first[0], int):
            self.refused, self.pid = first
        else:
            self.unavailable = f"{first[0]}: {first[1]}"
            self.close()

    def ask(
        self,
        impl: ModuleType,
        pid: Optional[int],
        *,
        create_time: Optional[float] = None,
        allow_zombie: bool = False,
    ) -> Tuple[Any, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([impl.__name__, pid, create_time, allow_zombie]) + "\n")
        self.proc.stdin.flush()
        answer, calls = json.loads(self.proc.stdout.readline())
        return answer, calls

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        try:
            self.proc.wait(timeout=10)
        finally:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(
    name="no_pidfd", scope="module", params=[errno.ENOSYS, errno.EPERM], ids=["ENOSYS", "EPERM"]
)
def no_pidfd_fixture(
    request: pytest.FixtureRequest, child_env: Dict[str, str]
) -> Iterator[NoPidfdServer]:
    """A child where pidfd_open fails with ENOSYS or EPERM, so both cores read /proc."""
    server = NoPidfdServer(request.param, child_env)
    if server.no_seccomp:  # qemu-user; covered natively, on every other leg
        pytest.skip(f"pidfd_open cannot be refused here: {server.unavailable}")
    try:
        # The fallback's condition holds there.
        assert server.refused == request.param, server.unavailable
        yield server
    finally:
        server.close()


def test_no_pidfd_own_pid(impl: ModuleType, no_pidfd: NoPidfdServer) -> None:
    """Without pidfd: the child itself is alive; its create_time matches, another does not."""
    started = psutil.Process(no_pidfd.pid).create_time()
    assert no_pidfd.ask(impl, None)[0] is True
    assert no_pidfd.ask(impl, None, allow_zombie=True)[0] is True
    assert no_pidfd.ask(impl, no_pidfd.pid, create_time=started) == (True, 1)
    assert no_pidfd.ask(impl, no_pidfd.pid, create_time=started + 10) == (False, 1)
    assert no_pidfd.ask(impl, os.getpid()) == (True, 1)  # this test process


def test_no_pidfd_live_child(impl: ModuleType, no_pidfd: NoPidfdServer) -> None:
    """Without pidfd: a running process is alive, with its create_time and not another's."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        started = psutil.Process(child.pid).create_time()
        assert no_pidfd.ask(impl, child.pid) == (True, 1)
        assert no_pidfd.ask(impl, child.pid, allow_zombie=True) == (True, 1)
        assert no_pidfd.ask(impl, child.pid, create_time=started) == (True, 1)
        assert no_pidfd.ask(impl, child.pid, create_time=started - 10) == (False, 1)
    finally:
        child.kill()
        child.wait()
        assert child.stdin is not None
        child.stdin.close()


def test_no_pidfd_zombie(impl: ModuleType, no_pidfd: NoPidfdServer, zombie: int) -> None:
    """Without pidfd: a zombie is not alive, unless allow_zombie (and the create_time fits)."""
    started = psutil.Process(zombie).create_time()
    assert no_pidfd.ask(impl, zombie) == (False, 1)
    assert no_pidfd.ask(impl, zombie, allow_zombie=True) == (True, 1)
    assert no_pidfd.ask(impl, zombie, allow_zombie=True, create_time=started) == (True, 1)
    assert no_pidfd.ask(impl, zombie, allow_zombie=True, create_time=started + 10) == (False, 1)


def test_no_pidfd_dead_pid(impl: ModuleType, no_pidfd: NoPidfdServer, dead_pid: int) -> None:
    """Without pidfd: a reaped pid is not alive."""
    assert no_pidfd.ask(impl, dead_pid)[0] is False
    assert no_pidfd.ask(impl, dead_pid, allow_zombie=True)[0] is False
    assert no_pidfd.ask(impl, dead_pid, create_time=time.time()) == (False, 1)


def test_no_pidfd_thread_id(impl: ModuleType, no_pidfd: NoPidfdServer, thread_id: int) -> None:
    """Without pidfd: a live thread id that is not a leader is not a process (Tgid differs)."""
    started = psutil.Process().create_time()  # the thread's start is later: any time is wrong
    assert no_pidfd.ask(impl, thread_id)[0] is False
    assert no_pidfd.ask(impl, thread_id, allow_zombie=True)[0] is False
    assert no_pidfd.ask(impl, thread_id, create_time=started) == (False, 1)


def test_no_pidfd_leader_exited(
    impl: ModuleType, no_pidfd: NoPidfdServer, leader_exited: subprocess.Popen[bytes]
) -> None:
    """Without pidfd: main thread exited, another runs: alive (the leader's /proc state is Z)."""
    pid = leader_exited.pid
    started = psutil.Process(pid).create_time()
    assert no_pidfd.ask(impl, pid) == (True, 1)
    assert no_pidfd.ask(impl, pid, allow_zombie=True) == (True, 1)
    assert no_pidfd.ask(impl, pid, create_time=started) == (True, 1)
    assert no_pidfd.ask(impl, pid, create_time=started + 10) == (False, 1)
    assert _leader_has_exited(pid)
    _end_and_keep_zombie(leader_exited)
    assert no_pidfd.ask(impl, pid) == (False, 1)
    assert no_pidfd.ask(impl, pid, allow_zombie=True) == (True, 1)
    leader_exited.wait()
    assert no_pidfd.ask(impl, pid)[0] is False
    assert no_pidfd.ask(impl, pid, allow_zombie=True)[0] is False
