"""Reliability (docs/contract.md §7, §4): safe under threads and across fork().

* Eight threads calling all twelve functions in a mixed order get exactly the answers
  one thread gets (no shared mutable buffers, no torn cache entries).
* With a long cache TTL, a forked child does not see its parent's cached kernel values:
  the parent caches get_cpu_count/get_mem_size_gb from a fake cgroup tree, the file is
  rewritten, and the child (after os.fork) reads the new values while the parent still
  answers from its cache until the cache is cleared.  Runs in a child Python (fork).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from types import ModuleType
from typing import Any, Callable, Dict, List, Tuple

from _reliability import run_child


def _calls(impl: ModuleType, files: Dict[str, str], held_port: int,
           dead_pid: int) -> List[Tuple[str, Callable[[], Any]]]:
    """(label, call) for all twelve functions; each result is deterministic."""
    return [
        ("alive-self", lambda: impl.is_process_alive(os.getpid())),
        ("alive-dead", lambda: impl.is_process_alive(dead_pid)),
        ("cpu", impl.get_cpu_count),
        ("threads", lambda: impl.get_parallel_threads("kubernetes")),
        ("b36", lambda: impl.base36_encode("e2eb89f0ffaf521a0d2eeaffca04d117")),
        ("b36-big", lambda: impl.base36_encode("f" * 70)),
        ("mem", impl.get_mem_size_gb),
        ("hash", lambda: impl.hash_file(files["blob"], "sha256").hexdigest()),
        ("hash-small", lambda: impl.hash_file(files["small"], "md5").hexdigest()),
        ("workers", lambda: impl.get_max_workers_for_file_mounts({"/a": files["dir"]})),
        ("workers-alias", lambda: impl.get_max_workers({"/a": files["small"]}, "kubernetes")),
        ("tail", lambda: impl.read_last_n_lines(files["log"], 300)),
        ("tail-latin1", lambda: impl.read_last_n_lines(files["log"], 7, 3, "latin-1")),
        ("float", lambda: impl.format_float(1.35)),
        ("float-p", lambda: impl.format_float(0.1, 20)),
        ("fd", lambda: impl.estimate_fd_for_dir(files["dir"])),
        ("port-0", lambda: impl.find_free_port(0)),
        ("port-held", lambda: _err(impl.find_free_port, held_port, end_port=held_port + 1)),
        ("trunc", lambda: impl.truncate_long_string("word " * 20, 35)),
        ("trunc-mid", lambda: impl.truncate_long_string("abcdefghijklmnopqrstuvwxyz", 10, True)),
    ]


def _err(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except OSError as e:
        return ("err", str(e))


def test_eight_threads_match_one(impl: ModuleType, tmp_path) -> None:
    """8 threads x 200 rounds of all twelve functions, each answer equal to the 1-thread one."""
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(3 << 20))
    small = tmp_path / "small"
    small.write_bytes(b"small file\n")
    log = tmp_path / "log"
    log.write_bytes("".join(f"line {i} \u20ac\r\n" for i in range(5000)).encode())
    d = tmp_path / "d"
    d.mkdir()
    for i in range(40):
        (d / f"e{i}").write_bytes(b"")
    files = {"blob": str(blob), "small": str(small), "log": str(log), "dir": str(d)}
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with socket.socket() as held:
        held.bind(("", 0))
        port = held.getsockname()[1]
        calls = _calls(impl, files, port, child.pid)
        expected = {label: fn() for label, fn in calls}
        assert expected["port-held"] == ("err", "No free ports available.")
        mismatches: List[Any] = []
        errors: List[BaseException] = []

        def work(seed: int) -> None:
            try:
                for r in range(200):
                    # A different order per thread and round: mixed calls overlap.
                    k = (seed * 7 + r * 3) % len(calls)
                    for label, fn in calls[k:] + calls[:k]:
                        got = fn()
                        if got != expected[label]:
                            mismatches.append((label, got))
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert mismatches == []


_FORK = r"""
import time
root = ARGS[0]
impl.set_cache_ttl(60)
def put(rel, text):
    with open(os.path.join(root, rel), "w") as f:
        f.write(text)
impl._set_roots(cgroup=root)
GiB = 1024 ** 3
put("memory/memory.limit_in_bytes", str(1 * GiB))
put("cpu/cpu.cfs_quota_us", "100000")  # 1 core
first = (impl.get_mem_size_gb(), impl.get_cpu_count())
put("memory/memory.limit_in_bytes", str(2 * GiB))
put("cpu/cpu.cfs_quota_us", "-1")  # no quota: all the CPUs we may use
parent_cached = (impl.get_mem_size_gb(), impl.get_cpu_count())
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    try:
        os.write(w, json.dumps([impl.get_mem_size_gb(), impl.get_cpu_count()]).encode())
    finally:
        os._exit(0)
os.close(w)
with os.fdopen(r) as f:
    child = tuple(json.load(f))
os.waitpid(pid, 0)
parent_after = (impl.get_mem_size_gb(), impl.get_cpu_count())
impl.clear_cache()
parent_cleared = (impl.get_mem_size_gb(), impl.get_cpu_count())
emit({"first": first, "parent_cached": parent_cached, "child": child,
      "parent_after": parent_after, "parent_cleared": parent_cleared,
      "cpus": min(os.cpu_count(), len(os.sched_getaffinity(0)))})
"""


def test_fork_child_sees_fresh_values(impl: ModuleType, child_env: Dict[str, str],
                                      tmp_path) -> None:
    """TTL 60 s: the forked child reads the rewritten cgroup files; the parent keeps its cache."""
    for rel, text in {"memory/memory.limit_in_bytes": "0", "cpu/cpu.cfs_quota_us": "-1",
                      "cpu/cpu.cfs_period_us": "100000"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    out = run_child(impl.__name__, _FORK, str(tmp_path), env=child_env)
    cpus = out["cpus"]
    assert out["first"] == [1.0, 1]
    assert out["parent_cached"] == [1.0, 1]  # within the TTL: the cached values
    assert out["child"] == [2.0, cpus]  # the fork dropped the cache
    assert out["parent_after"] == [1.0, 1]  # the child's reads did not touch ours
    assert out["parent_cleared"] == [2.0, cpus]
