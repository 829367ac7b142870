"""Reliability: the GIL is released around blocking reads and large-buffer hashing.

A progress check, not a rate: in a child Python with a switch interval so long that
the interpreter never hands the GIL over by itself, a second thread counts, yielding
the GIL after each step.  It can then only advance while the main thread is inside a
call that releases the GIL.  The call is repeated until the counter advanced during
one (or a deadline passes), so a busy machine makes the test slower, never red.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Dict

import pytest
from _reliability import run_child

_SCRIPT = r"""
import sys, threading, time
path, which = ARGS[0], ARGS[1]
count = [0]
stop = threading.Event()
def counter():
    while not stop.is_set():
        count[0] += 1
        time.sleep(0)  # yields the GIL; takes it back only when the main thread lets go
if which == "hash":
    call = lambda: impl.hash_file(path, "sha256")
else:
    call = lambda: impl.read_last_n_lines(path, 200_000)
sys.setswitchinterval(1000.0)  # no forced hand-over while the main thread runs
threading.Thread(target=counter, daemon=True).start()
deadline = time.monotonic() + 120
calls = advanced = 0
while not advanced and time.monotonic() < deadline:
    before = count[0]
    call()  # between these two reads only the call itself can let the counter run
    advanced = count[0] - before
    calls += 1
stop.set()
emit({"calls": calls, "advanced": advanced})
"""


@pytest.fixture(scope="module")
def big_files(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    d = tmp_path_factory.mktemp("gil")
    blob = d / "blob"
    blob.write_bytes(os.urandom(64 << 20))
    log = d / "log"
    # 64 MiB of log: 200,000 lines of ~330 bytes at the end, after a long head.
    line = b"2024-01-01 12:00:00 INFO " + b"x" * 300 + b"\n"
    log.write_bytes(b"h" * ((64 << 20) - 200_000 * len(line)) + b"\n" + line * 200_000)
    return {"hash": str(blob), "tail": str(log)}


@pytest.mark.parametrize("which", ["hash", "tail"])
def test_other_thread_advances_during_call(impl: ModuleType, child_env: Dict[str, str],
                                           big_files: Dict[str, str], which: str) -> None:
    """hash_file on 64 MiB / read_last_n_lines(n=200,000) let another thread run meanwhile."""
    out = run_child(impl.__name__, _SCRIPT, big_files[which], which, env=child_env)
    assert out["calls"] >= 1
    assert out["advanced"] > 0, out
