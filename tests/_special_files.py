"""Real special files for tests: a lease held by another process, FIFOs and pipes
with and without writers, a pty, and a call that runs while a FIFO is fed.

Everything here is deterministic: helpers wait for the state they need (the
lease taken, the reader's open seen in /proc) instead of sleeping.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from typing import Any, Callable, Iterator, Optional, Tuple

from _guards import HANG_GUARD

# The child takes a write lease, waits for the kernel's lease-break signal (SIGIO),
# keeps the lease a moment longer so a reader really waits, then releases it.
_LEASE_HOLDER = r"""
import fcntl, os, signal, sys, time
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGIO})
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
print("held", flush=True)
signal.sigwait({signal.SIGIO})
time.sleep(0.2)
print("breaking", flush=True)
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
os.close(fd)
"""


class Lease:
    """A write lease on a file, held by a child process until someone opens the file."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._proc = proc

    def was_broken(self) -> bool:
        """Whether the holder saw the lease-break signal (waits for the holder to end)."""
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        self._proc.wait(timeout=HANG_GUARD)
        return line == "breaking\n"


@contextlib.contextmanager
def write_lease(path: str) -> Iterator[Lease]:
    """A write lease (F_SETLEASE F_WRLCK) on ``path`` held by a child process.

    Any open() of the file, even read-only, breaks it: a plain open() waits
    until the holder releases it; an O_NONBLOCK open fails with EWOULDBLOCK.
    """
    proc = subprocess.Popen([sys.executable, "-c", _LEASE_HOLDER, path],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "held\n", "the child could not take the lease"
        yield Lease(proc)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _opened_by_this_process(path: str) -> int:
    """How many descriptors of this process name ``path``."""
    real = os.path.realpath(path)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == real:
                count += 1
        except OSError:
            pass
    return count


def call_while_fed(
    fn: Callable[..., Any], fifo: str, *args: Any, data: bytes, before_open: bool
) -> Tuple[str, Any]:
    """``fn(fifo, *args)`` on a named FIFO whose writer is there before the call.

    The writer (this process, through an O_RDWR descriptor) sends ``data``
    before the call opens the FIFO (``before_open``) or after it has opened it
    (so the call first finds a writer with nothing sent), then hangs up once
    the call has the FIFO open, which ends the call's reading.  Returns
    ("ok", value) or ("err", exception).
    """
    writer = os.open(fifo, os.O_RDWR)  # counts as a writer at once; never blocks
    already = _opened_by_this_process(fifo)
    result: list = []

    def call() -> None:
        try:
            result.append(("ok", fn(fifo, *args)))
        except Exception as e:  # the exception is the result
            result.append(("err", e))

    try:
        if before_open:
            os.write(writer, data)
        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        while worker.is_alive() and _opened_by_this_process(fifo) == already:
            worker.join(0.001)
        if not before_open:
            os.write(writer, data)
    finally:
        os.close(writer)
    worker.join(60)
    assert not worker.is_alive(), "the call did not end when the writer hung up"
    return result[0]


@contextlib.contextmanager
def anonymous_pipe(data: bytes, *, keep_writer: bool = False) -> Iterator[str]:
    """A path to an anonymous pipe holding ``data`` (as /dev/stdin is under ``echo x |``).

    The write end is closed unless ``keep_writer``; the path is /proc/self/fd/N.
    """
    r, w = os.pipe()
    try:
        os.write(w, data)
        if not keep_writer:
            os.close(w)
            w = -1
        yield f"/proc/self/fd/{r}"
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


@contextlib.contextmanager
def pty_path() -> Iterator[str]:
    """The path of a pseudo-terminal's slave side (a tty like /dev/pts/0)."""
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


def lease_unavailable_reason(directory: str) -> Optional[str]:
    """Why a write lease cannot be taken on a file in ``directory``, or None."""
    import fcntl

    try:
        with open("/proc/sys/fs/leases-enable") as f:
            if f.read().strip() == "0":
                return "leases are disabled (fs.leases-enable = 0)"
    except OSError:
        pass
    path = os.path.join(directory, ".lease-probe")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
    except OSError as e:
        return f"this file system refuses leases: {e}"
    finally:
        os.close(fd)
        os.unlink(path)
    return None
