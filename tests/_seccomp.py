"""A seccomp filter that makes one system call fail, for tests of fallback paths.

Not a conftest: a plain module that child Pythons import (``sys.path`` gets tests/).
The filter applies to the calling thread and what it starts later (threads and
children), and cannot be removed: install it in a child process, before any thread.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from typing import List, Tuple

# The one number shared by every Linux architecture (all new system calls since
# 5.1 share theirs; alpha aside), so the filter needs no per-architecture check.
SYS_PIDFD_OPEN = 434

_PR_SET_SECCOMP = 22
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_MODE_FILTER = 2
_SECCOMP_RET_ERRNO = 0x00050000
_SECCOMP_RET_ALLOW = 0x7FFF0000
# Classic BPF opcodes: BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K.
_LD_ABS_W, _JEQ_K, _RET_K = 0x20, 0x15, 0x06


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class SeccompUnavailable(OSError):
    """Filters cannot be installed here at all (a kernel without them, or qemu-user,
    which refuses PR_SET_SECCOMP from the programs it emulates)."""


def _install(program: List[Tuple[int, int, int, int]]) -> int:
    """prctl(PR_SET_SECCOMP) with ``program``: 0, or the errno it failed with."""
    code = b"".join(struct.pack("=HBBI", *insn) for insn in program)  # struct sock_filter
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(program), ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                           ctypes.c_ulong]
    # Without privileges, a filter needs no_new_privs first.
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(e)}")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        return ctypes.get_errno()
    return 0


def deny_syscall(nr: int, err: int) -> None:
    """From now on, system call ``nr`` fails with errno ``err`` in this thread and its heirs.

    Raises SeccompUnavailable when no filter can be installed here; any other
    refusal (a filter of ours the kernel rejects) is an OSError, a test bug."""
    program = [
        (_LD_ABS_W, 0, 0, 0),  # A = seccomp_data.nr (offset 0)
        (_JEQ_K, 0, 1, nr),  # A == nr ? next : skip one
        (_RET_K, 0, 0, _SECCOMP_RET_ERRNO | (err & 0xFFFF)),
        (_RET_K, 0, 0, _SECCOMP_RET_ALLOW),
    ]
    e = _install(program)
    if e == 0:
        return
    # EINVAL is also what a malformed filter gets: only when the simplest filter,
    # allow everything (harmless once installed), is refused too is it the place.
    if e == errno.EINVAL and _install([(_RET_K, 0, 0, _SECCOMP_RET_ALLOW)]) == errno.EINVAL:
        raise SeccompUnavailable(e, "seccomp filters cannot be installed here "
                                    "(prctl(PR_SET_SECCOMP) refuses even an allow-all filter)")
    raise OSError(e, f"prctl(PR_SET_SECCOMP): {os.strerror(e)}")
