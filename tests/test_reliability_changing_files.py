"""Reliability (docs/contract.md §7, §2.8): read_last_n_lines on changing files and on huge ones.

* A writer process truncates, rewrites and appends to a log (fixed-width lines) as fast as
  it can while read_last_n_lines reads it in a loop (until each side has done a number of
  operations, never for a time): every call returns a list of str
  (contract §2.8 documents no exception for a changing file), made of pieces of lines
  the writer wrote, at most n of them.  What exactly is returned depends on the timing.
* A 10 GiB sparse file with a few lines at its end: only its end is read, and memory
  stays bounded (contract §2.8 item 7: proportional to the returned lines plus a chunk,
  not to the file).
"""

from __future__ import annotations

import re
import subprocess
import sys
from types import ModuleType
from typing import Dict

from _guards import HANG_GUARD
from _reliability import run_child

_WRITER = r"""
import os, sys, threading
path, progress = sys.argv[1], sys.argv[2]
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
counter = os.open(progress, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
print("started", flush=True)
i = 0
while not stop.is_set():  # until the reader closes stdin: it reads only while this runs
    i += 1
    mode = i % 3
    if mode == 0:  # rewrite in place (truncate to zero, then write)
        with open(path, "wb") as f:
            f.write(b"".join(b"line-%06d\n" % (j % 10 ** 6) for j in range(i % 500)))
    elif mode == 1:  # grow, sometimes ending mid-line
        with open(path, "ab") as f:
            f.write(b"".join(b"line-%06d\n" % j for j in range(200)) + b"line-"[: i % 6])
    else:  # shrink to a random-ish length
        os.truncate(path, (i * 7919) % max(1, os.path.getsize(path) + 1))
    os.pwrite(counter, b"%20d" % i, 0)  # progress, for the reader
print(i, flush=True)
"""

# A returned line: a piece of "line-NNNNNN" (a read may start or end inside one, and
# truncation leaves partial lines), followed by "\n" on all but the last.  NUL bytes too:
# a read racing a truncate can copy the part of a page the kernel has just zeroed
# beyond the new end of file (the reader checked the size before the truncate).
_PIECE = re.compile(r"[line\-0-9\x00]*")


def test_file_changing_underneath(impl: ModuleType, tmp_path) -> None:
    """Concurrent truncate/rewrite/append: never an exception, always a well-formed list."""
    path = tmp_path / "log"
    path.write_bytes(b"line-000000\n" * 100)
    progress = tmp_path / "writes"
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(progress)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    calls = nonempty = writes = 0
    try:
        assert writer.stdout.readline() == "started\n"
        # Progress, not time: read until both sides have done enough, the writer
        # writing all along (it stops only when told to, below).
        while calls < 400 or writes < 300:
            assert writer.poll() is None, "the writer ended early"
            for n in (1, 3, 50, 1000):
                lines = impl.read_last_n_lines(str(path), n, 16)
                calls += 1
                assert type(lines) is list and len(lines) <= n
                nonempty += bool(lines)
                for i, line in enumerate(lines):
                    assert type(line) is str
                    body = line[:-1] if i < len(lines) - 1 else line
                    if i < len(lines) - 1:
                        assert line.endswith("\n"), lines
                    assert _PIECE.fullmatch(body), lines
            writes = int(progress.read_bytes() or b"0")
    finally:
        out, _ = writer.communicate(timeout=HANG_GUARD)  # closes its stdin: it stops
    assert writer.returncode == 0
    assert int(out) >= writes >= 300  # the writer changed the file many times meanwhile
    assert nonempty > 10
    print(f"{calls} reads ({nonempty} non-empty) during {out.strip()} writes")


_SPARSE = r"""
import resource, time, tracemalloc
path = ARGS[0]
expected = ["third from last\n", "second from last\n", "last"]
assert impl.read_last_n_lines(path, 3) == expected  # warm-up
def bytes_read():
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
before = bytes_read()
got = impl.read_last_n_lines(path, 3)
read = bytes_read() - before
assert got == expected, got
tracemalloc.start()
impl.read_last_n_lines(path, 3)
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
emit({"read": read, "rss_kib": rss_after - rss_before, "traced_peak": peak})
"""


def test_ten_gib_sparse_file(impl: ModuleType, child_env: Dict[str, str], tmp_path) -> None:
    """Last 3 lines of a 10 GiB sparse file: only its end is read; memory stays small."""
    path = tmp_path / "sparse.log"
    size = 10 << 30
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(size)
        f.write(b"\nthird from last\nsecond from last\nlast\n")
    out = run_child(impl.__name__, _SPARSE, str(path), env=child_env)
    print(out)
    # Bytes read by system calls during the call (/proc/self/io rchar, which counts
    # this process's reads of /proc/self/io too): the last blocks, not 10 GiB.
    assert out["read"] < 4 << 20
    # ru_maxrss is a high-water mark (KiB): it rises only if the call needed more memory
    # than the process already had.  tracemalloc sees the twin's Python allocations.
    assert out["rss_kib"] < 16 * 1024
    assert out["traced_peak"] < 16 << 20
