"""Reliability (docs/contract.md §7, §2.11): out of descriptors, every function fails cleanly.

A child Python lowers its soft RLIMIT_NOFILE to its lowest free descriptor number, so no
new descriptor can be opened (EMFILE), calls each function, restores the limit and
compares its descriptor table with the one before.
"""

from __future__ import annotations

import errno
from types import ModuleType
from typing import Dict

from _reliability import run_child

_SCRIPT = r"""
import errno, resource, subprocess, time
f = os.path.join(ARGS[0], "f")
d = ARGS[0]
child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                         stdin=subprocess.PIPE)

def call(fn, *a, **k):
    start = time.perf_counter()
    try:
        value = fn(*a, **k)
        row = ["ok", value if isinstance(value, (int, float, list)) else repr(value)]
    except Exception as e:
        cause = e.__cause__
        row = ["err", type(e).__name__, getattr(e, "errno", None),
               getattr(cause, "errno", None) if cause is not None else None]
    return row + [time.perf_counter() - start]

calls = {
    "find_free_port": lambda: call(impl.find_free_port, 40000),
    "find_free_port_127": lambda: call(impl.find_free_port, 40000, host="127.0.0.1"),
    "estimate_fd_for_dir": lambda: call(impl.estimate_fd_for_dir, d),
    "hash_file": lambda: call(impl.hash_file, f, "sha256"),
    "read_last_n_lines": lambda: call(impl.read_last_n_lines, f, 2),
    "get_max_workers": lambda: call(impl.get_max_workers_for_file_mounts, {"/x": d}),
    "get_cpu_count": lambda: call(impl.get_cpu_count),
    "get_mem_size_gb": lambda: call(impl.get_mem_size_gb),
    "is_process_alive_child": lambda: call(impl.is_process_alive, child.pid),
    "is_process_alive_self": lambda: call(impl.is_process_alive, os.getpid()),
    "is_process_alive_zero": lambda: call(impl.is_process_alive, 0),
}
normal = {name: fn() for name, fn in calls.items()}  # also the warm-up (lazy imports)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
before = fd_table()
lowest_free = min(set(range(len(before) + 1)) - set(before))
resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
try:
    os.close(os.open(f, os.O_RDONLY))
    probe = "opened"
except OSError as e:
    probe = e.errno
starved = {name: fn() for name, fn in calls.items()}
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
after = fd_table()
child.stdin.close()
child.wait()
emit({"probe": probe, "before": before, "after": after, "normal": normal, "starved": starved,
      "cpus": min(os.sysconf("SC_NPROCESSORS_ONLN"), len(os.sched_getaffinity(0))),
      "mem": os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 1024 ** 3})
"""


def test_out_of_descriptors(impl: ModuleType, child_env: Dict[str, str], tmp_path) -> None:
    """EMFILE: OSError (RuntimeError from it for read_last_n_lines) at once; nothing leaks."""
    (tmp_path / "f").write_bytes(b"one\ntwo\nthree\n")
    out = run_child(impl.__name__, _SCRIPT, str(tmp_path), env=child_env)
    assert out["probe"] == errno.EMFILE  # the limit really bites
    assert out["after"] == out["before"]
    normal, starved = out["normal"], out["starved"]
    assert normal["read_last_n_lines"][:2] == ["ok", ["two\n", "three"]]
    for name in ("find_free_port", "find_free_port_127", "estimate_fd_for_dir", "hash_file",
                 "get_max_workers"):
        assert starved[name][:3] == ["err", "OSError", errno.EMFILE], (name, starved[name])
    # contract §2.8: an OSError while opening becomes RuntimeError, raised from it.
    assert starved["read_last_n_lines"][:4] == ["err", "RuntimeError", None, errno.EMFILE]
    # socket() failing is not a failed bind: EMFILE at once (checked above), no port walk.
    # An unreadable cgroup file means "no limit", never an exception.
    assert starved["get_cpu_count"][:2] == ["ok", max(1, out["cpus"])]
    # /proc/meminfo that cannot be opened: psutil's (so SkyPilot's) OSError.
    assert starved["get_mem_size_gb"][:3] == ["err", "OSError", errno.EMFILE]
    # Liveness without a pidfd to spare: the right answer or a clear EMFILE, never "dead".
    assert starved["is_process_alive_self"][:2] == ["ok", True]
    assert starved["is_process_alive_zero"][:2] == ["ok", False]
    child = starved["is_process_alive_child"]
    assert child[:2] == ["ok", True] or child[:3] == ["err", "OSError", errno.EMFILE], child
    print({name: row for name, row in starved.items()})
