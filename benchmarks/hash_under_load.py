"""Large-file hash_file with an idle core and with every core busy: wall time and CPU time.

    python benchmarks/hash_under_load.py [--size-mib 64] [--rounds 25]

For each condition -- "idle" (nothing started here) and "busy" (one spinning
process per CPU this process may use) -- it times, in one process with
interleaved rounds, SkyPilot 0.14.1's ``hash_file`` and skyfast's compiled
``hash_file`` on the same page-cached file.  Wall time is ``perf_counter``;
CPU time is ``process_time`` (every thread of the process).  Ratios are
SkyPilot / skyfast, medians of per-round ratios.  "Idle" means only that this
script starts no load: run it on a quiet machine and it prints the load average
it saw.

A developer script (docs/benchmarks.md); asv imports every module here, this
one defines no benchmark and does nothing on import.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Tuple

if __package__ in (None, ""):
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_SPIN = (
    "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); print(flush=True)\n"
    "while 1: pass"
)
Samples = Dict[str, List[Tuple[float, float]]]


def _spinners() -> List[subprocess.Popen[bytes]]:
    procs = []
    for cpu in sorted(os.sched_getaffinity(0)):
        p = subprocess.Popen([sys.executable, "-c", _SPIN, str(cpu)], stdout=subprocess.PIPE)
        assert p.stdout is not None
        p.stdout.readline()  # spinning now
        procs.append(p)
    return procs


def _stop(procs: List[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.kill()
        p.wait()
        if p.stdout is not None:
            p.stdout.close()


def _measure(contenders: Dict[str, Callable[[], object]], rounds: int) -> Samples:
    samples: Samples = {k: [] for k in contenders}
    names = list(contenders)
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            c0, w0 = time.process_time(), time.perf_counter()
            contenders[name]()
            samples[name].append((time.perf_counter() - w0, time.process_time() - c0))
    return samples


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args(argv)

    from sky.utils import common_utils

    import skyfast._core as core
    from benchmarks._util import MIB, write_random_file

    with tempfile.TemporaryDirectory(prefix="skyfast-hash-load-") as tmp:
        path = write_random_file(os.path.join(tmp, "f.bin"), args.size_mib * MIB)
        want = common_utils.hash_file(path, "sha256").hexdigest()
        contenders: Dict[str, Callable[[], object]] = {
            "skypilot": lambda: common_utils.hash_file(path, "sha256"),
            "skyfast": lambda: core.hash_file(path, "sha256"),
        }
        for name, fn in contenders.items():  # same digest, and the page cache warm
            assert fn().hexdigest() == want, name  # type: ignore[attr-defined]
        cpus = len(os.sched_getaffinity(0))
        print(f"sha256 of a {args.size_mib} MiB page-cached file, {args.rounds} interleaved "
              f"rounds, {cpus} CPUs; ratio = SkyPilot / skyfast (median of rounds)")  # fmt: skip
        for condition in ("idle", "busy"):
            procs = _spinners() if condition == "busy" else []
            try:
                load = os.getloadavg()[0]
                samples = _measure(contenders, args.rounds)
            finally:
                _stop(procs)
            ref = samples["skypilot"]
            print(f"\n{condition} (load average {load:.1f} when it started)")
            head = ("", "wall ms", "cpu ms", "wall ratio", "cpu ratio")
            print(f"{head[0]:<20}{head[1]:>9}{head[2]:>9}{head[3]:>12}{head[4]:>11}")
            for name in ("skypilot", "skyfast"):
                s = samples[name]
                wall = statistics.median(x[0] for x in s) * 1e3
                cpu = statistics.median(x[1] for x in s) * 1e3
                wr = statistics.median(a[0] / b[0] for a, b in zip(ref, s))
                cr = statistics.median(a[1] / b[1] for a, b in zip(ref, s) if b[1] > 0)
                label = "SkyPilot 0.14.1" if name == "skypilot" else "skyfast (compiled)"
                print(f"{label:<20}{wall:>9.2f}{cpu:>9.2f}{wr:>11.3f}x{cr:>10.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
