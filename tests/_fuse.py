"""A tiny FUSE filesystem whose files return short reads, for tests.

Regular files on network filesystems (and FUSE files opened with direct_io)
may return fewer bytes than asked before EOF; only a read() of 0 means EOF.
``mounted_short_read_files`` mounts such files so tests can check that callers
keep reading.  It needs no libfuse: the parent opens /dev/fuse and calls
mount(2) through ctypes (root only); a child process (this file run as a
script) answers the kernel's requests.  A child rather than a thread, because
a server thread would need the GIL while the test thread may hold it in a
blocking read on the mount (C extensions), which would deadlock.

Protocol structures: include/uapi/linux/fuse.h (all little-endian, packed to
8 bytes, layouts as of protocol 7.31).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import pickle
import select
import stat
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Dict, Iterator, Optional, Tuple

MS_NOSUID, MS_NODEV, MNT_DETACH = 0x2, 0x4, 0x2
FOPEN_DIRECT_IO = 1 << 0  # no page cache: the kernel passes our short reads through
OUR_MINOR = 31  # newest protocol minor whose structures we produce
MAX_WRITE = 128 * 1024
# The kernel refuses reads of /dev/fuse smaller than a whole request can be.
BUFSIZE = MAX_WRITE + 4096
READY = b"R"

# opcodes
LOOKUP, FORGET, GETATTR, OPEN, READ, STATFS, RELEASE = 1, 2, 3, 14, 15, 17, 18
GETXATTR, LISTXATTR, FLUSH, INIT, OPENDIR, READDIR, RELEASEDIR = 22, 23, 25, 26, 27, 28, 29
ACCESS, INTERRUPT, DESTROY, BATCH_FORGET = 34, 36, 38, 42
NO_REPLY = (FORGET, BATCH_FORGET, INTERRUPT)

IN_HEADER = struct.Struct("<IIQQIIIHH")  # len opcode unique nodeid uid gid pid extlen pad: 40
OUT_HEADER = struct.Struct("<IiQ")  # len error unique: 16
# ino size blocks atime mtime ctime, {a,m,c}timensec mode nlink uid gid rdev blksize flags: 88
ATTR = struct.Struct("<QQQQQQIIIIIIIIII")
ENTRY_OUT = struct.Struct("<QQQQII")  # nodeid generation entry_valid attr_valid *_nsec + ATTR
ATTR_OUT = struct.Struct("<QII")  # attr_valid attr_valid_nsec dummy + ATTR
OPEN_OUT = struct.Struct("<QII")  # fh open_flags padding: 16
READ_IN = struct.Struct("<QQII")  # fh offset size read_flags (+ lock_owner flags padding)
INIT_IN = struct.Struct("<IIII")  # major minor max_readahead flags (+ more we ignore)
# major minor max_readahead flags max_background congestion_threshold max_write time_gran
# max_pages map_alignment flags2 unused[7]: 64 bytes, the full size for minor >= 23
INIT_OUT = struct.Struct("<IIIIHHIIHHI28x")
STATFS_OUT = struct.Struct("<QQQQQIIII24x")  # blocks bfree bavail files ffree bsize ... : 80
DIRENT = struct.Struct("<QQII")  # ino off namelen type, then the name padded to 8 bytes
ROOT_ID = 1
TTL = 1  # seconds the kernel may cache entries and attributes


class _Server:
    def __init__(self, fd: int, files: Dict[str, bytes], max_read: int, st_size: str) -> None:
        self.fd, self.max_read, self.st_size = fd, max_read, st_size
        self.names = list(files)
        self.data = {ROOT_ID + 1 + i: files[n] for i, n in enumerate(self.names)}
        self.now = int(time.time())

    def attr(self, nodeid: int) -> bytes:
        if nodeid == ROOT_ID:
            mode, nlink, size = stat.S_IFDIR | 0o755, 2, 0
        else:
            mode, nlink = stat.S_IFREG | 0o644, 1
            size = len(self.data[nodeid]) if self.st_size == "true" else 0
        t = self.now
        return ATTR.pack(
            nodeid, size, (size + 511) // 512, t, t, t, 0, 0, 0, mode, nlink, 0, 0, 0, 4096, 0
        )

    def readdir(self, offset: int, size: int) -> bytes:
        entries = [(".", ROOT_ID, 4), ("..", ROOT_ID, 4)]  # 4 = DT_DIR, 8 = DT_REG
        entries += [(n, ROOT_ID + 1 + i, 8) for i, n in enumerate(self.names)]
        out = b""
        for i in range(offset, len(entries)):
            name, ino, typ = entries[i]
            raw = name.encode()
            rec = DIRENT.pack(ino, i + 1, len(raw), typ) + raw
            rec += b"\0" * (-len(rec) % 8)
            if len(out) + len(rec) > size:
                break
            out += rec
        return out

    def handle(self, opcode: int, nodeid: int, body: bytes) -> Tuple[int, bytes]:
        """Return (errno, reply payload) for one request."""
        if opcode == INIT:
            _major, minor, max_readahead, _ = INIT_IN.unpack_from(body)
            return 0, INIT_OUT.pack(
                7, min(minor, OUR_MINOR), max_readahead, 0, 16, 12, MAX_WRITE, 1, 0, 0, 0
            )
        if opcode == LOOKUP:
            name = body.split(b"\0", 1)[0].decode(errors="surrogateescape")
            if nodeid != ROOT_ID or name not in self.names:
                return errno.ENOENT, b""
            child = ROOT_ID + 1 + self.names.index(name)
            return 0, ENTRY_OUT.pack(child, 0, TTL, TTL, 0, 0) + self.attr(child)
        if nodeid != ROOT_ID and nodeid not in self.data:
            return errno.ENOENT, b""
        if opcode == GETATTR:
            return 0, ATTR_OUT.pack(TTL, 0, 0) + self.attr(nodeid)
        if opcode == OPEN:
            if struct.unpack_from("<I", body)[0] & os.O_ACCMODE != os.O_RDONLY:
                return errno.EROFS, b""
            return 0, OPEN_OUT.pack(0, FOPEN_DIRECT_IO, 0)
        if opcode == READ:
            _, offset, size, _ = READ_IN.unpack_from(body)
            if nodeid == ROOT_ID:
                return errno.EISDIR, b""
            return 0, self.data[nodeid][offset : offset + min(size, self.max_read)]
        if opcode == OPENDIR:
            return 0, OPEN_OUT.pack(0, 0, 0)
        if opcode == READDIR:
            _, offset, size, _ = READ_IN.unpack_from(body)
            return 0, self.readdir(offset, size)
        if opcode == STATFS:
            return 0, STATFS_OUT.pack(0, 0, 0, 0, 0, 4096, 255, 4096, 0)
        if opcode in (RELEASE, RELEASEDIR, FLUSH, ACCESS, DESTROY):
            return 0, b""
        return errno.ENOSYS, b""  # includes GETXATTR/LISTXATTR: the kernel stops asking

    def serve(self) -> None:
        while True:
            try:
                req = os.read(self.fd, BUFSIZE)
            except OSError as e:
                if e.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                    continue  # ENOENT: the request was interrupted before we read it
                if e.errno == errno.ENODEV:
                    return  # unmounted
                raise
            _, opcode, unique, nodeid, *_ = IN_HEADER.unpack_from(req)
            if opcode in NO_REPLY:
                continue
            try:
                err, payload = self.handle(opcode, nodeid, req[IN_HEADER.size :])
            except Exception:
                traceback.print_exc()  # never leave the kernel waiting: answer EIO
                err, payload = errno.EIO, b""
            reply = OUT_HEADER.pack(OUT_HEADER.size + len(payload), -err, unique) + payload
            try:
                os.write(self.fd, reply)
            except OSError as e:
                if e.errno != errno.ENOENT:  # ENOENT: the request was interrupted meanwhile
                    raise
            if opcode == INIT:
                os.write(1, READY)
            elif opcode == DESTROY:
                return


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return libc


def _mount(fd: int, mnt: str) -> None:
    opts = f"fd={fd},rootmode=40000,user_id=0,group_id=0,allow_other"
    flags = MS_NOSUID | MS_NODEV
    if _libc().mount(b"skyfast-test", mnt.encode(), b"fuse.skyfast-test", flags, opts.encode()):
        e = ctypes.get_errno()
        raise OSError(e, f"mount fuse on {mnt}: {os.strerror(e)}")


def _umount(mnt: str) -> None:
    _libc().umount2(mnt.encode(), MNT_DETACH)  # EINVAL if not mounted: nothing to undo


@functools.cache
def fuse_unavailable_reason() -> Optional[str]:
    """Why FUSE mounts cannot work here, or None when they can (probes with a mount)."""
    if not sys.platform.startswith("linux"):
        return "FUSE test filesystem needs Linux"
    if os.geteuid() != 0:
        return "FUSE test filesystem needs root (mount(2))"
    try:
        fd = os.open("/dev/fuse", os.O_RDWR)
    except OSError as e:
        return f"cannot open /dev/fuse: {e}"
    mnt = tempfile.mkdtemp(prefix="skyfast-fuse-probe-")
    try:
        _mount(fd, mnt)
    except OSError as e:
        return f"cannot mount a FUSE filesystem: {e}"
    finally:
        os.close(fd)  # aborts the connection, so the unanswered INIT cannot block anything
        _umount(mnt)
        os.rmdir(mnt)
    return None


@contextlib.contextmanager
def mounted_short_read_files(
    files: Dict[str, bytes], *, max_read: int = 1000, st_size: str = "true"
) -> Iterator[str]:
    """Mount ``files`` (name -> content) read-only and yield the mount point.

    Every read returns at most ``max_read`` bytes.  ``st_size`` is "true" (stat
    reports the length) or "zero" (stat reports 0, like procfs files).
    Skips the calling test when FUSE is unavailable.
    """
    if st_size not in ("true", "zero"):
        raise ValueError(f"st_size must be 'true' or 'zero', not {st_size!r}")
    if any(not n or "/" in n or n in (".", "..") for n in files):
        raise ValueError("file names must be plain names")
    reason = fuse_unavailable_reason()
    if reason is not None:
        import pytest

        pytest.skip(reason)
    mnt = tempfile.mkdtemp(prefix="skyfast-fuse-")
    proc: Optional[subprocess.Popen[bytes]] = None
    fd = os.open("/dev/fuse", os.O_RDWR)
    try:
        _mount(fd, mnt)
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), str(fd), str(max_read), st_size],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=(fd,),
        )
        os.close(fd)  # the child holds the only copy: if it dies, the kernel aborts the mount
        fd = -1
        assert proc.stdin is not None and proc.stdout is not None
        with proc.stdin:
            pickle.dump(files, proc.stdin)
        if not select.select([proc.stdout], [], [], 30)[0] or proc.stdout.read(1) != READY:
            raise RuntimeError("FUSE server did not answer INIT")
        yield mnt
    finally:
        _umount(mnt)
        if fd >= 0:
            os.close(fd)
        if proc is not None:
            proc.kill()  # closes its /dev/fuse fd, failing any request still outstanding
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        with contextlib.suppress(OSError):  # never recurse: the mount may still be there
            os.rmdir(mnt)


if __name__ == "__main__":  # the server child: argv = fd max_read st_size, files on stdin
    _files = pickle.load(sys.stdin.buffer)
    _Server(int(sys.argv[1]), _files, int(sys.argv[2]), sys.argv[3]).serve()
