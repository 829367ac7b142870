"""Reliability (SPEC 7): the GIL is released around blocking reads and large-buffer hashing.

In a child Python, a thread counts in a tight loop; its rate is measured while the main
thread sleeps (the idle rate) and while it runs a long call, five times in turn (the
median ratio counts).  When the
call releases the GIL for its long stretches, the counter keeps running on the other core.
The bound is half the idle rate: a call that held the GIL throughout would leave the
counter only the interpreter's switch-interval slices (or nothing at all for C code
that never returns to the eval loop).  Needs two cores.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Dict

import pytest
from _reliability import run_child

_SCRIPT = r"""
import threading, time
path, which = ARGS[0], ARGS[1]
count = [0]
stop = threading.Event()
def counter():
    n = 0
    while not stop.is_set():
        n += 1
        if n % 1000 == 0:
            count[0] = n
threading.Thread(target=counter, daemon=True).start()
time.sleep(0.05)

def rate(action, seconds=0.3):
    start_count, start = count[0], time.perf_counter()
    calls = 0
    while time.perf_counter() - start < seconds:
        action()
        calls += 1
    return (count[0] - start_count) / (time.perf_counter() - start), calls

if which == "hash":
    call = lambda: impl.hash_file(path, "sha256")
else:
    call = lambda: impl.read_last_n_lines(path, 200_000)
# Idle and busy phases alternate, so load from other processes weighs on both alike;
# the pair with the median ratio is reported.
pairs, calls = [], 0
for _ in range(5):
    idle, _ = rate(lambda: time.sleep(0.01))
    busy, n = rate(call)
    pairs.append((busy / idle, idle, busy))
    calls += n
stop.set()
_, idle, busy = sorted(pairs)[len(pairs) // 2]
emit({"idle": idle, "busy": busy, "calls": calls})
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


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
@pytest.mark.parametrize("which", ["hash", "tail"])
def test_counter_thread_keeps_running(impl: ModuleType, child_env: Dict[str, str],
                                      big_files: Dict[str, str], which: str) -> None:
    """hash_file on 64 MiB / read_last_n_lines(n=200,000) leave a counting thread >= half speed."""
    out = run_child(impl.__name__, _SCRIPT, big_files[which], which, env=child_env)
    print(which, impl.__name__, out, round(out["busy"] / out["idle"], 2))
    assert out["calls"] >= 1
    assert out["busy"] >= 0.5 * out["idle"]
