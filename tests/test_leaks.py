"""The leak tier: memory, descriptors and threads stay flat over many calls (docs/reliability.md).

Built on psleak (psutil's leak tier as a package).  Every case of ``CASES`` -- each of
the twelve functions (and the ``get_max_workers`` alias once) on its success paths and
on each of its error paths, ``EMFILE`` included -- runs against both implementations
through ``psleak.MemoryLeakTestCase.execute``, which

* calls it once and fails on a descriptor, Python thread, native thread or
  uncollectable GC object left behind;
* warms up, then calls it ``TIMES`` times between two measurements (each after
  ``gc.collect()`` and ``malloc_trim``): mallinfo2's heap and mmap bytes
  (``psutil.heap_info``), USS, RSS, VMS and, added here, tracemalloc's traced bytes.
  When something grew it runs again with 1.5 times the calls, up to ten runs, and
  calls it a leak only if the growth per call never fades.

``PYTHONMALLOC=malloc`` has to be set when the interpreter starts (psleak skips
without it): pymalloc's arenas would hide small allocations from mallinfo2 and USS.
So this module skips unless it is set, and ``.ci/run`` runs the tier as its own step:

    PYTHONMALLOC=malloc PYTHONUNBUFFERED=1 python -Im pytest tests -m leaks

Load does not enter.  The heap, mmap, VMS and tracemalloc counts move only with this
process's own allocations, and get no tolerance beyond psleak's (a growth per call
that fades as the calls grow, or stays under 16 bytes per call: below any block
malloc hands out, so one leaked object per call is always over it).  USS and RSS also
move with other processes: a library page turns private when the last other process
mapping it exits, a file page is reclaimed and faulted back in.  Both are bounded by
the file-backed resident pages, so these two get that much per run (``PAGE_NOISE``);
a leak of this process's own memory shows in heap, mmap or VMS anyway.  No time is
measured.  ``test_the_tier_catches_a_leak`` shows the tier failing on stand-ins that
leak.

Under a debug CPython (``sys.gettotalrefcount``; Debian's ``python3.X-dbg``) the same
cases also check that the total reference count returns to its start: a reference
kept per call without memory (an extra ``Py_INCREF``) stays under psleak's floor.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import os
import pathlib
import resource
import socket
import subprocess
import sys
import threading
import tracemalloc
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, ClassVar, Dict, Iterator, List, Optional, Tuple, Type

import pytest

pytestmark = [
    pytest.mark.leaks,
    # psleak's advice, for a run that prints while measuring; nothing here prints then.
    pytest.mark.filterwarnings("ignore:PYTHONUNBUFFERED=1 environment variable:RuntimeWarning"),
]

if os.environ.get("PYTHONMALLOC") != "malloc":
    pytest.skip(
        "the leak tier runs with PYTHONMALLOC=malloc set at start-up (docs/reliability.md, Leaks)",
        allow_module_level=True,
    )

import psleak  # noqa: E402  (the test extra; missing under PYTHONMALLOC=malloc is an error)
import psutil  # noqa: E402

from skyfast import FileNotFoundAssertionError  # noqa: E402
from skyfast._common import FUNCTIONS, POD_ENV_VARS  # noqa: E402

TIMES = 1000  # calls in the first measured run (psleak: then x1.5 per run, ten runs at most)
PAGE_NOISE = 32 << 20  # USS/RSS growth per run not taken as a leak: > the file-backed pages
WARMUP = 3  # calls before psleak's one-call checks: lazy imports, the once-only warning


# --- the process state the cases use ---


@dataclass
class World:
    """Files, a held port and processes, made once for the module."""

    file: str  # a few lines
    log: str  # 40 KiB of 200-byte lines: read_last_n_lines scans back over three blocks
    big: str  # 300 KiB: hash_file reads it in two blocks
    bad_utf8: str
    dir: str  # five entries
    dir_fd: int
    missing: str
    fifo: str  # no writer
    held_port: int  # bound and listening: find_free_port must skip it
    child_pid: int  # alive until the module ends
    child_create_time: float
    zombie_pid: int  # exited, not reaped
    no_pid: int  # pid_max: no process has it


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("leaks")

    def write(name: str, data: bytes) -> str:
        path = root / name
        path.write_bytes(data)
        return str(path)

    directory = root / "d"
    directory.mkdir()
    for i in range(5):
        (directory / str(i)).write_bytes(b"")
    fifo = root / "fifo"
    os.mkfifo(fifo)
    held = socket.socket()
    held.bind(("", 0))
    held.listen()
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    zombie = subprocess.Popen([sys.executable, "-c", ""])
    os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # exited, left unreaped
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    try:
        yield World(
            file=write("f", b"one\ntwo\nthree\n"),
            log=write("log", b"".join(b"%199d\n" % i for i in range(200))),
            big=write("big", b"x" * (300 << 10)),
            bad_utf8=write("bad", b"ok\n\xff\xfe\n"),
            dir=str(directory),
            dir_fd=dir_fd,
            missing=str(root / "missing"),
            fifo=str(fifo),
            held_port=held.getsockname()[1],
            child_pid=child.pid,
            child_create_time=psutil.Process(child.pid).create_time(),
            zombie_pid=zombie.pid,
            no_pid=pid_max,
        )
    finally:
        os.close(dir_fd)
        held.close()
        assert child.stdin is not None
        child.stdin.close()
        child.wait()
        zombie.wait()


# --- the cases ---

Make = Callable[[World], Tuple[Tuple[Any, ...], Dict[str, Any]]]


def args(*a: Any, **k: Any) -> Tuple[Tuple[Any, ...], Dict[str, Any]]:
    return a, k


@dataclass(frozen=True)
class Case:
    """One path of one function: its arguments, and the exception that path raises."""

    function: str
    path: str  # "ok-..." or the exception's name
    make: Make = lambda w: args()
    raises: Optional[Type[BaseException]] = None
    emfile: bool = False  # called with no descriptor to spare
    env: Dict[str, str] = field(default_factory=dict)
    cgroup: Optional[Dict[str, str]] = None  # a fake /sys/fs/cgroup (v2)

    @property
    def id(self) -> str:
        return f"{self.function}-{self.path}"


CGROUP_V2 = {"cgroup.controllers": "cpu memory\n", "cpu.max": "150000 100000\n",
             "memory.max": "1073741824\n"}
LIMIT = "SKYPILOT_POD_CPU_CORE_LIMIT"
GB, BYTES = "SKYPILOT_POD_MEMORY_GB_LIMIT", "SKYPILOT_POD_MEMORY_BYTES_LIMIT"

CASES = [
    # 2.1
    Case("is_process_alive", "ok-self", lambda w: args(os.getpid())),
    Case("is_process_alive", "ok-child", lambda w: args(w.child_pid)),
    Case("is_process_alive", "ok-child-create-time",
         lambda w: args(w.child_pid, create_time=w.child_create_time)),
    Case("is_process_alive", "ok-other-create-time",
         lambda w: args(w.child_pid, create_time=w.child_create_time - 1000)),
    Case("is_process_alive", "ok-zombie", lambda w: args(w.zombie_pid)),
    Case("is_process_alive", "ok-zombie-allowed", lambda w: args(w.zombie_pid, allow_zombie=True)),
    Case("is_process_alive", "ok-no-such-pid", lambda w: args(w.no_pid)),
    Case("is_process_alive", "ok-pid-0", lambda w: args(0)),
    Case("is_process_alive", "TypeError-pid", lambda w: args("1"), TypeError),
    Case("is_process_alive", "TypeError-create-time",
         lambda w: args(w.child_pid, create_time="1"), TypeError),
    Case("is_process_alive", "EMFILE", lambda w: args(w.child_pid), OSError, emfile=True),
    # 2.2
    Case("get_cpu_count", "ok-host"),
    Case("get_cpu_count", "ok-cgroup-v2", cgroup=CGROUP_V2),
    Case("get_cpu_count", "ok-env", env={LIMIT: "3"}),
    Case("get_cpu_count", "ValueError-env", raises=ValueError, env={LIMIT: "abc"}),
    Case("get_cpu_count", "ok-EMFILE", emfile=True),  # unreadable cgroup files: no limit
    # 2.3
    Case("get_parallel_threads", "ok"),
    Case("get_parallel_threads", "ok-kubernetes", lambda w: args("kubernetes")),
    Case("get_parallel_threads", "ok-container-aware", lambda w: args(container_aware=True)),
    Case("get_parallel_threads", "AttributeError", lambda w: args(5), AttributeError),
    # 2.4
    Case("base36_encode", "ok-str", lambda w: args("ff" * 20)),
    Case("base36_encode", "ok-bytes", lambda w: args(b"deadbeef")),
    Case("base36_encode", "ok-zero", lambda w: args("0")),
    Case("base36_encode", "ValueError-empty", lambda w: args(""), ValueError),
    Case("base36_encode", "ValueError-negative", lambda w: args("-ff"), ValueError),
    Case("base36_encode", "TypeError", lambda w: args(5), TypeError),
    # 2.5
    Case("get_mem_size_gb", "ok-host"),
    Case("get_mem_size_gb", "ok-cgroup-v2", cgroup=CGROUP_V2),
    Case("get_mem_size_gb", "ok-env-gb", env={GB: "4"}),
    Case("get_mem_size_gb", "ok-env-bytes", env={BYTES: "1073741824"}),
    Case("get_mem_size_gb", "ValueError-env-gb", raises=ValueError, env={GB: "4GB"}),
    Case("get_mem_size_gb", "ValueError-env-bytes", raises=ValueError, env={BYTES: "1Gi"}),
    Case("get_mem_size_gb", "EMFILE", raises=OSError, emfile=True),
    # 2.6
    Case("hash_file", "ok", lambda w: args(w.file, "sha256")),
    Case("hash_file", "ok-two-blocks", lambda w: args(w.big, "md5")),
    Case("hash_file", "FileNotFoundError", lambda w: args(w.missing, "sha256"), FileNotFoundError),
    Case("hash_file", "IsADirectoryError", lambda w: args(w.dir, "sha256"), IsADirectoryError),
    Case("hash_file", "ValueError-alg", lambda w: args(w.file, "nope"), ValueError),
    Case("hash_file", "TypeError-alg", lambda w: args(w.file, None), TypeError),
    Case("hash_file", "TypeError-path", lambda w: args(1.5, "sha256"), TypeError),
    Case("hash_file", "OSError-fifo", lambda w: args(w.fifo, "sha256"), OSError),
    Case("hash_file", "EMFILE", lambda w: args(w.file, "sha256"), OSError, emfile=True),
    # 2.7 (and the alias, once)
    Case("get_max_workers_for_file_mounts", "ok", lambda w: args({"/a": w.dir, "/b": w.missing})),
    Case("get_max_workers_for_file_mounts", "ok-empty", lambda w: args({})),
    Case("get_max_workers_for_file_mounts", "ok-kubernetes",
         lambda w: args({"/a": w.dir}, "kubernetes")),
    Case("get_max_workers_for_file_mounts", "AttributeError-mounts",
         lambda w: args(None), AttributeError),
    Case("get_max_workers_for_file_mounts", "AttributeError-cloud",
         lambda w: args({}, 5), AttributeError),
    Case("get_max_workers_for_file_mounts", "EMFILE",
         lambda w: args({"/a": w.dir}), OSError, emfile=True),
    Case("get_max_workers", "ok", lambda w: args({"/a": w.dir})),
    # 2.8
    Case("read_last_n_lines", "ok", lambda w: args(w.file, 2)),
    Case("read_last_n_lines", "ok-n-0", lambda w: args(w.file, 0)),
    Case("read_last_n_lines", "ok-many-blocks", lambda w: args(w.log, 150)),
    Case("read_last_n_lines", "ok-replace", lambda w: args(w.bad_utf8, 5)),
    Case("read_last_n_lines", "AssertionError-n", lambda w: args(w.file, -1), AssertionError),
    Case("read_last_n_lines", "AssertionError-chunk-size",
         lambda w: args(w.file, 1, chunk_size=0), AssertionError),
    Case("read_last_n_lines", "FileNotFoundAssertionError",
         lambda w: args(w.missing, 1), FileNotFoundAssertionError),
    Case("read_last_n_lines", "TypeError-n", lambda w: args(w.file, "1"), TypeError),
    Case("read_last_n_lines", "LookupError", lambda w: args(w.file, 1, encoding="nope"),
         LookupError),
    Case("read_last_n_lines", "UnicodeDecodeError",
         lambda w: args(w.bad_utf8, 5, errors="strict"), UnicodeDecodeError),
    Case("read_last_n_lines", "RuntimeError-dir", lambda w: args(w.dir, 1), RuntimeError),
    Case("read_last_n_lines", "RuntimeError-fifo", lambda w: args(w.fifo, 1), RuntimeError),
    Case("read_last_n_lines", "EMFILE", lambda w: args(w.file, 1), RuntimeError, emfile=True),
    # 2.9
    Case("format_float", "ok", lambda w: args(3.14159, 2)),
    Case("format_float", "ok-int", lambda w: args(12345)),
    Case("format_float", "ok-whole", lambda w: args(2.0)),
    Case("format_float", "ValueError", lambda w: args(1.5, -1), ValueError),
    Case("format_float", "AttributeError", lambda w: args("x"), AttributeError),
    # 2.10
    Case("estimate_fd_for_dir", "ok", lambda w: args(w.dir)),
    Case("estimate_fd_for_dir", "ok-bytes", lambda w: args(os.fsencode(w.dir))),
    Case("estimate_fd_for_dir", "ok-pathlib", lambda w: args(pathlib.Path(w.dir))),
    Case("estimate_fd_for_dir", "ok-fd", lambda w: args(w.dir_fd)),
    Case("estimate_fd_for_dir", "FileNotFoundError", lambda w: args(w.missing), FileNotFoundError),
    Case("estimate_fd_for_dir", "NotADirectoryError", lambda w: args(w.file), NotADirectoryError),
    Case("estimate_fd_for_dir", "TypeError", lambda w: args([]), TypeError),
    Case("estimate_fd_for_dir", "ValueError-nul", lambda w: args("a\0b"), ValueError),
    Case("estimate_fd_for_dir", "EMFILE", lambda w: args(w.dir), OSError, emfile=True),
    # 2.11
    Case("find_free_port", "ok", lambda w: args(0)),
    Case("find_free_port", "ok-past-held", lambda w: args(w.held_port)),
    Case("find_free_port", "ok-host", lambda w: args(w.held_port, host="127.0.0.1")),
    Case("find_free_port", "OSError-none-free",
         lambda w: args(w.held_port, end_port=w.held_port + 1), OSError),
    Case("find_free_port", "OverflowError", lambda w: args(-5), OverflowError),
    Case("find_free_port", "TypeError", lambda w: args(80.0), TypeError),
    Case("find_free_port", "EMFILE", lambda w: args(0), OSError, emfile=True),
    # 2.12
    Case("truncate_long_string", "ok-short", lambda w: args("short")),
    Case("truncate_long_string", "ok-end", lambda w: args("a few words " * 10, 30)),
    Case("truncate_long_string", "ok-middle", lambda w: args("x" * 100, 20, True)),
    Case("truncate_long_string", "TypeError", lambda w: args(None), TypeError),
]  # fmt: skip


# --- calling a case ---


def _errno(e: BaseException) -> Optional[int]:
    """The errno of ``e`` or of the OSError it was raised from (read_last_n_lines)."""
    for err in (e, e.__cause__):
        if isinstance(err, OSError):
            return err.errno
    return None


@contextlib.contextmanager
def _no_descriptor_to_spare() -> Iterator[None]:
    """Soft RLIMIT_NOFILE at the lowest free descriptor number for the block: EMFILE.

    Only around one call: psleak's measurements open /proc files between calls.
    """
    lowest = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    os.close(lowest)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def caller(fn: Callable[..., Any], case: Case, world: World) -> Callable[[], None]:
    """A no-argument call of ``fn`` on ``case``'s path that fails if it takes another path."""
    a, k = case.make(world)
    raises, emfile = case.raises, case.emfile

    def call() -> None:
        try:
            if emfile:
                with _no_descriptor_to_spare():
                    fn(*a, **k)
            else:
                fn(*a, **k)
        except Exception as e:
            if raises is None or not isinstance(e, raises):
                raise
            if emfile and _errno(e) != errno.EMFILE:
                raise
            return
        if raises is not None:
            raise AssertionError(f"{case.id} did not raise {raises.__name__}")

    return call


# --- the checker ---


class LeakCheck(psleak.MemoryLeakTestCase):  # type: ignore[misc]
    """psleak's checks, with tracemalloc's traced bytes as one more memory metric."""

    times = TIMES
    tolerance: ClassVar[Dict[str, int]] = {"uss": PAGE_NOISE, "rss": PAGE_NOISE}

    def _get_mem(self) -> Dict[str, int]:
        mem: Dict[str, int] = super()._get_mem()
        mem["tracemalloc"] = tracemalloc.get_traced_memory()[0]
        return mem

    def check(self, call: Callable[[], None]) -> None:
        """psleak's execute(), under tracemalloc; a leak's report names the growing lines."""
        for _ in range(WARMUP):
            call()
        tracemalloc.start()
        try:
            try:
                self.execute(call)
            except psleak.MemoryLeakError as e:
                raise psleak.MemoryLeakError(f"{e}\n{_growing_lines(call)}") from None
        finally:
            tracemalloc.stop()


def _growing_lines(call: Callable[[], None], calls: int = 1000) -> str:
    """The source lines whose traced memory grew most over ``calls`` more calls."""
    before = tracemalloc.take_snapshot()
    for _ in range(calls):
        call()
    after = tracemalloc.take_snapshot()
    top = [s for s in after.compare_to(before, "lineno") if s.size_diff > 0][:5]
    return f"tracemalloc, {calls} more calls:\n" + "\n".join(f"  {s}" for s in top)


@pytest.fixture(scope="module")
def leaks() -> LeakCheck:
    shared = psutil.Process().memory_info().shared  # file-backed and shared resident bytes
    assert shared < PAGE_NOISE, "PAGE_NOISE no longer covers what other processes can move"
    return LeakCheck()


@pytest.fixture
def case_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[Dict[str, str]], None]:
    """Set a case's SKYPILOT_POD_* variables (the others unset) until the test ends."""

    def apply(env: Dict[str, str]) -> None:
        for name in POD_ENV_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return apply


# --- the tests ---


def test_every_function_has_its_cases() -> None:
    """All twelve functions and the alias, each with a success path and an error path."""
    names = {case.function for case in CASES}
    assert names == {*FUNCTIONS, "get_max_workers"}
    for name in FUNCTIONS:
        paths = [c for c in CASES if c.function == name]
        assert any(c.raises is None for c in paths), f"{name}: no success path"
        assert any(c.raises is not None for c in paths), f"{name}: no error path"
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.fixture
def case_call(
    case: Case,
    impl: ModuleType,
    world: World,
    case_env: Callable[[Dict[str, str]], None],
    cgroup_root: Callable[..., Any],
    tmp_path: pathlib.Path,
) -> Iterator[Callable[[], None]]:
    """The case's call, with its environment and (if any) its fake cgroup tree in place."""
    case_env(case.env)
    call = caller(getattr(impl, case.function), case, world)
    with contextlib.ExitStack() as stack:
        if case.cgroup is not None:
            stack.enter_context(cgroup_root(str(tmp_path), case.cgroup, impl))
        yield call


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_no_leak(case_call: Callable[[], None], leaks: LeakCheck) -> None:
    """Nothing left open, no thread left running, memory flat over thousands of calls."""
    leaks.check(case_call)


# --- a debug CPython: references ---

REF_CALLS = 1000  # calls per round
REF_ROUNDS = 4  # measured rounds, after as many warm-up rounds


def refcount_growth(call: Callable[[], None]) -> List[int]:
    """sys.gettotalrefcount() growth over each of REF_ROUNDS rounds of REF_CALLS calls.

    As CPython's own ``-R`` leak hunt: warm-up rounds first, then the deltas of the
    measured ones.  A reference leaked per call adds REF_CALLS to every round;
    noise (a cache filling, a dict resizing) does not recur in every round.
    """
    gettotalrefcount = sys.gettotalrefcount  # type: ignore[attr-defined]  # debug builds only
    deltas = []
    for _ in range(2 * REF_ROUNDS):
        gc.collect()
        before = gettotalrefcount()
        for _ in range(REF_CALLS):
            call()
        gc.collect()
        deltas.append(gettotalrefcount() - before)
    return deltas[REF_ROUNDS:]


@pytest.mark.skipif(not hasattr(sys, "gettotalrefcount"),
                    reason="needs a debug CPython (sys.gettotalrefcount)")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_refcounts_return_to_start(case_call: Callable[[], None]) -> None:
    """The total reference count does not grow with the calls (CPython's debug build)."""
    deltas = refcount_growth(case_call)
    # A leak of one reference per call grows every round by REF_CALLS.
    assert min(deltas) < REF_CALLS // 2, f"references per round of {REF_CALLS} calls: {deltas}"


# --- the tier can fail ---


class StandIns:
    """Wrappers around a real call that leak one thing per call, and clean up after."""

    def __init__(self) -> None:
        self.kept: List[str] = []
        self.fds: List[int] = []
        self.stop = threading.Event()
        self.threads: List[threading.Thread] = []
        self.blocks = (ctypes.c_void_p * 200_000)()
        self.n_blocks = 0
        self.libc = ctypes.CDLL(None)
        self.libc.malloc.restype = ctypes.c_void_p
        self.libc.malloc.argtypes = [ctypes.c_size_t]
        self.libc.free.argtypes = [ctypes.c_void_p]
        self.anchor = ctypes.py_object([])  # an object of its own, not an immortal one
        self.increfs = 0
        self.Py_IncRef = ctypes.pythonapi.Py_IncRef
        self.Py_DecRef = ctypes.pythonapi.Py_DecRef

    def kept_reference(self, call: Callable[[], str]) -> Callable[[], None]:
        return lambda: self.kept.append(call())

    def malloc_without_free(self, call: Callable[[], str]) -> Callable[[], None]:
        def leak() -> None:  # C memory only: tracemalloc does not see it, mallinfo2 does
            call()
            self.blocks[self.n_blocks] = self.libc.malloc(64)
            self.n_blocks += 1

        return leak

    def incref_without_decref(self, call: Callable[[], str]) -> Callable[[], None]:
        def leak() -> None:  # a reference, no memory: only a debug build's refcount sees it
            call()
            self.Py_IncRef(self.anchor)
            self.increfs += 1

        return leak

    def open_descriptor(self, call: Callable[[], str]) -> Callable[[], None]:
        def leak() -> None:
            call()
            self.fds.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))

        return leak

    def running_thread(self, call: Callable[[], str]) -> Callable[[], None]:
        def leak() -> None:
            call()
            thread = threading.Thread(target=self.stop.wait, daemon=True)
            thread.start()
            self.threads.append(thread)

        return leak

    def clean_up(self) -> None:
        self.kept.clear()
        for i in range(self.n_blocks):
            self.libc.free(self.blocks[i])
        for _ in range(self.increfs):
            self.Py_DecRef(self.anchor)
        for fd in self.fds:
            os.close(fd)
        self.stop.set()
        for thread in self.threads:
            thread.join()


STAND_INS = {
    # stand-in: (the psleak error, what its message must name)
    "kept_reference": (psleak.MemoryLeakError, "tracemalloc="),
    "malloc_without_free": (psleak.MemoryLeakError, "heap="),
    "open_descriptor": (psleak.UnclosedFdError, "file descriptor"),
    "running_thread": (psleak.UnclosedPythonThreadError, "Python thread"),
}


@pytest.mark.parametrize("stand_in", list(STAND_INS))
def test_the_tier_catches_a_leak(stand_in: str, impl: ModuleType, leaks: LeakCheck) -> None:
    """A real call wrapped so it leaks one thing per call fails the same check as CASES."""
    error, named = STAND_INS[stand_in]
    stand_ins = StandIns()
    leaky = getattr(stand_ins, stand_in)(lambda: impl.base36_encode("ff" * 20))
    try:
        with pytest.raises(error) as caught:
            leaks.check(leaky)
    finally:
        stand_ins.clean_up()
    assert named in str(caught.value)
    print(caught.value)


@pytest.mark.skipif(not hasattr(sys, "gettotalrefcount"),
                    reason="needs a debug CPython (sys.gettotalrefcount)")
@pytest.mark.parametrize("stand_in", ["kept_reference", "incref_without_decref"])
def test_the_refcount_check_catches_a_leak(stand_in: str, impl: ModuleType) -> None:
    """One reference kept per call, with or without memory, grows every round by REF_CALLS."""
    stand_ins = StandIns()
    leaky = getattr(stand_ins, stand_in)(lambda: impl.base36_encode("ff" * 20))
    try:
        deltas = refcount_growth(leaky)
    finally:
        stand_ins.clean_up()
    assert min(deltas) >= REF_CALLS, deltas
