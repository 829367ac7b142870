"""Real cgroups: limits made on this machine's kernel, read by a child process inside them.

As root with a writable cgroup hierarchy -- cgroup v2 when /sys/fs/cgroup is
cgroup2, else the v1 cpu, cpuset and memory controllers -- each scenario makes
real cgroups under one parent named for this run, starts a child Python, puts
it in them (and, for the container scenarios, into a private mount namespace,
and a cgroup namespace, with the container's cgroup bind-mounted over the
hierarchy as a container runtime does; for the delegated subtree, the child
drops to an unprivileged uid and makes its own cgroup below the one it was
given, moves itself there and limits it), and the child reports:

* ``read_limits()`` and ``effective_cpu_count()`` of both builds of
  ``skyfast.limits`` -- compared with the files the kernel shows for the
  cgroup each scenario put the limit on;
* ``get_cpu_count()``, ``get_mem_size_gb()`` and ``get_parallel_threads()``
  (plain and ``container_aware=True``) of both cores -- compared with the
  contract's rules applied to the files the child sees, and with SkyPilot
  0.14.1's own functions run in the same child.

Nothing here depends on load or timing: every assertion is about values.  The
cgroups are removed (their processes killed first) after each scenario and,
whatever failed, when the module ends.  Elsewhere -- not root, no writable
hierarchy, not Linux -- the module is skipped with the reason.
"""

from __future__ import annotations

import dataclasses
import errno
import inspect
import json
import math
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import warnings
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from _guards import HANG_GUARD

pytestmark = pytest.mark.real_cgroups

MiB = 1024**2
GiB = 1024**3
CONTROLLERS = ("cpu", "cpuset", "memory")
TOP = "<top>"  # a plan's name for the topmost cgroup the process can see
RUN_PREFIX = "skyfast-test-"
DELEGATEE = 65534  # the uid and gid a delegated subtree is given to ("nobody")


# ---------------------------------------------------------------------------
# The child: joins its cgroups, optionally enters namespaces, reports everything
# ---------------------------------------------------------------------------

CHILD = r"""
import dataclasses, errno, importlib, json, os, subprocess, sys, warnings

spec = json.loads(sys.argv[1])

def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()

if sys.argv[2] == "outer":
    say({"pid": os.getpid()})
    sys.stdin.readline()  # the parent has put this process into its cgroups
    if spec["exec"]:
        os.execvp(spec["exec"][0], spec["exec"])  # unshare ...: the same pid goes on

if spec["binds"]:
    # A container sees no other mount of its hierarchies; this namespace is a
    # copy of the host's, which may hold some from other work (a chroot's
    # /sys/fs/cgroup bind, showing the hierarchy's root): those go, the ones
    # beside the mount points the scenario uses stay.
    beside = {os.path.dirname(dst) for _, dst in spec["binds"]}
    with open("/proc/self/mountinfo") as f:
        points = [(line.split()[4].encode().decode("unicode_escape"),  # \040 is a space
                   line.split(" - ")[1].split()[0]) for line in f]
    for point, fstype in sorted(points, key=lambda p: -len(p[0])):  # deepest first
        if fstype in ("cgroup", "cgroup2") and not any(
                point == b or point.startswith(b.rstrip("/") + "/") for b in beside):
            subprocess.run([spec["umount"], "-l", point], check=True)
for src, dst in spec["binds"]:  # in the private mount namespace, as a runtime would
    subprocess.run([spec["mount"], "--bind", src, dst], check=True)
say({"ready": True})
sys.stdin.readline()  # the parent may have moved this process meanwhile

# Everything the report runs is imported now, before a delegated child drops to a
# uid that may not read the Python installation (nothing here reads a cgroup).
import skyfast, skyfast.limits

def modules(*names):
    found = {}
    for name in names:
        try:
            found[name] = importlib.import_module(name)
        except ImportError:
            pass
    return found

limits_modules = modules("skyfast._limits_py")
cores = modules("skyfast._core", "skyfast._core_py")
ns = None
if spec["sky"]:
    # SkyPilot 0.14.1's own functions (their source, read from the installed
    # package by the parent), without the seconds an import of all of sky takes.
    import contextlib, psutil
    from typing import Optional
    class ux_utils:
        print_exception_no_traceback = staticmethod(contextlib.nullcontext)
    ns = {"os": os, "psutil": psutil, "Optional": Optional, "ux_utils": ux_utils}
    with open(spec["sky"]) as f:
        exec(compile(f.read(), "sky (0.14.1 functions)", "exec"), ns)

def delegatee(uid, gid, steps):
    # Drop to uid/gid, then do what the delegated subtree's user does, step by step.
    # Each step is (op, path, value, wanted outcome): "mkdir", "write" (value, with
    # {pid} as this process's pid) or "copy" (the stripped text of the file named by
    # value); the outcome is "ok" or the errno's name.  The steps after one whose
    # outcome was not the wanted one are not tried ("skipped").
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    # Threads of this process that kept other ids: none natively (glibc changes
    # every thread's), but a user-mode emulator's own threads (qemu-user's) keep
    # root's, and the kernel then refuses to move the process into a cpuset.
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/status") as f:
            ids = [line.split()[1:3] for line in f if line.startswith("Uid:")][0]
        if ids != [str(uid), str(uid)]:
            stragglers.append([int(tid), ids])
    outcomes, going = [], True
    for op, path, value, want in steps:
        if not going:
            outcomes.append("skipped")
            continue
        try:
            if op == "mkdir":
                os.mkdir(path)
            else:
                if op == "copy":
                    with open(value) as f:
                        value = f.read().strip()
                with open(path, "w") as f:
                    f.write(value.replace("{pid}", str(os.getpid())))
            outcomes.append("ok")
        except OSError as e:
            outcomes.append(errno.errorcode.get(e.errno, str(e.errno)))
        going = outcomes[-1] == want
    return outcomes

delegated, stragglers = None, []
if spec["delegate"]:
    d = spec["delegate"]
    delegated = delegatee(d["uid"], d["gid"], d["steps"])

def call(fn, *args, **kwargs):
    try:
        return ["ok", fn(*args, **kwargs)]
    except Exception as e:
        return ["err", type(e).__name__, str(e)]

def text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None

out = {
    "host_cpus": os.sysconf("SC_NPROCESSORS_ONLN"),
    "affinity": len(os.sched_getaffinity(0)),
    "cpu_count": os.cpu_count(),
    "host_memory": os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"),
    "cgroup": text("/proc/self/cgroup"),
    "mountinfo": text("/proc/self/mountinfo"),
    "v2": os.path.isfile("/sys/fs/cgroup/cgroup.controllers"),
    "files": {p: text(p) for p in spec["sky_files"]},
    "limits": {},
    "core": {},
    "sky": None,
    "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid()],
    "delegated": delegated,
    "setuid_stragglers": stragglers,
}
out["public"] = [skyfast.limits.read_limits.__module__,
                 dataclasses.asdict(skyfast.limits.read_limits())]
for name, m in limits_modules.items():
    out["limits"][name] = {
        "read": dataclasses.asdict(m.read_limits()),
        "floor": m.read_limits(rounding="floor").effective_cpus,
        "count": m.effective_cpu_count(),
    }
for name, m in cores.items():
    m.set_cache_ttl(0)
    out["core"][name] = {
        "cpu": call(m.get_cpu_count),
        "mem": call(m.get_mem_size_gb),
        "threads": call(m.get_parallel_threads),
        "aware": call(m.get_parallel_threads, container_aware=True),
        "aware_k8s": call(m.get_parallel_threads, "kubernetes", container_aware=True),
    }
if ns is not None:
    out["sky"] = {
        "cpu": call(ns["get_cpu_count"]),
        "mem": call(ns["get_mem_size_gb"]),
        "threads": call(ns["get_parallel_threads"]),
        "cgroup_cpu": call(ns["_get_cgroup_cpu_limit"]),
        "cgroup_mem": call(ns["_get_cgroup_memory_limit"]),
    }
say(out)
"""

# What SkyPilot (and skyfast's get_cpu_count / get_mem_size_gb) read, as the child sees it.
SKY_FILES = (
    "/sys/fs/cgroup/cpu.max",
    "/sys/fs/cgroup/memory.max",
    "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
    "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    "/proc/meminfo",
)

SKY_FUNCTIONS = {
    "sky.utils.common_utils": (
        "get_cpu_count", "get_mem_size_gb", "_cpu_count", "_mem_size_gb",
        "_get_cgroup_cpu_limit", "_get_cgroup_memory_limit", "_is_cgroup_v2",
    ),
    "sky.utils.subprocess_utils": ("get_parallel_threads", "_get_thread_multiplier"),
}


def sky_source() -> Optional[str]:
    """The source of SkyPilot 0.14.1's functions the child runs, or None without SkyPilot."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import importlib

            import sky

            if getattr(sky, "__version__", None) != "0.14.1":
                return None
            modules = {name: importlib.import_module(name) for name in SKY_FUNCTIONS}
    except Exception:  # not installed, or a broken install: the SkyPilot legs skip
        return None
    return "\n\n".join(
        inspect.getsource(getattr(modules[mod], fn))
        for mod, names in SKY_FUNCTIONS.items()
        for fn in names
    )


# ---------------------------------------------------------------------------
# The lab: this machine's hierarchies, one parent cgroup for the run
# ---------------------------------------------------------------------------


def parse_mounts(text: str) -> List[Tuple[str, str, str, frozenset]]:
    """(root, mount point, fstype, super options) of each cgroup mount in mountinfo."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(" "), right.split(" ")
        if sep and len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            mounts.append((fields[3], fields[4], tail[0], frozenset(tail[2].split(","))))
    return mounts


def cpu_list(text: str) -> List[int]:
    """A kernel CPU list ("0-3,8") as the CPUs it names."""
    cpus: List[int] = []
    for item in text.strip().split(","):
        lo, _, hi = item.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


@dataclasses.dataclass
class Delegation:
    """What the child does itself, as ``uid``/``gid``, in the subtree root gave it.

    ``steps``: (op, host path, value, wanted outcome) -- see the child's
    ``delegatee``; ``leaf``: the cgroup (relative to the run's parent) the
    steps move the child into.
    """

    uid: int
    gid: int
    leaf: str
    steps: List[Tuple[str, str, str, str]]


@dataclasses.dataclass
class Plan:
    """Where a scenario puts the process and where its limits must be found.

    Paths are relative to the run's parent cgroup.  ``quota_at``,
    ``memory_at``: the cgroup whose file holds the limit (None: no limit
    known); ``memory_stat_at``: v1's leaf whose memory.stat reveals a hidden
    ancestor's limit.  ``cpuset_at``: the cgroup credited with the CPU list
    (``TOP`` for the topmost visible one; None when nothing may be reported).
    """

    join: str
    move: Optional[str] = None
    container: Optional[str] = None  # None, "bind" (unshare -m) or "cgroupns" (-m -C)
    root: Optional[str] = None  # the container's cgroup, bind-mounted over the hierarchy
    quota_at: Optional[str] = None
    memory_at: Optional[str] = None
    memory_stat_at: Optional[str] = None
    cpuset_at: Optional[str] = TOP
    delegate: Optional[Delegation] = None  # after ``join``, the child moves itself

    def final(self) -> str:
        """The cgroup the child reads its limits in."""
        if self.delegate is not None:
            return self.delegate.leaf
        return self.move or self.join


@dataclasses.dataclass
class Result:
    plan: Plan
    expected: Dict[str, Any]  # field of ContainerLimits -> value, from the kernel's files
    child: Dict[str, Any]


class Lab:
    """Real cgroups under ``<mount point>/skyfast-test-<pid>-<random>`` of each hierarchy."""

    def __init__(self, mode: str, mounts: Dict[str, str], tmp: str) -> None:
        self.mode = mode  # "v1" or "v2"
        self.mounts = mounts  # controller -> mount point (v2: all /sys/fs/cgroup)
        self.run = f"{RUN_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        self.tmp = tmp
        self.children: List[subprocess.Popen] = []
        self.results: Dict[str, Result] = {}
        self.enabled_at_root: List[str] = []
        self.sky_file: Optional[str] = None
        self.mount_tool = shutil.which("mount")
        self.umount_tool = shutil.which("umount")
        self.unshare = shutil.which("unshare")
        # What the container scenarios need (util-linux): a namespace and mounts in it.
        self.can_contain = bool(self.unshare and self.mount_tool and self.umount_tool)

    # -- paths and files ------------------------------------------------------

    def hierarchies(self) -> List[str]:
        """A controller per distinct mount (v2: one; v1: cpu, cpuset, memory unless co-mounted)."""
        seen: Dict[str, str] = {}
        for controller in CONTROLLERS:
            seen.setdefault(self.mounts[controller], controller)
        return list(seen.values())

    def host(self, controller: str, rel: str, name: str = "") -> str:
        base = self.mounts[controller]
        path = base if rel == TOP else os.path.join(base, self.run, rel)
        return os.path.join(path, name) if name else path

    def view(self, plan: Plan, controller: str, rel: str, name: str) -> str:
        """The path the child sees for a cgroup file (inside a container: under the bind mount)."""
        if plan.container is None:
            return self.host(controller, rel, name)
        assert plan.root is not None
        rel = plan.root if rel == TOP else rel
        assert rel == plan.root or rel.startswith(plan.root + "/"), (rel, plan.root)
        return os.path.join(self.mounts[controller] + rel[len(plan.root) :], name)

    def read(self, controller: str, rel: str, name: str) -> Optional[str]:
        try:
            with open(self.host(controller, rel, name)) as f:
                return f.read().strip()
        except OSError:
            return None

    def write(self, controller: str, rel: str, name: str, value: str) -> None:
        self.put(self.host(controller, rel, name), value)

    # -- making cgroups ---------------------------------------------------------

    def _enable_subtree(self, path: str) -> None:
        with open(os.path.join(path, "cgroup.subtree_control")) as f:
            have = set(f.read().split())
        missing = [c for c in CONTROLLERS if c not in have]
        if missing:
            with open(os.path.join(path, "cgroup.subtree_control"), "w") as f:
                f.write(" ".join("+" + c for c in missing))

    def make(self, rel: str) -> None:
        """Create ``rel`` (and its parents) in every hierarchy, as usable as the kernel allows.

        v2: each parent gets cpu, cpuset and memory in its subtree_control; v1: a new
        cpuset copies its parent's CPUs and memory nodes (v1 attaches no task otherwise).
        """
        parts = [p for p in rel.split("/") if p]
        for controller in self.hierarchies():
            parent = self.host(controller, "")
            for i in range(len(parts)):
                path = os.path.join(parent, parts[i])
                if not os.path.isdir(path):
                    if self.mode == "v2":
                        self._enable_subtree(parent)
                    os.mkdir(path)
                    if self.mode == "v1" and controller == "cpuset":
                        self._copy_cpuset(parent, path)
                parent = path

    @staticmethod
    def _copy_cpuset(parent: str, path: str) -> None:
        for name in ("cpuset.cpus", "cpuset.mems"):
            with open(os.path.join(parent, name)) as f:
                value = f.read().strip()
            with open(os.path.join(path, name), "w") as f:
                f.write(value)

    def quota_writes(self, rel: str, quota: int, period: int = 100000) -> List[Tuple[str, str]]:
        """(file, text) to write, in order, for a CPU quota on ``rel``."""
        if self.mode == "v2":
            return [(self.host("cpu", rel, "cpu.max"), f"{quota} {period}")]
        return [(self.host("cpu", rel, "cpu.cfs_period_us"), str(period)),
                (self.host("cpu", rel, "cpu.cfs_quota_us"), str(quota))]

    def memory_write(self, rel: str, limit: int) -> Tuple[str, str]:
        name = "memory.max" if self.mode == "v2" else "memory.limit_in_bytes"
        return self.host("memory", rel, name), str(limit)

    @staticmethod
    def put(path: str, text: str) -> None:
        with open(path, "w") as f:
            f.write(text)

    def set_quota(self, rel: str, quota: int, period: int = 100000) -> None:
        for path, text in self.quota_writes(rel, quota, period):
            self.put(path, text)

    def set_weight(self, rel: str) -> None:
        if self.mode == "v2":
            self.write("cpu", rel, "cpu.weight", "50")
        else:
            self.write("cpu", rel, "cpu.shares", "256")

    def set_cpus(self, rel: str, cpus: str) -> None:
        self.write("cpuset", rel, "cpuset.cpus", cpus)

    def set_memory(self, rel: str, limit: int) -> None:
        self.put(*self.memory_write(rel, limit))

    def delegate(self, rel: str, uid: int, gid: int) -> None:
        """Give ``rel`` to ``uid``/``gid`` in every hierarchy, the kernel's way.

        v2 (Documentation/admin-guide/cgroup-v2.rst, "Delegation"): the directory
        and its cgroup.procs, cgroup.threads and cgroup.subtree_control -- not the
        resource files, which distribute the parent's resources.  v1: the
        directory and its tasks and cgroup.procs.
        """
        names = (("cgroup.procs", "cgroup.threads", "cgroup.subtree_control")
                 if self.mode == "v2" else ("tasks", "cgroup.procs"))
        for controller in self.hierarchies():
            os.chown(self.host(controller, rel), uid, gid)
            for name in names:
                os.chown(self.host(controller, rel, name), uid, gid)

    def join(self, pid: int, rel: str) -> None:
        for controller in self.hierarchies():
            self.write(controller, rel, "cgroup.procs", str(pid))

    def base_cpus(self) -> List[int]:
        name = "cpuset.cpus.effective" if self.mode == "v2" else "cpuset.effective_cpus"
        text = self.read("cpuset", "", name) or self.read("cpuset", "", "cpuset.cpus")
        assert text, "no CPU list in the run's cpuset"
        return cpu_list(text)

    # -- removing them ----------------------------------------------------------

    def remove(self, rel: str) -> None:
        """rmdir ``rel`` and everything below it in every hierarchy, deepest first.

        A process still inside (none should be: children are killed and reaped
        first) is moved to the hierarchy's top cgroup.  The kernel may need a
        moment after a process exits before its cgroup can go (EBUSY): retried.
        """
        errors = []
        for controller in self.hierarchies():
            top = self.host(controller, rel)
            if not os.path.isdir(top):
                continue
            for path, _dirs, _files in sorted(os.walk(top), key=lambda t: -t[0].count("/")):
                error = self._rmdir(controller, path)
                if error:
                    errors.append(error)
        if errors:
            raise RuntimeError("could not remove cgroups: " + "; ".join(errors))

    def _rmdir(self, controller: str, path: str) -> Optional[str]:
        for _ in range(200):
            try:
                with open(os.path.join(path, "cgroup.procs")) as f:
                    stray = f.read().split()
                for pid in stray:
                    try:
                        self.write(controller, TOP, "cgroup.procs", pid)
                    except OSError:
                        pass  # exited meanwhile
                os.rmdir(path)
                return None
            except FileNotFoundError:
                return None
            except OSError as e:
                if e.errno != errno.EBUSY:
                    return f"{path}: {e}"
                time.sleep(0.01)  # cleanup only: no assertion depends on this
        return f"{path}: still busy"

    def kill_children(self) -> None:
        for proc in self.children:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        self.children.clear()

    def close(self) -> None:
        self.kill_children()
        try:
            self.remove("")
        finally:
            for controller in self.enabled_at_root:  # put the top's subtree_control back
                try:
                    with open(os.path.join(self.mounts["cpu"], "cgroup.subtree_control"),
                              "w") as f:
                        f.write("-" + controller)
                except OSError:
                    pass  # another cgroup uses it now: leave it enabled

    # -- running a scenario ------------------------------------------------------

    def run_child(self, plan: Plan, env: Dict[str, str]) -> Dict[str, Any]:
        spec: Dict[str, Any] = {
            "exec": None, "binds": [], "mount": self.mount_tool, "umount": self.umount_tool,
            "sky": self.sky_file,
            "sky_files": list(SKY_FILES),
            "delegate": None if plan.delegate is None else dataclasses.asdict(plan.delegate),
        }
        if plan.container is not None:
            assert self.can_contain and plan.root is not None
            spec["binds"] = [
                [self.host(c, plan.root), self.mounts[c]] for c in self.hierarchies()
            ]
        inner = [sys.executable, "-c", CHILD, json.dumps(spec), "inner"]
        if plan.container is not None:
            flags = ["-m", "--propagation", "private"]
            if plan.container == "cgroupns":
                flags.append("-C")
            spec["exec"] = [self.unshare, *flags, *inner]
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(spec), "outer"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env,
        )
        self.children.append(proc)
        assert proc.stdin is not None and proc.stdout is not None

        def expect_line(key: str) -> Dict[str, Any]:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line:
                proc.kill()
                _, err = proc.communicate()
                raise AssertionError(f"the child ended before {key!r}: {err}")
            message = json.loads(line)
            assert key in message, message
            return message

        pid = expect_line("pid")["pid"]
        assert pid == proc.pid
        self.join(pid, plan.join)
        proc.stdin.write("joined\n")
        proc.stdin.flush()
        expect_line("ready")
        if plan.move is not None:
            self.join(pid, plan.move)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=HANG_GUARD)
        self.children.remove(proc)
        assert proc.returncode == 0, err
        return json.loads(out.splitlines()[-1])

    def expected(self, plan: Plan) -> Dict[str, Any]:
        """The limits read_limits() must report, from the kernel's files (host side)."""
        want: Dict[str, Any] = {
            "cpu_quota": None, "cpu_quota_source": None,
            "memory_limit": None, "memory_limit_source": None,
            "cpuset_cpus": None, "cpuset_source": None,
        }
        if plan.quota_at is not None:
            if self.mode == "v2":
                raw = self.read("cpu", plan.quota_at, "cpu.max")
                assert raw is not None
                quota, period = raw.split()
                name = "cpu.max"
            else:
                quota = self.read("cpu", plan.quota_at, "cpu.cfs_quota_us") or ""
                period = self.read("cpu", plan.quota_at, "cpu.cfs_period_us") or ""
                raw, name = f"{quota} {period}", "cpu.cfs_quota_us"
            want["cpu_quota"] = int(quota) / int(period)
            want["cpu_quota_source"] = {
                "path": self.view(plan, "cpu", plan.quota_at, name), "value": raw
            }
        if plan.memory_at is not None:
            name = "memory.max" if self.mode == "v2" else "memory.limit_in_bytes"
            raw = self.read("memory", plan.memory_at, name)
            assert raw is not None and raw.isdigit(), raw
            want["memory_limit"] = int(raw)
            want["memory_limit_source"] = {
                "path": self.view(plan, "memory", plan.memory_at, name), "value": raw
            }
        if plan.memory_stat_at is not None:
            stat = self.read("memory", plan.memory_stat_at, "memory.stat") or ""
            line = next(ln for ln in stat.splitlines()
                        if ln.startswith("hierarchical_memory_limit "))
            want["memory_limit"] = int(line.split()[1])
            want["memory_limit_source"] = {
                "path": self.view(plan, "memory", plan.memory_stat_at, "memory.stat"),
                "value": line,
            }
        if plan.cpuset_at is not None:
            at = plan.root if plan.cpuset_at == TOP and plan.container else plan.cpuset_at
            assert at is not None
            name = "cpuset.cpus.effective" if self.mode == "v2" else "cpuset.effective_cpus"
            raw = self.read("cpuset", at, name)
            if raw is None and self.mode == "v1":  # kernels without effective_cpus
                name = "cpuset.cpus"
                raw = self.read("cpuset", at, name)
            assert raw, (at, name)
            want["cpuset_cpus"] = len(set(cpu_list(raw)))
            want["cpuset_source"] = {"path": self.view(plan, "cpuset", at, name), "value": raw}
        return want

    def result(self, name: str, env: Dict[str, str]) -> Result:
        """Run scenario ``name`` once (later calls reuse it); its cgroups are gone afterwards."""
        if name not in self.results:
            build = SCENARIOS[name]
            try:
                plan = build(self, name)
                child = self.run_child(plan, env)
                expected = self.expected(plan)
            finally:
                self.kill_children()
                self.remove(name)
            self.results[name] = Result(plan, expected, child)
        return self.results[name]


def find_hierarchies() -> Tuple[Optional[str], Dict[str, str], str]:
    """("v1" | "v2" | None, controller -> mount point, why not)."""
    try:
        with open("/proc/self/mountinfo") as f:
            mounts = parse_mounts(f.read())
    except OSError as e:
        return None, {}, f"no /proc/self/mountinfo ({e})"
    for _root, point, fstype, _opts in mounts:
        if point == "/sys/fs/cgroup" and fstype == "cgroup2":
            try:
                with open("/sys/fs/cgroup/cgroup.controllers") as f:
                    available = set(f.read().split())
            except OSError as e:
                return None, {}, f"cgroup2 at /sys/fs/cgroup without cgroup.controllers ({e})"
            missing = [c for c in CONTROLLERS if c not in available]
            if missing:
                return None, {}, f"cgroup v2 without the {', '.join(missing)} controller(s)"
            return "v2", {c: point for c in CONTROLLERS}, ""
    found: Dict[str, str] = {}
    for _root, point, fstype, opts in mounts:
        for controller in CONTROLLERS:
            if fstype == "cgroup" and controller in opts:
                found.setdefault(controller, point)
    missing = [c for c in CONTROLLERS if c not in found]
    if missing:
        return None, {}, f"no cgroup v1 hierarchy for {', '.join(missing)} and no cgroup2 root"
    return "v1", found, ""


def _remove_stale_runs(lab: Lab) -> None:
    """Remove the (empty) cgroups of earlier runs whose process is gone (a killed session)."""
    for controller in lab.hierarchies():
        top = lab.host(controller, TOP)
        for entry in os.listdir(top):
            match = re.fullmatch(re.escape(RUN_PREFIX) + r"(\d+)-[0-9a-f]+", entry)
            if match is None or os.path.exists(f"/proc/{match.group(1)}"):
                continue
            for path, _d, _f in sorted(os.walk(os.path.join(top, entry)),
                                       key=lambda t: -t[0].count("/")):
                try:
                    os.rmdir(path)
                except OSError:
                    break  # still in use: leave it


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The run's parent cgroup in each hierarchy; skips where real cgroups cannot be made."""
    if not sys.platform.startswith("linux"):
        pytest.skip("real cgroups are Linux only")
    if os.geteuid() != 0:
        pytest.skip("making real cgroups needs root")
    mode, mounts, why = find_hierarchies()
    if mode is None:
        pytest.skip(f"no usable cgroup hierarchy: {why}")
    lab = Lab(mode, mounts, str(tmp_path_factory.mktemp("real-cgroups")))
    top = lab.host("cpu", TOP)
    for controller in lab.hierarchies():
        if not os.access(lab.host(controller, TOP), os.W_OK):
            pytest.skip(f"the cgroup hierarchy at {lab.host(controller, TOP)} is read-only")
    # The top must not be limited itself (inside a limited container the scenarios'
    # "no limit" would be wrong): the top of a hierarchy is never limited.
    for controller, name in (("cpu", "cpu.max"), ("memory", "memory.max"),
                             ("cpu", "cpu.cfs_quota_us"), ("memory", "memory.limit_in_bytes")):
        value = lab.read(controller, TOP, name)
        if value is None or value == "-1" or value.startswith("max"):
            continue
        if not (value.isdigit() and int(value) >= 2**62):  # v1's "unlimited"
            pytest.skip(f"the cgroup at the mount point is limited ({name} = {value})")
    _remove_stale_runs(lab)
    try:
        if mode == "v2":
            with open(os.path.join(top, "cgroup.subtree_control")) as f:
                have = set(f.read().split())
            for controller in CONTROLLERS:
                if controller not in have:
                    with open(os.path.join(top, "cgroup.subtree_control"), "w") as f:
                        f.write("+" + controller)
                    lab.enabled_at_root.append(controller)
        for controller in lab.hierarchies():
            os.mkdir(lab.host(controller, ""))
            if mode == "v1" and controller == "cpuset":
                lab._copy_cpuset(lab.host(controller, TOP), lab.host(controller, ""))
    except OSError as e:
        lab.close()
        pytest.skip(f"cannot make cgroups under {top}: {e}")
    source = sky_source()
    if source is not None:
        lab.sky_file = os.path.join(lab.tmp, "sky_functions.py")
        with open(lab.sky_file, "w") as f:
            f.write(source)
    try:
        yield lab
    finally:
        lab.close()


# ---------------------------------------------------------------------------
# The scenarios: each makes its cgroups under <run>/<name> and says where the
# process goes and where each limit must be found
# ---------------------------------------------------------------------------


def quota_own(lab: Lab, name: str) -> Plan:
    lab.make(f"{name}/leaf")
    lab.set_quota(f"{name}/leaf", 150000)
    return Plan(join=f"{name}/leaf", quota_at=f"{name}/leaf")


def quota_parent(lab: Lab, name: str) -> Plan:
    lab.make(f"{name}/pod/leaf")
    lab.set_quota(f"{name}/pod", 50000, 50000)  # 1 core, in another period
    return Plan(join=f"{name}/pod/leaf", quota_at=f"{name}/pod")


def quota_sub_core(lab: Lab, name: str) -> Plan:
    lab.make(f"{name}/leaf")
    lab.set_quota(f"{name}/leaf", 50000)  # 0.5 cores
    return Plan(join=f"{name}/leaf", quota_at=f"{name}/leaf")


def nested_tightest(lab: Lab, name: str) -> Plan:
    # A loose quota above, a tight one at the leaf; a tight memory limit in the middle.
    lab.make(f"{name}/gp/p/leaf")
    lab.set_quota(f"{name}/gp", 100000)
    lab.set_quota(f"{name}/gp/p/leaf", 60000)
    lab.set_memory(f"{name}/gp/p", 900 * MiB)
    lab.set_memory(f"{name}/gp/p/leaf", 1000 * MiB)
    return Plan(join=f"{name}/gp/p/leaf", quota_at=f"{name}/gp/p/leaf",
                memory_at=f"{name}/gp/p")


def _narrower_cpu(lab: Lab) -> str:
    cpus = lab.base_cpus()
    if len(cpus) < 2:
        pytest.skip("one CPU: a cpuset cannot be narrower than its parent's")
    return str(cpus[0])


def cpuset_own(lab: Lab, name: str) -> Plan:
    cpu = _narrower_cpu(lab)
    lab.make(f"{name}/leaf")
    lab.set_cpus(f"{name}/leaf", cpu)
    return Plan(join=f"{name}/leaf", cpuset_at=f"{name}/leaf")


def cpuset_parent(lab: Lab, name: str) -> Plan:
    # The leaf's list is its parent's (v2: inherited; v1: copied at creation):
    # credited to the parent, which set it.
    cpu = _narrower_cpu(lab)
    lab.make(f"{name}/pod")
    lab.set_cpus(f"{name}/pod", cpu)
    lab.make(f"{name}/pod/leaf")
    return Plan(join=f"{name}/pod/leaf", cpuset_at=f"{name}/pod")


def memory_own(lab: Lab, name: str) -> Plan:
    lab.make(f"{name}/leaf")
    lab.set_memory(f"{name}/leaf", 1000 * MiB)
    return Plan(join=f"{name}/leaf", memory_at=f"{name}/leaf")


def memory_parent(lab: Lab, name: str) -> Plan:
    # v1: the leaf's memory.stat repeats the parent's limit; the parent's file is the source.
    lab.make(f"{name}/pod/leaf")
    lab.set_memory(f"{name}/pod", 1100 * MiB)
    return Plan(join=f"{name}/pod/leaf", memory_at=f"{name}/pod")


def shares_only(lab: Lab, name: str) -> Plan:
    # cpu.shares / cpu.weight are weights, not limits.
    lab.make(f"{name}/leaf")
    lab.set_weight(f"{name}/leaf")
    return Plan(join=f"{name}/leaf")


def container_bind(lab: Lab, name: str) -> Plan:
    # Docker --cgroupns=host on v1 (or any runtime that bind-mounts the cgroup):
    # the container's cgroup is mounted over the hierarchy, the path is the host's.
    ctr = f"{name}/ctr"
    lab.make(ctr)
    lab.set_quota(ctr, 150000)
    lab.set_memory(ctr, 1000 * MiB)
    return Plan(join=ctr, container="bind", root=ctr, quota_at=ctr, memory_at=ctr)


def container_cgroupns(lab: Lab, name: str) -> Plan:
    # A private cgroup namespace: the container's cgroup is "/", the pod above it is
    # hidden.  The pod's memory limit is visible only through v1's memory.stat.
    _needs_cgroupns(lab)
    pod, ctr = f"{name}/pod", f"{name}/pod/ctr"
    lab.make(ctr)
    lab.set_memory(pod, 900 * MiB)
    lab.set_quota(ctr, 50000)  # 0.5 cores: SkyPilot's own count is 0 here
    return Plan(join=ctr, container="cgroupns", root=ctr, quota_at=ctr,
                memory_stat_at=ctr if lab.mode == "v1" else None)


def moved(lab: Lab, name: str) -> Plan:
    # The container's cgroup is bind-mounted; then the host moves the process to a
    # sibling cgroup outside it.  Nothing visible is the process's cgroup.
    ctr, other = f"{name}/ctr", f"{name}/other"
    lab.make(ctr)
    lab.make(other)
    lab.set_quota(ctr, 150000)
    lab.set_memory(ctr, 1000 * MiB)
    lab.set_quota(other, 70000)
    lab.set_memory(other, 800 * MiB)
    return Plan(join=ctr, move=other, container="bind", root=ctr, cpuset_at=None)


def moved_cgroupns(lab: Lab, name: str) -> Plan:
    # The same in a cgroup namespace: the process's path becomes "/../other".
    _needs_cgroupns(lab)
    plan = moved(lab, name)
    plan.container = "cgroupns"
    return plan


def _needs_cgroupns(lab: Lab) -> None:
    if not os.path.exists("/proc/self/ns/cgroup"):
        pytest.skip("this kernel has no cgroup namespaces")


def delegated(lab: Lab, name: str) -> Plan:
    # A subtree given to an unprivileged user (systemd's Delegate=, a rootless
    # container runtime): root limits pod and hands it over; the child, put in
    # pod and then dropped to that uid, makes pod/work itself, moves itself
    # there and sets a tighter quota (and a looser memory limit) on it.
    pod, work = f"{name}/pod", f"{name}/pod/work"
    lab.make(pod)
    lab.set_quota(pod, 150000)
    lab.set_memory(pod, 1000 * MiB)
    lab.delegate(pod, DELEGATEE, DELEGATEE)
    control = ("write", lab.host("cpu", pod, "cgroup.subtree_control"), "+cpu +memory")
    steps = [("mkdir", lab.host(c, work), "", "ok") for c in lab.hierarchies()]
    if lab.mode == "v1":  # v1 attaches no task to a cpuset without CPUs and memory nodes
        steps += [("copy", lab.host("cpuset", work, f), lab.host("cpuset", pod, f), "ok")
                  for f in ("cpuset.cpus", "cpuset.mems")]
    else:  # v2: no controller for pod's children while pod holds a process
        steps.append((*control, "EBUSY"))
    # v2: the move needs write access to the common ancestor's cgroup.procs (pod's).
    steps += [("write", lab.host(c, work, "cgroup.procs"), "{pid}", "ok")
              for c in lab.hierarchies()]
    if lab.mode == "v2":  # pod is empty now
        steps.append((*control, "ok"))
    steps += [("write", path, text, "ok") for path, text in lab.quota_writes(work, 80000)]
    steps.append(("write", *lab.memory_write(work, 1200 * MiB), "ok"))
    # pod's own limits stay root's: the delegatee cannot loosen them.
    steps += [("write", path, text, "EACCES") for path, text in lab.quota_writes(pod, 300000)]
    return Plan(join=pod, delegate=Delegation(DELEGATEE, DELEGATEE, work, steps),
                quota_at=work, memory_at=pod)


SCENARIOS: Dict[str, Callable[[Lab, str], Plan]] = {
    "quota-own": quota_own,
    "quota-parent": quota_parent,
    "quota-sub-core": quota_sub_core,
    "nested-tightest": nested_tightest,
    "cpuset-own": cpuset_own,
    "cpuset-parent": cpuset_parent,
    "memory-own": memory_own,
    "memory-parent": memory_parent,
    "shares-only": shares_only,
    "container-bind": container_bind,
    "container-cgroupns": container_cgroupns,
    "moved": moved,
    "moved-cgroupns": moved_cgroupns,
    "delegated": delegated,
}


@pytest.fixture(params=list(SCENARIOS))
def scenario(request: pytest.FixtureRequest, lab: Lab, child_env: Dict[str, str]) -> Result:
    needs_tools = SCENARIOS[request.param] in (container_bind, container_cgroupns, moved,
                                               moved_cgroupns)
    if needs_tools and not lab.can_contain:
        pytest.skip("the container scenarios need util-linux's unshare and mount")
    result = lab.result(request.param, child_env)
    if result.child["setuid_stragglers"]:
        pytest.skip("setuid did not reach every thread of the child (threads and their "
                    f"uids: {result.child['setuid_stragglers']}; qemu-user's own threads "
                    "keep root's), so the kernel refuses the unprivileged move: "
                    "the delegated scenario runs natively and in the cgroup v2 VM")
    return result


# ---------------------------------------------------------------------------
# What the contract says about the files the child saw
# ---------------------------------------------------------------------------


def effective(host: int, affinity: int, cpuset: Optional[int], quota: Optional[float],
              rounding: Callable[[float], int] = math.ceil) -> int:
    cpus = min(host, affinity)
    if cpuset is not None:
        cpus = min(cpus, cpuset)
    if quota is not None:
        cpus = min(cpus, rounding(quota))
    return max(1, cpus)


def sky_rule_quota(child: Dict[str, Any]) -> Optional[float]:
    """docs/contract.md §2.2: the quota at the mount root, as SkyPilot's files are read."""
    files = child["files"]
    try:
        if child["v2"]:
            tokens = (files["/sys/fs/cgroup/cpu.max"] or "").split()
            if len(tokens) != 2 or tokens[0] == "max":
                return None
            quota, period = float(tokens[0]), float(tokens[1])
        else:
            quota = float(files["/sys/fs/cgroup/cpu/cpu.cfs_quota_us"] or "")
            period = float(files["/sys/fs/cgroup/cpu/cpu.cfs_period_us"] or "")
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def sky_rule_memory_gb(child: Dict[str, Any]) -> float:
    """contract §2.5: min(MemTotal, the memory limit at the mount root) in GiB."""
    files = child["files"]
    meminfo = files["/proc/meminfo"] or ""
    total = next(int(ln.split()[1]) * 1024 for ln in meminfo.splitlines()
                 if ln.startswith("MemTotal:"))
    path = "/sys/fs/cgroup/memory.max" if child["v2"] else (
        "/sys/fs/cgroup/memory/memory.limit_in_bytes")
    value = (files[path] or "").strip()
    if value.isdigit() and int(value) > 0:
        total = min(total, int(value))
    return total / GiB


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------


def test_read_limits_matches_the_kernels_files(limits: ModuleType, scenario: Result) -> None:
    child, want = scenario.child, scenario.expected
    got = child["limits"][limits.__name__]
    read = got["read"]
    for field, value in want.items():
        assert read[field] == value, field
    assert read["host_cpus"] == child["host_cpus"]
    assert read["affinity_cpus"] == child["affinity"]
    assert read["host_memory"] == child["host_memory"]
    cpus = effective(child["host_cpus"], child["affinity"], want["cpuset_cpus"],
                     want["cpu_quota"])
    assert read["effective_cpus"] == cpus
    assert got["count"] == cpus
    assert got["floor"] == effective(child["host_cpus"], child["affinity"],
                                     want["cpuset_cpus"], want["cpu_quota"], math.floor)
    limit = want["memory_limit"]
    assert read["effective_memory"] == (child["host_memory"] if limit is None
                                        else min(limit, child["host_memory"]))
    assert read["cgroup_version"] == cgroup_version(child)


def cgroup_version(child: Dict[str, Any]) -> str:
    """v2 when only the unified hierarchy is listed; hybrid when v1 and a mounted v2 are."""
    lines = [ln for ln in child["cgroup"].splitlines() if ln]
    if all(ln.startswith("0::") for ln in lines):
        return "v2"
    unified = any(ln.startswith("0::") for ln in lines) and any(
        fstype == "cgroup2" for _r, _p, fstype, _o in parse_mounts(child["mountinfo"])
    )
    return "hybrid" if unified else "v1"


def own_cgroup(lab: Lab, child: Dict[str, Any]) -> str:
    """The child's cgroup path in the cpu hierarchy, from its /proc/self/cgroup."""
    for line in child["cgroup"].splitlines():
        hid, controllers, path = line.split(":", 2)
        if (lab.mode == "v2" and hid == "0") or "cpu" in controllers.split(","):
            return path
    raise AssertionError(child["cgroup"])


def test_the_kernel_applied_the_scenario(lab: Lab, scenario: Result) -> None:
    """The cgroups did what the scenario meant, as the kernel reports it to the child."""
    plan, child, want = scenario.plan, scenario.child, scenario.expected
    own = own_cgroup(lab, child)
    if plan.container == "cgroupns":
        assert own == ("/../other" if plan.move else "/")
    else:
        assert own == f"/{lab.run}/{plan.final()}"
    if plan.delegate is not None:  # the child did it all itself, unprivileged
        d = plan.delegate
        assert child["ids"] == [d.uid, d.uid, d.gid, d.gid]
        assert child["delegated"] == [want for *_step, want in d.steps]
    else:
        assert child["delegated"] is None
    if plan.cpuset_at not in (None, TOP):
        assert child["affinity"] == want["cpuset_cpus"]  # a cpuset sets the affinity mask
    if plan.move is not None:
        assert want == {k: None for k in want}  # the moved process: nothing to report


def test_moved_process_reports_no_limit(limits: ModuleType, lab: Lab,
                                        child_env: Dict[str, str]) -> None:
    """The issue's case, spelled out: another cgroup's quota is never reported."""
    if not lab.can_contain:
        pytest.skip("the container scenarios need util-linux's unshare and mount")
    read = lab.result("moved", child_env).child["limits"][limits.__name__]["read"]
    assert read["cpu_quota"] is None and read["cpu_quota_source"] is None
    assert read["memory_limit"] is None and read["memory_limit_source"] is None
    assert read["cpuset_cpus"] is None and read["cpuset_source"] is None
    assert read["effective_cpus"] == min(read["host_cpus"], read["affinity_cpus"])


def test_public_limits_is_limits_py(scenario: Result) -> None:
    module, read = scenario.child["public"]
    assert module == "skyfast._limits_py"
    assert read == scenario.child["limits"][module]["read"]


def test_core_functions_follow_the_contract(impl: ModuleType, scenario: Result) -> None:
    child = scenario.child
    core = child["core"][impl.__name__]
    quota = sky_rule_quota(child)
    host = min(child["host_cpus"], child["affinity"])
    assert core["cpu"] == ["ok", max(1, min(host, int(quota)) if quota is not None else host)]
    assert core["mem"] == ["ok", sky_rule_memory_gb(child)]
    assert core["threads"] == ["ok", max(4, (child["cpu_count"] or 1) - 1)]
    want = scenario.expected
    cpus = effective(child["host_cpus"], child["affinity"], want["cpuset_cpus"],
                     want["cpu_quota"])
    assert core["aware"] == ["ok", max(4, cpus - 1)]
    assert core["aware_k8s"] == ["ok", 4 * max(4, cpus - 1)]


def test_core_functions_match_skypilot(impl: ModuleType, sky: Any, scenario: Result) -> None:
    child = scenario.child
    assert child["sky"] is not None, "SkyPilot's functions did not reach the child"
    ours, theirs = child["core"][impl.__name__], child["sky"]
    # EXACT, but for the FIX: never below 1 CPU (SkyPilot gives 0 for a sub-core quota).
    assert theirs["cpu"][0] == "ok"
    assert ours["cpu"] == ["ok", max(1, theirs["cpu"][1])]
    assert ours["mem"] == theirs["mem"]
    assert ours["threads"] == theirs["threads"]


def test_where_skypilot_reads_the_processs_own_cgroup(sky: Any, limits: ModuleType,
                                                      scenario: Result) -> None:
    """SkyPilot reads only the files at the mount point, by design.

    Where the mount point is the process's own cgroup (a container, not moved),
    SkyPilot's cgroup quota and skyfast's agree; on the host it sees the top of
    the hierarchy (no limit); in the moved case it sees the mounted cgroup's
    quota, which is not the process's -- and skyfast reports none.
    """
    plan, child = scenario.plan, scenario.child
    read = child["limits"][limits.__name__]["read"]
    sky_quota = child["sky"]["cgroup_cpu"]
    assert sky_quota == ["ok", sky_rule_quota(child)]
    if plan.container is not None and plan.move is None:
        assert sky_quota == ["ok", read["cpu_quota"]]
    elif plan.container is None:
        assert sky_quota == ["ok", None]
    else:
        assert sky_quota[1] is not None and read["cpu_quota"] is None
    if plan.quota_at is not None and plan.container is None:
        assert read["cpu_quota"] is not None  # skyfast sees what SkyPilot does not
