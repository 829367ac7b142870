"""Reliability without a GIL: the compiled core declares itself free-threading safe.

On a free-threaded CPython (3.13t and later) importing skyfast must leave the GIL off
(the modules are marked ``freethreading_compatible``), and many threads calling every
function while others change the cache window and clear it must each get the answer
one thread gets: no torn cache entry, no warning twice.  The stress also runs on GIL
builds, where it checks the same answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import threading
from types import ModuleType
from typing import Any, Dict, List

import pytest
from _guards import HANG_GUARD

from skyfast._cache import DEFAULT_TTL

FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


@pytest.mark.skipif(not FREE_THREADED, reason="needs a free-threaded CPython (3.13t+)")
def test_import_keeps_the_gil_off(child_env: Dict[str, str], core_built: bool) -> None:
    code = ("import sys, skyfast, skyfast.limits\n"
            "assert skyfast.IMPLEMENTATION == 'cython', skyfast.IMPLEMENTATION\n"
            "assert not sys._is_gil_enabled(), 'importing skyfast enabled the GIL'\n")
    env = {k: v for k, v in child_env.items() if k != "PYTHON_GIL"}
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], env=env,
                          capture_output=True, text=True, timeout=HANG_GUARD)
    assert core_built and proc.returncode == 0, proc.stderr


def test_many_threads_while_the_cache_churns(impl: ModuleType, tmp_path: Any,
                                            pod_env: Any) -> None:
    """16 threads x 300 rounds; a 17th keeps changing the window and clearing the cache."""
    log = tmp_path / "log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(2000)))
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(1 << 16))
    calls = [
        ("cpu", impl.get_cpu_count),
        ("mem", impl.get_mem_size_gb),
        ("threads", lambda: impl.get_parallel_threads("kubernetes")),
        ("aware", lambda: impl.get_parallel_threads(container_aware=True)),
        ("hash", lambda: impl.hash_file(str(blob), "sha256").hexdigest()),
        ("tail", lambda: impl.read_last_n_lines(str(log), 50)),
        ("b36", lambda: impl.base36_encode("f" * 40)),
        ("float", lambda: impl.format_float(2.5, 0)),
        ("trunc", lambda: impl.truncate_long_string("word " * 30, 35)),
        ("alive", lambda: impl.is_process_alive(os.getpid())),
        ("fd", lambda: impl.estimate_fd_for_dir(str(tmp_path))),
    ]
    with pod_env():
        expected = {name: fn() for name, fn in calls}
        stop = threading.Event()
        errors: List[str] = []

        def churn() -> None:
            while not stop.is_set():
                impl.set_cache_ttl(DEFAULT_TTL)
                impl.clear_cache()
                impl.set_cache_ttl(0)

        def work(k: int) -> None:
            for r in range(300):
                name, fn = calls[(k + r) % len(calls)]
                got = fn()
                if got != expected[name]:
                    errors.append(f"{name}: {got!r} != {expected[name]!r}")

        churner = threading.Thread(target=churn)
        churner.start()
        workers = [threading.Thread(target=work, args=(k,)) for k in range(16)]
        try:
            for t in workers:
                t.start()
            for t in workers:
                t.join()
        finally:
            stop.set()
            churner.join()
            impl.set_cache_ttl(0)
    assert errors == []
