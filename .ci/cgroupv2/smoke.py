"""A small cgroup v2 smoke, run as root inside the VM of .ci/cgroup-v2-vm.sh.

Makes real cgroups under /sys/fs/cgroup/skyfast-smoke, starts a Python child
inside each (it writes its own pid to cgroup.procs before exec), and compares
what the child's ``skyfast.limits.read_limits()`` -- the compiled module and
the pure-Python twin -- reports with what was written and with the kernel's
own ``cpuset.cpus.effective``.  Independent of the test suite, so the VM's
cgroup v2 setup is proven even when the pytest tier is absent or skips.
Prints one line per check and a closing "smoke: N ok, N failed" line; exits 1
on any failure.  Every cgroup it made is removed, however it ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, NamedTuple

ROOT = Path("/sys/fs/cgroup")
BASE = ROOT / "skyfast-smoke"
MiB = 1024 * 1024

CHILD = r"""
import json, sys
import skyfast.limits, skyfast._limits_py as twin
out = {}
for name, mod in (("compiled", skyfast.limits), ("twin", twin)):
    r = mod.read_limits()
    src = lambda s: None if s is None else s.path
    out[name] = dict(cpu_quota=r.cpu_quota, cpu_quota_source=src(r.cpu_quota_source),
                     cpuset_cpus=r.cpuset_cpus, cpuset_source=src(r.cpuset_source),
                     memory_limit=r.memory_limit, memory_limit_source=src(r.memory_limit_source),
                     effective_cpus=r.effective_cpus, effective_memory=r.effective_memory,
                     cgroup_version=r.cgroup_version)
out["impl"] = __import__("skyfast").IMPLEMENTATION
print(json.dumps(out))
"""

made: List[Path] = []


class Want(NamedTuple):
    cpu_quota: float
    quota_cg: str  # the cgroup (under BASE) whose cpu.max is the source
    effective_cpus: int
    memory_mib: int
    memory_cg: str
    cpuset_cpus: int


def mkcg(rel: str, files: Dict[str, str], enable: bool = False) -> Path:
    path = BASE / rel
    path.mkdir()
    made.append(path)
    for name, value in files.items():
        (path / name).write_text(value)
    if enable:  # let children have the controllers (no process lives here)
        (path / "cgroup.subtree_control").write_text("+cpu +cpuset +memory")
    return path


def child_in(cg: Path) -> Dict[str, Any]:
    def enter() -> None:
        (cg / "cgroup.procs").write_text(str(os.getpid()))

    out = subprocess.run(
        [sys.executable, "-I", "-c", CHILD],
        preexec_fn=enter,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        timeout=300,
    ).stdout
    got: Dict[str, Any] = json.loads(out)
    return got


def main() -> int:
    ok = failed = 0
    online = len(os.sched_getaffinity(0))
    last = str(online - 1)
    q, m = "cpu.max", "memory.max"
    # (title, cgroups to make: (path under BASE, files to write, enable the
    # controllers for children), the child's cgroup, Want)
    scenarios = [
        (
            f"own cgroup: cpu.max 50000/100000, memory.max 256M, cpuset.cpus {last}",
            [("own", {"cpuset.cpus": last, q: "50000 100000", m: str(256 * MiB)}, False)],
            "own",
            Want(0.5, "own", 1, 256, "own", 1),
        ),
        (
            "parent only: cpu.max 150000/100000, memory.max 512M on the parent",
            [("parent", {q: "150000 100000", m: str(512 * MiB)}, True), ("parent/leaf", {}, False)],
            "parent/leaf",
            Want(1.5, "parent", min(2, online), 512, "parent", online),
        ),
        (
            "nested: parent cpu.max 200000/100000, leaf 100000/100000, leaf memory.max 128M",
            [
                ("nest", {q: "200000 100000", m: str(512 * MiB)}, True),
                ("nest/leaf", {q: "100000 100000", m: str(128 * MiB)}, False),
            ],
            "nest/leaf",
            Want(1.0, "nest/leaf", 1, 128, "nest/leaf", online),
        ),
    ]
    try:
        BASE.mkdir()
        made.append(BASE)
        (BASE / "cgroup.subtree_control").write_text("+cpu +cpuset +memory")
        for title, cgs, leaf, want in scenarios:
            for rel, files, enable in cgs:
                mkcg(rel, files, enable)
            leaf_path = BASE / leaf
            kernel_cpus = (leaf_path / "cpuset.cpus.effective").read_text().strip()
            got = child_in(leaf_path)
            print(
                f"smoke: {title}  [kernel cpuset.cpus.effective={kernel_cpus}; "
                f"skyfast {got['impl']}]"
            )
            for impl in ("compiled", "twin"):
                r = got[impl]
                expect: Dict[str, object] = {
                    "cgroup_version": "v2",
                    "cpu_quota": want.cpu_quota,
                    "cpu_quota_source": str(BASE / want.quota_cg / "cpu.max"),
                    "effective_cpus": want.effective_cpus,
                    "memory_limit": want.memory_mib * MiB,
                    "memory_limit_source": str(BASE / want.memory_cg / "memory.max"),
                    "cpuset_cpus": want.cpuset_cpus,
                }
                bad = {k: (r.get(k), v) for k, v in expect.items() if r.get(k) != v}
                if bad:
                    failed += 1
                    print(
                        f"smoke:   FAIL {impl}: "
                        + "; ".join(f"{k}={g!r} (want {w!r})" for k, (g, w) in bad.items())
                    )
                else:
                    ok += 1
                    print(
                        f"smoke:   ok   {impl}: cpu_quota={r['cpu_quota']} "
                        f"effective_cpus={r['effective_cpus']} "
                        f"memory_limit={r['memory_limit']} from {r['memory_limit_source']}"
                    )
    finally:
        for path in reversed(made):
            try:
                path.rmdir()
            except OSError as exc:
                print(f"smoke: could not remove {path}: {exc}")
    print(f"smoke: {ok} ok, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
