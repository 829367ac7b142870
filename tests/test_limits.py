"""skyfast.limits: fake /proc and /sys/fs/cgroup trees, this machine, generated text."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

import pytest
from _guards import HANG_GUARD
from _oracles import spec_limit
from hypothesis import example, given
from hypothesis import strategies as st

import skyfast
import skyfast.limits
from skyfast import _core_py, _limits_py

GiB = 1024**3
HOST_CPUS = 64
HOST_MEMORY = 16 * GiB
V1_UNLIMITED = "9223372036854771712"


# ---------------------------------------------------------------------------
# Fake trees
# ---------------------------------------------------------------------------


def mount_line(
    mount_id: int,
    root: str,
    point: str,
    fstype: str,
    super_options: str,
    optional: str = "",
    parent: int = 25,
) -> str:
    """A mountinfo line; ``root`` and ``point`` must already be escaped."""
    opt = f" {optional}" if optional else ""
    head = f"{mount_id} {parent} 0:{mount_id} {root} {point} rw,nosuid,nodev{opt}"
    return f"{head} - {fstype} {fstype} {super_options}"


class Tree:
    """A fake /proc (self/cgroup, self/mountinfo) and a fake /sys/fs/cgroup."""

    def __init__(self, base: Path, limits: ModuleType) -> None:
        self.limits = limits
        self.proc = base / "proc"
        self.cgroup_root = base / "cgroup"
        (self.proc / "self").mkdir(parents=True)
        self.cgroup_root.mkdir()

    def set_cgroup(self, *lines: str) -> None:
        (self.proc / "self" / "cgroup").write_text("".join(line + "\n" for line in lines))

    def set_mountinfo(self, *lines: str) -> None:
        base = "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw"
        text = "\n".join([base, *lines]) + "\n"
        (self.proc / "self" / "mountinfo").write_text(text)

    def write(self, rel: str, text: str) -> str:
        """Write a cgroup file (rel to the fake /sys/fs/cgroup); return its path."""
        path = self.cgroup_root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return str(path)

    def path(self, rel: str) -> str:
        return str(self.cgroup_root / rel)

    def read(self, rounding: _limits_py.Rounding = "ceil") -> _limits_py.ContainerLimits:
        return self.limits.read_limits(
            proc_root=str(self.proc), cgroup_root=str(self.cgroup_root), rounding=rounding
        )

    def count(self, rounding: _limits_py.Rounding = "ceil") -> int:
        return self.limits.effective_cpu_count(
            proc_root=str(self.proc), cgroup_root=str(self.cgroup_root), rounding=rounding
        )

    # Common layouts ----------------------------------------------------------

    def v2(self, path: str = "/") -> None:
        self.set_cgroup(f"0::{path}")
        self.set_mountinfo(mount_line(30, "/", "/sys/fs/cgroup", "cgroup2", "rw,nsdelegate"))

    def v1(self, path: str = "/", root: str = "/") -> None:
        """cpu,cpuacct + cpuset + memory hierarchies, each mounted with ``root``."""
        self.set_cgroup(f"4:memory:{path}", f"3:cpuset:{path}", f"2:cpu,cpuacct:{path}")
        self.set_mountinfo(
            mount_line(31, "/", "/sys/fs/cgroup", "tmpfs", "rw,mode=755"),
            mount_line(32, root, "/sys/fs/cgroup/cpu,cpuacct", "cgroup", "rw,cpu,cpuacct"),
            mount_line(33, root, "/sys/fs/cgroup/cpuset", "cgroup", "rw,cpuset"),
            mount_line(34, root, "/sys/fs/cgroup/memory", "cgroup", "rw,memory"),
        )


@pytest.fixture
def tree(limits: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tree:
    """A fake tree on a fake 64-CPU, 16 GiB host (so a quota is never capped by this machine)."""
    monkeypatch.setattr(limits, "_host_cpus", lambda: HOST_CPUS)
    monkeypatch.setattr(limits, "_affinity_cpus", lambda host: HOST_CPUS)
    monkeypatch.setattr(limits, "_host_memory", lambda: HOST_MEMORY)
    return Tree(tmp_path, limits)


# ---------------------------------------------------------------------------
# cgroup v2 cpu.max
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "cores", "ceil", "floor", "rnd"),
    [
        ("200000 100000\n", 2.0, 2, 2, 2),
        ("50000 100000\n", 0.5, 1, 1, 1),
        ("250000 100000\n", 2.5, 3, 2, 3),
        ("150000 100000\n", 1.5, 2, 1, 2),
        ("200000 100000", 2.0, 2, 2, 2),  # no trailing newline: still the kernel's format
        ("9223372036854775807 9223372036854775807\n", 1.0, 1, 1, 1),
        ("max 100000\n", None, HOST_CPUS, HOST_CPUS, HOST_CPUS),
        ("", None, HOST_CPUS, HOST_CPUS, HOST_CPUS),
        ("\n", None, HOST_CPUS, HOST_CPUS, HOST_CPUS),
        ("abc 100000\n", None, HOST_CPUS, HOST_CPUS, HOST_CPUS),
        ("500000us 100000\n", None, HOST_CPUS, HOST_CPUS, HOST_CPUS),
        ("500000 100000 7\n", None, HOST_CPUS, HOST_CPUS, HOST_CPUS),
        ("0 100000\n", None, HOST_CPUS, HOST_CPUS, HOST_CPUS),
        ("100000 0\n", None, HOST_CPUS, HOST_CPUS, HOST_CPUS),
        ("-100000 100000\n", None, HOST_CPUS, HOST_CPUS, HOST_CPUS),
        # float()'s grammar, as SkyPilot reads the file (no kernel writes these):
        ("+200000 100000\n", 2.0, 2, 2, 2),
        ("2_00000 100000\n", 2.0, 2, 2, 2),
        ("\u0662\u0660\u0660\u0660\u0660\u0660 100000\n", 2.0, 2, 2, 2),
        ("1e5 1e5\n", 1.0, 1, 1, 1),
        ("50_000 100000\n", 0.5, 1, 1, 1),
        ("18446744073709551616 100000\n", 18446744073709551616 / 100000, HOST_CPUS, HOST_CPUS,
         HOST_CPUS),
        ("inf 100000\n", None, HOST_CPUS, HOST_CPUS, HOST_CPUS),
        ("100000 -100000\n", None, HOST_CPUS, HOST_CPUS, HOST_CPUS),
    ],
)
def test_v2_cpu_max(
    limits: ModuleType,
    tree: Tree,
    content: str,
    cores: Optional[float],
    ceil: int,
    floor: int,
    rnd: int,
) -> None:
    tree.v2()
    path = tree.write("cpu.max", content)
    result = tree.read()
    assert result.cgroup_version == "v2"
    assert result.cpu_quota == cores
    if cores is None:
        assert result.cpu_quota_source is None
    else:
        assert result.cpu_quota_source == limits.Source(path, content.strip())
    assert result.effective_cpus == ceil
    assert tree.read("floor").effective_cpus == floor
    assert tree.read("round").effective_cpus == rnd
    assert tree.count() == ceil
    assert tree.count(rounding="floor") == floor


def test_v2_huge_quota_is_one_core(limits: ModuleType, tree: Tree) -> None:
    # A valid quota that equals its period is one core, however large both are.
    assert limits.parse_cpu_max("9223372036854775807 9223372036854775807") == 1.0


def test_sub_cgroup_limit_only_at_leaf(limits: ModuleType, tree: Tree) -> None:
    tree.v2("/kubepods/pod1/ctr")
    tree.write("kubepods/cpu.max", "max 100000\n")
    tree.write("kubepods/pod1/cpu.max", "max 100000\n")
    leaf = tree.write("kubepods/pod1/ctr/cpu.max", "150000 100000\n")
    result = tree.read()
    assert result.cpu_quota == 1.5
    assert result.cpu_quota_source == limits.Source(leaf, "150000 100000")
    assert result.effective_cpus == 2


def test_limit_only_at_parent_leaf_max(limits: ModuleType, tree: Tree) -> None:
    tree.v2("/kubepods/pod1/ctr")
    parent = tree.write("kubepods/pod1/cpu.max", "200000 100000\n")
    tree.write("kubepods/pod1/ctr/cpu.max", "max 100000\n")
    result = tree.read()
    assert result.cpu_quota == 2.0
    assert result.cpu_quota_source == limits.Source(parent, "200000 100000")
    assert result.effective_cpus == 2


def test_tightest_ancestor_wins_whatever_the_period(limits: ModuleType, tree: Tree) -> None:
    tree.v2("/a/b/c")
    tree.write("a/cpu.max", "400000 100000\n")
    middle = tree.write("a/b/cpu.max", "100000 50000\n")  # 2 cores, other period
    tree.write("a/b/c/cpu.max", "300000 100000\n")
    result = tree.read()
    assert result.cpu_quota == 2.0
    assert result.cpu_quota_source == limits.Source(middle, "100000 50000")


def test_garbage_leaf_does_not_hide_parent(limits: ModuleType, tree: Tree) -> None:
    tree.v2("/a/b")
    parent = tree.write("a/cpu.max", "300000 100000\n")
    tree.write("a/b/cpu.max", "500000us 100000\n")
    assert tree.read().cpu_quota_source == limits.Source(parent, "300000 100000")


# ---------------------------------------------------------------------------
# cgroup v1 CPU
# ---------------------------------------------------------------------------


def test_v1_quota_minus_one_is_no_limit(tree: Tree) -> None:
    tree.v1()
    tree.write("cpu,cpuacct/cpu.cfs_quota_us", "-1\n")
    tree.write("cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    result = tree.read()
    assert result.cgroup_version == "v1"
    assert result.cpu_quota is None
    assert result.cpu_quota_source is None
    assert result.effective_cpus == HOST_CPUS


def test_v1_combined_cpu_cpuacct_mount(limits: ModuleType, tree: Tree) -> None:
    # Docker without a cgroup namespace: the path and the mount root are the
    # container's cgroup, so its files are at the mount point itself.
    tree.v1("/docker/abc", root="/docker/abc")
    quota = tree.write("cpu,cpuacct/cpu.cfs_quota_us", "150000\n")
    tree.write("cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    result = tree.read()
    assert result.cpu_quota == 1.5
    assert result.cpu_quota_source == limits.Source(quota, "150000 100000")
    assert result.effective_cpus == 2
    assert tree.read("floor").effective_cpus == 1


def test_v1_separate_cpu_and_cpuacct_mounts(limits: ModuleType, tree: Tree) -> None:
    tree.set_cgroup("3:cpuacct:/job", "2:cpu:/job")
    tree.set_mountinfo(
        # cpuacct first: "cpu" must not match the "cpuacct" mount.
        mount_line(33, "/", "/sys/fs/cgroup/cpuacct", "cgroup", "rw,cpuacct"),
        mount_line(32, "/", "/sys/fs/cgroup/cpu", "cgroup", "rw,cpu"),
    )
    tree.write("cpuacct/job/cpu.cfs_quota_us", "100000\n")  # decoy
    tree.write("cpuacct/job/cpu.cfs_period_us", "100000\n")
    quota = tree.write("cpu/job/cpu.cfs_quota_us", "300000\n")
    tree.write("cpu/job/cpu.cfs_period_us", "100000\n")
    result = tree.read()
    assert result.cgroup_version == "v1"
    assert result.cpu_quota == 3.0
    assert result.cpu_quota_source == limits.Source(quota, "300000 100000")


def test_v1_parent_quota_and_missing_period(tree: Tree) -> None:
    tree.v1("/a/b")
    tree.write("cpu,cpuacct/a/cpu.cfs_quota_us", "50000\n")
    tree.write("cpu,cpuacct/a/cpu.cfs_period_us", "100000\n")
    tree.write("cpu,cpuacct/a/b/cpu.cfs_quota_us", "10000\n")  # no period file: unknown
    result = tree.read()
    assert result.cpu_quota == 0.5
    assert result.effective_cpus == 1
    assert tree.read("floor").effective_cpus == 1  # floor never gives 0


@pytest.mark.parametrize(
    ("quota", "period", "cores"),
    [
        ("200000", "100000", 2.0),
        ("-1", "100000", None),
        ("-2", "100000", None),
        ("0", "100000", None),
        ("100000", "0", None),
        ("abc", "100000", None),
        ("100000", "", None),
        ("9223372036854775807", "100000", 9223372036854775807 / 100000),
        ("9223372036854775808", "100000", 9223372036854775808 / 100000),
        ("1e5", "1e5", 1.0),
        ("inf", "inf", None),
    ],
)
def test_parse_cfs_quota(
    limits: ModuleType, quota: str, period: str, cores: Optional[float]
) -> None:
    assert limits.parse_cfs_quota(quota + "\n", period + "\n") == cores


# ---------------------------------------------------------------------------
# hybrid
# ---------------------------------------------------------------------------


def test_hybrid_v1_controller_wins(limits: ModuleType, tree: Tree) -> None:
    tree.set_cgroup("2:cpu,cpuacct:/", "1:name=systemd:/", "0::/")
    tree.set_mountinfo(
        mount_line(31, "/", "/sys/fs/cgroup", "tmpfs", "rw,mode=755"),
        mount_line(32, "/", "/sys/fs/cgroup/cpu,cpuacct", "cgroup", "rw,cpu,cpuacct"),
        mount_line(33, "/", "/sys/fs/cgroup/systemd", "cgroup", "rw,xattr,name=systemd"),
        mount_line(34, "/", "/sys/fs/cgroup/unified", "cgroup2", "rw,nsdelegate"),
    )
    tree.write("unified/cpu.max", "100000 100000\n")
    quota = tree.write("cpu,cpuacct/cpu.cfs_quota_us", "300000\n")
    tree.write("cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    # memory has no v1 hierarchy here, so the unified one answers for it.
    memory = tree.write("unified/memory.max", f"{GiB}\n")
    result = tree.read()
    assert result.cgroup_version == "hybrid"
    assert result.cpu_quota == 3.0
    assert result.cpu_quota_source == limits.Source(quota, "300000 100000")
    assert result.memory_limit == GiB
    assert result.memory_limit_source == limits.Source(memory, str(GiB))


def test_v1_listed_but_not_mounted_falls_back_to_v2(limits: ModuleType, tree: Tree) -> None:
    tree.set_cgroup("2:cpu,cpuacct:/", "0::/")
    tree.set_mountinfo(mount_line(30, "/", "/sys/fs/cgroup", "cgroup2", "rw"))
    path = tree.write("cpu.max", "100000 100000\n")
    result = tree.read()
    assert result.cgroup_version == "v2"
    assert result.cpu_quota_source == limits.Source(path, "100000 100000")


# ---------------------------------------------------------------------------
# mount roots and mountinfo text
# ---------------------------------------------------------------------------


def test_mount_root_is_stripped_from_the_path(limits: ModuleType, tree: Tree) -> None:
    tree.v1("/docker/abc/sub", root="/docker/abc")
    quota = tree.write("cpu,cpuacct/sub/cpu.cfs_quota_us", "200000\n")
    tree.write("cpu,cpuacct/sub/cpu.cfs_period_us", "100000\n")
    # Above the mount point is outside the container: never read.
    tree.write("cpu.cfs_quota_us", "1000\n")
    tree.write("cpu.cfs_period_us", "100000\n")
    assert tree.read().cpu_quota_source == limits.Source(quota, "200000 100000")


def _assert_no_cgroup_limit(result: _limits_py.ContainerLimits) -> None:
    """No quota, cpuset or memory limit, and no source: the (fake) host's values."""
    assert result.cpu_quota is None and result.cpu_quota_source is None
    assert result.cpuset_cpus is None and result.cpuset_source is None
    assert result.memory_limit is None and result.memory_limit_source is None
    assert result.effective_cpus == HOST_CPUS
    assert result.effective_memory == HOST_MEMORY


def test_moved_out_of_the_mounted_cgroup_reports_no_limit(tree: Tree) -> None:
    # Docker --cgroupns=host on v1 bind-mounts the container's cgroup /docker/abc;
    # the host then moved the process to a sibling.  Every file visible belongs to
    # /docker/abc (or its parents), none to the process's cgroup.
    tree.v1("/docker/other", root="/docker/abc")
    for base in ("cpu,cpuacct/", "cpuset/", "memory/"):
        tree.write(base + "cpu.cfs_quota_us", "150000\n")
        tree.write(base + "cpu.cfs_period_us", "100000\n")
        tree.write(base + "cpuset.effective_cpus", "0-1\n")
        tree.write(base + "memory.limit_in_bytes", f"{GiB}\n")
        tree.write(base + "memory.stat", f"hierarchical_memory_limit {GiB}\n")
        tree.write(base + "other/cpu.cfs_quota_us", "50000\n")  # not how the kernel lays it out
    result = tree.read()
    assert result.cgroup_version == "v1"
    _assert_no_cgroup_limit(result)
    assert tree.count() == HOST_CPUS


def test_moved_out_of_v1_does_not_fall_back_to_unified(tree: Tree) -> None:
    # cpu is bound to v1: the unified hierarchy's cpu.max (if any) is not its limit.
    tree.set_cgroup("2:cpu,cpuacct:/docker/other", "0::/docker/other")
    tree.set_mountinfo(
        mount_line(32, "/docker/abc", "/sys/fs/cgroup/cpu,cpuacct", "cgroup", "rw,cpu,cpuacct"),
        mount_line(34, "/", "/sys/fs/cgroup/unified", "cgroup2", "rw"),
    )
    tree.write("cpu,cpuacct/cpu.cfs_quota_us", "150000\n")
    tree.write("cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    tree.write("unified/docker/other/cpu.max", "50000 100000\n")
    result = tree.read()
    assert result.cgroup_version == "hybrid"
    assert result.cpu_quota is None and result.cpu_quota_source is None


def test_moved_out_under_a_bind_mount_over_the_host_hierarchy(
    limits: ModuleType, tree: Tree
) -> None:
    # `unshare -m` copies the host's mounts; the container's cgroup is then
    # bind-mounted on top of the host's hierarchy.  The covered host mount (root
    # '/') still holds the process's path, but its mount point now shows the
    # container's cgroup: it must not be used.
    tree.set_cgroup("2:cpu,cpuacct:/docker/other")
    cpu = "/sys/fs/cgroup/cpu,cpuacct"
    tree.set_mountinfo(
        mount_line(31, "/", "/sys/fs/cgroup", "tmpfs", "rw"),
        mount_line(32, "/", cpu, "cgroup", "rw,cpu,cpuacct", parent=31),
        mount_line(63, "/docker/abc", cpu, "cgroup", "rw,cpu,cpuacct", parent=32),
    )
    tree.write("cpu,cpuacct/cpu.cfs_quota_us", "150000\n")  # /docker/abc's, seen through 63
    tree.write("cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    assert limits.parse_cgroup_mounts((tree.proc / "self" / "mountinfo").read_text()) == [
        limits.CgroupMount("/docker/abc", cpu, "cgroup", frozenset({"rw", "cpu", "cpuacct"}))
    ]
    result = tree.read()
    assert result.cgroup_version == "v1"
    assert result.cpu_quota is None and result.cpu_quota_source is None


def test_mounts_inside_a_covered_mount_are_left_out(limits: ModuleType) -> None:
    text = "\n".join([
        mount_line(31, "/", "/sys/fs/cgroup", "tmpfs", "rw", parent=20),
        mount_line(32, "/", "/sys/fs/cgroup/memory", "cgroup", "rw,memory", parent=31),
        mount_line(70, "/", "/sys/fs/cgroup", "tmpfs", "rw", parent=31),  # covers 31 and 32
        mount_line(71, "/ctr", "/sys/fs/cgroup/memory", "cgroup", "rw,memory", parent=70),
        mount_line(80, "/", "/x", "cgroup2", "rw", parent=80),  # its own parent: garbage
    ])
    assert [m.root for m in limits.parse_cgroup_mounts(text)] == ["/ctr"]


def test_cgroupns_dotdot_path_reports_no_limit(tree: Tree) -> None:
    # In a cgroup namespace, a process moved above the namespace's root shows '..'.
    tree.v2("/../../other")
    tree.write("cpu.max", "200000 100000\n")
    tree.write("memory.max", f"{GiB}\n")
    tree.write("cpuset.cpus.effective", "0\n")
    _assert_no_cgroup_limit(tree.read())


def test_hierarchy_mounted_twice_picks_the_root_holding_the_path(
    limits: ModuleType, tree: Tree
) -> None:
    tree.set_cgroup("0::/pod/ctr")
    tree.set_mountinfo(
        mount_line(30, "/other", "/sys/fs/cgroup/a", "cgroup2", "rw"),
        mount_line(31, "/pod", "/sys/fs/cgroup/b", "cgroup2", "rw"),
    )
    tree.write("a/cpu.max", "100000 100000\n")
    path = tree.write("b/ctr/cpu.max", "300000 100000\n")
    assert tree.read().cpu_quota_source == limits.Source(path, "300000 100000")


def test_escaped_mount_points_and_long_lines(limits: ModuleType, tree: Tree) -> None:
    tree.set_cgroup("2:cpu,cpuacct:/job", "3:memory:/job")
    long_optional = " ".join(f"shared:{i}" for i in range(8000))  # ~80 KiB
    assert len(long_optional) > 65536
    long_path = "/mnt/" + "x\\040" * 14000  # a non-cgroup line longer than 64 KiB
    tree.set_mountinfo(
        mount_line(29, "/", long_path, "tmpfs", "rw"),
        mount_line(
            32, "/", "/sys/fs/cgroup/my\\040cpu\\011dir", "cgroup", "rw,cpu,cpuacct", long_optional
        ),
        mount_line(33, "/", "/sys/fs/cgroup/back\\134slash", "cgroup", "rw,memory"),
    )
    quota = tree.write("my cpu\tdir/job/cpu.cfs_quota_us", "200000\n")
    tree.write("my cpu\tdir/job/cpu.cfs_period_us", "100000\n")
    memory = tree.write("back\\slash/job/memory.limit_in_bytes", f"{GiB}\n")
    result = tree.read()
    assert result.cpu_quota_source == limits.Source(quota, "200000 100000")
    assert result.memory_limit_source == limits.Source(memory, str(GiB))
    assert result.effective_cpus == 2


@pytest.mark.parametrize(
    ("field", "decoded"),
    [
        ("/a\\040b", "/a b"),
        ("/a\\011b", "/a\tb"),
        ("/a\\012b", "/a\nb"),
        ("/a\\134b", "/a\\b"),
        ("/a\\134040", "/a\\040"),  # an escaped backslash before digits stays literal
        ("/plain", "/plain"),
        ("/a\\9xy", "/a\\9xy"),
    ],
)
def test_unescape_mount_field(limits: ModuleType, field: str, decoded: str) -> None:
    assert limits.unescape_mount_field(field) == decoded


def test_parse_proc_cgroup_keeps_colons_in_paths(limits: ModuleType) -> None:
    lines = limits.parse_proc_cgroup("0::/a:b\n12:cpu,cpuacct:/x\nbad line\n3:memory:relative\n")
    assert lines == [
        limits.CgroupLine("0", frozenset(), "/a:b"),
        limits.CgroupLine("12", frozenset({"cpu", "cpuacct"}), "/x"),
    ]


@pytest.mark.parametrize(
    ("point", "root", "path", "dirs"),
    [
        ("/m", "/", "/", ("/m",)),
        ("/m", "/", "/a/b", ("/m/a/b", "/m/a", "/m")),
        ("/m", "/a", "/a/b", ("/m/b", "/m")),
        ("/m", "/a", "/a", ("/m",)),
        ("/m", "/a", "/ab", ()),  # '/ab' is not under '/a': not visible
        ("/m", "/a", "/x", ()),
        ("/m", "/", "/../x", ()),  # above a cgroup namespace's root
        ("/m/", "/", "/a/", ("/m/a", "/m")),
    ],
)
def test_cgroup_dirs(
    limits: ModuleType, point: str, root: str, path: str, dirs: Sequence[str]
) -> None:
    assert limits.cgroup_dirs(point, root, path) == tuple(dirs)


def test_default_root_keeps_host_mount_points(limits: ModuleType) -> None:
    version, found = limits.resolve_hierarchies(
        "0::/a\n", mount_line(30, "/", "/sys/fs/cgroup", "cgroup2", "rw") + "\n"
    )
    assert version == "v2"
    assert found["cpu"].dirs == ("/sys/fs/cgroup/a", "/sys/fs/cgroup")


# ---------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------


def test_v1_memory_unlimited_sentinel(tree: Tree) -> None:
    tree.v1()
    tree.write("memory/memory.limit_in_bytes", V1_UNLIMITED + "\n")
    result = tree.read()
    assert result.memory_limit is None
    assert result.memory_limit_source is None
    assert result.effective_memory == HOST_MEMORY


@pytest.mark.parametrize(
    ("text", "page_size", "limit"),
    [
        ("9223372036854771712", 4096, None),
        ("9223372036854710272", 65536, None),  # PAGE_COUNTER_MAX with 64 KiB pages
        (str(2**62), 4096, None),
        (str(2**62 - 4096), 4096, 2**62 - 4096),
        ("1073741824", 4096, GiB),
        ("0", 4096, None),
        ("-1", 4096, None),
        ("max", 4096, None),
        ("", 4096, None),
    ],
)
def test_parse_memory_limit_in_bytes(
    limits: ModuleType, text: str, page_size: int, limit: Optional[int]
) -> None:
    assert limits.parse_memory_limit_in_bytes(text + "\n", page_size) == limit


def test_v1_hierarchical_memory_limit(limits: ModuleType, tree: Tree) -> None:
    # The leaf is unlimited, and the limiting parent is hidden from the
    # container; memory.stat still reports it.
    tree.v1("/docker/abc", root="/docker/abc")
    tree.write("memory/memory.limit_in_bytes", V1_UNLIMITED + "\n")
    stat_path = tree.write(
        "memory/memory.stat",
        f"cache 0\nrss 4096\nhierarchical_memory_limit {GiB}\n"
        f"hierarchical_memsw_limit {V1_UNLIMITED}\ntotal_cache 0\n",
    )
    result = tree.read()
    assert result.memory_limit == GiB
    assert result.memory_limit_source == limits.Source(
        stat_path, f"hierarchical_memory_limit {GiB}"
    )
    assert result.effective_memory == GiB


def test_v1_memory_tightest_of_leaf_parent_and_stat(limits: ModuleType, tree: Tree) -> None:
    tree.v1("/a/b")
    parent = tree.write("memory/a/memory.limit_in_bytes", f"{2 * GiB}\n")
    tree.write("memory/a/b/memory.limit_in_bytes", f"{4 * GiB}\n")
    tree.write("memory/a/b/memory.stat", f"hierarchical_memory_limit {V1_UNLIMITED}\n")
    result = tree.read()
    assert result.memory_limit == 2 * GiB
    assert result.memory_limit_source == limits.Source(parent, str(2 * GiB))


@pytest.mark.parametrize(
    ("path", "root", "files", "source"),
    [
        # The leaf's hierarchical_memory_limit repeats its visible parent's limit:
        # the parent's file set it.
        ("/a/b", "/", {"memory/a/memory.limit_in_bytes": str(2 * GiB),
                       "memory/a/b/memory.limit_in_bytes": V1_UNLIMITED,
                       "memory/a/b/memory.stat": f"hierarchical_memory_limit {2 * GiB}"},
         "memory/a/memory.limit_in_bytes"),
        # Tighter than every visible file: a hidden ancestor (above the mount) set it.
        ("/a/b", "/a", {"memory/memory.limit_in_bytes": str(4 * GiB),
                        "memory/b/memory.stat": f"hierarchical_memory_limit {2 * GiB}"},
         "memory/b/memory.stat"),
    ],
    ids=["visible-parent", "hidden-ancestor"],
)
def test_v1_memory_stat_is_credited_only_for_a_hidden_limit(
    limits: ModuleType, tree: Tree, path: str, root: str, files: Dict[str, str], source: str
) -> None:
    tree.v1(path, root=root)
    for rel, text in files.items():
        tree.write(rel, text + "\n")
    result = tree.read()
    assert result.memory_limit == 2 * GiB
    assert result.memory_limit_source == limits.Source(tree.path(source), files[source])


def test_v1_use_hierarchy_zero_stops_the_walk(limits: ModuleType, tree: Tree) -> None:
    tree.v1("/a/b")
    tree.write("memory/memory.limit_in_bytes", f"{GiB}\n")
    tree.write("memory/a/memory.use_hierarchy", "0\n")
    tree.write("memory/a/memory.limit_in_bytes", f"{2 * GiB}\n")
    leaf = tree.write("memory/a/b/memory.limit_in_bytes", f"{3 * GiB}\n")
    result = tree.read()
    assert result.memory_limit_source == limits.Source(leaf, str(3 * GiB))


def test_v2_parent_memory_limit_with_leaf_max(limits: ModuleType, tree: Tree) -> None:
    tree.v2("/pod/ctr")
    parent = tree.write("pod/memory.max", f"{2 * GiB}\n")
    tree.write("pod/ctr/memory.max", "max\n")
    result = tree.read()
    assert result.memory_limit == 2 * GiB
    assert result.memory_limit_source == limits.Source(parent, str(2 * GiB))
    assert result.effective_memory == 2 * GiB


def test_memory_limit_above_host_is_reported_but_not_effective(
    limits: ModuleType, tree: Tree
) -> None:
    tree.v2("/pod")
    path = tree.write("pod/memory.max", f"{64 * GiB}\n")
    result = tree.read()
    assert result.memory_limit == 64 * GiB  # what the kernel says
    assert result.memory_limit_source == limits.Source(path, str(64 * GiB))
    assert result.host_memory == HOST_MEMORY
    assert result.effective_memory == HOST_MEMORY  # what the process can get


# ---------------------------------------------------------------------------
# cpuset and affinity
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("0-3,8,10-11\n", 7),
        ("0\n", 1),
        ("0-1023\n", 1024),
        ("0-4095,5000-5001", 4098),
        ("3,1-2,2", 3),  # overlaps counted once
        ("0-4000000000", 4000000001),
        ("", None),
        ("\n", None),
        ("3-1", None),
        ("0-", None),
        ("-3", None),
        ("0,,1", None),
        ("0-3,", None),
        ("a-b", None),
        ("0 - 3", None),
    ],
)
def test_parse_cpu_list(limits: ModuleType, text: str, count: Optional[int]) -> None:
    assert limits.parse_cpu_list(text) == count


def test_v1_cpuset(limits: ModuleType, tree: Tree) -> None:
    tree.v1("/job")
    tree.write("cpuset/cpuset.effective_cpus", "0-63\n")
    leaf = tree.write("cpuset/job/cpuset.effective_cpus", "0-3,8,10-11\n")
    tree.write("cpuset/job/cpuset.cpus", "0-63\n")  # effective_cpus takes precedence
    result = tree.read()
    assert result.cpuset_cpus == 7
    assert result.cpuset_source == limits.Source(leaf, "0-3,8,10-11")
    assert result.effective_cpus == 7


def test_v1_cpuset_cpus_when_no_effective_file(limits: ModuleType, tree: Tree) -> None:
    tree.v1("/job")
    leaf = tree.write("cpuset/job/cpuset.cpus", "2-3\n")
    result = tree.read()
    assert result.cpuset_source == limits.Source(leaf, "2-3")
    assert result.effective_cpus == 2


@pytest.mark.parametrize(
    ("shape", "path", "files", "count", "source"),
    [
        # v1: the leaf repeats its parent's list; the parent set it.
        ("v1", "/job/task", {"cpuset/cpuset.effective_cpus": "0-63",
                             "cpuset/job/cpuset.effective_cpus": "0-3",
                             "cpuset/job/task/cpuset.effective_cpus": "0-3"},
         4, "cpuset/job/cpuset.effective_cpus"),
        # v2 partition: the child took CPUs 2-7 out of its parent's effective list,
        # now 0-1.  The process may use 2-7 (6 CPUs), not 2.
        ("v2", "/part/leaf", {"cpuset.cpus.effective": "0-7",
                              "part/cpuset.cpus.effective": "0-1",
                              "part/leaf/cpuset.cpus.effective": "2-7"},
         6, "part/leaf/cpuset.cpus.effective"),
        # The leaf's list cannot be read (a directory here): its parent's bounds it.
        ("v2", "/pod/ctr", {"pod/cpuset.cpus.effective": "0-2",
                            "pod/ctr/cpuset.cpus.effective/x": ""},
         3, "pod/cpuset.cpus.effective"),
    ],
    ids=["v1-inherited", "v2-partition", "v2-unreadable-leaf"],
)
def test_cpuset_is_the_leafs_credited_where_it_was_set(
    limits: ModuleType, tree: Tree, shape: str, path: str, files: Dict[str, str],
    count: int, source: str,
) -> None:
    getattr(tree, shape)(path)
    for rel, text in files.items():
        tree.write(rel, text + "\n" if text else text)
    result = tree.read()
    assert result.cpuset_cpus == count
    assert result.cpuset_source == limits.Source(tree.path(source), files[source])


def test_v2_cpuset_and_quota_together(limits: ModuleType, tree: Tree) -> None:
    tree.v2("/pod")
    tree.write("cpuset.cpus.effective", "0-63\n")
    path = tree.write("pod/cpuset.cpus.effective", "0-3\n")
    tree.write("pod/cpu.max", "600000 100000\n")
    result = tree.read()
    assert result.cpuset_cpus == 4
    assert result.cpuset_source == limits.Source(path, "0-3")
    assert result.cpu_quota == 6.0
    assert result.effective_cpus == 4


def test_affinity_caps_the_count(
    limits: ModuleType, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "_affinity_cpus", lambda host: 3)
    tree.v2()
    tree.write("cpu.max", "800000 100000\n")
    result = tree.read()
    assert result.affinity_cpus == 3
    assert result.effective_cpus == 3
    assert tree.count() == 3


@pytest.mark.parametrize(
    ("args", "rounding", "expected"),
    [
        ((8, 8, None, None), "ceil", 8),
        ((8, 4, None, None), "ceil", 4),
        ((8, 8, 2, None), "ceil", 2),
        ((8, 8, None, 2.5), "ceil", 3),
        ((8, 8, None, 2.5), "floor", 2),
        ((8, 8, None, 2.5), "round", 3),
        ((8, 8, None, 2.4), "round", 2),
        ((8, 8, None, 0.01), "floor", 1),
        ((8, 8, None, 0.01), "round", 1),
        ((2, 8, None, 16.0), "ceil", 2),
        ((0, 0, 0, None), "ceil", 1),
    ],
)
def test_compute_effective_cpus(
    limits: ModuleType,
    args: Tuple[int, int, Optional[int], Optional[float]],
    rounding: _limits_py.Rounding,
    expected: int,
) -> None:
    assert limits.compute_effective_cpus(*args, rounding=rounding) == expected


def test_bad_rounding_raises(limits: ModuleType, tree: Tree) -> None:
    tree.v2()
    for call in (tree.read, tree.count, limits.effective_cpu_count):
        with pytest.raises(ValueError, match="rounding must be one of"):
            call(rounding="up")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# unknowns: never an exception
# ---------------------------------------------------------------------------


def _assert_all_unknown(result: _limits_py.ContainerLimits) -> None:
    assert result.cgroup_version is None
    _assert_no_cgroup_limit(result)


def test_no_cgroup_mount_at_all(tree: Tree) -> None:
    tree.set_cgroup("0::/", "2:cpu,cpuacct:/")
    tree.set_mountinfo(mount_line(40, "/", "/proc", "proc", "rw"))
    tree.write("cpu.max", "100000 100000\n")  # not mounted: not read
    _assert_all_unknown(tree.read())
    assert tree.count() == HOST_CPUS


def test_no_proc_files(tree: Tree) -> None:
    _assert_all_unknown(tree.read())


def test_missing_roots(limits: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "_host_cpus", lambda: HOST_CPUS)
    monkeypatch.setattr(limits, "_affinity_cpus", lambda host: HOST_CPUS)
    monkeypatch.setattr(limits, "_host_memory", lambda: HOST_MEMORY)
    missing = tmp_path / "nope"
    _assert_all_unknown(limits.read_limits(proc_root=missing, cgroup_root=missing))
    nul = str(tmp_path / "a\0b")
    _assert_all_unknown(limits.read_limits(proc_root=nul, cgroup_root=nul))


def test_garbage_proc_files(tree: Tree) -> None:
    (tree.proc / "self" / "cgroup").write_bytes(b"\xff\xfe\x00garbage\n::\n0:\n")
    (tree.proc / "self" / "mountinfo").write_bytes(b"\xff - cgroup2\n1 2 3\n - cgroup\n")
    _assert_all_unknown(tree.read())


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_chmod_000(tree: Tree) -> None:
    tree.v2("/pod")
    tree.write("cpu.max", "300000 100000\n")
    leaf = tree.write("pod/cpu.max", "100000 100000\n")
    os.chmod(leaf, 0)
    try:
        result = tree.read()
    finally:
        os.chmod(leaf, 0o644)
    assert result.cpu_quota == 3.0  # the leaf is unknown, its parent still counts


def test_unreadable_file_eacces(
    limits: ModuleType, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Works as root too: the open fails as SELinux or snap confinement would make it fail.
    tree.v2("/pod")
    parent = tree.write("cpu.max", "300000 100000\n")
    leaf = tree.write("pod/cpu.max", "100000 100000\n")
    real_open = os.open

    def deny(path: str, flags: int, mode: int = 0o777) -> int:
        if path == leaf:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", deny)  # the module limits uses
    result = tree.read()
    assert result.cpu_quota_source == limits.Source(parent, "300000 100000")


def test_directory_and_fifo_in_place_of_files(limits: ModuleType, tree: Tree) -> None:
    tree.v2("/pod")
    parent = tree.write("cpu.max", "300000 100000\n")
    (tree.cgroup_root / "pod" / "cpu.max").mkdir(parents=True)
    os.mkfifo(tree.path("pod/memory.max"))  # must not block
    result = tree.read()
    assert result.cpu_quota_source == limits.Source(parent, "300000 100000")
    assert result.memory_limit is None


def test_no_fd_leak(tree: Tree) -> None:
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("no /proc/self/fd")
    tree.v1("/a/b")
    tree.write("cpu,cpuacct/a/cpu.cfs_quota_us", "50000\n")
    tree.write("cpu,cpuacct/a/cpu.cfs_period_us", "100000\n")
    (tree.cgroup_root / "memory" / "a" / "memory.limit_in_bytes").mkdir(parents=True)
    (tree.cgroup_root / "memory" / "a" / "b").mkdir()
    os.mkfifo(tree.path("memory/a/b/memory.limit_in_bytes"))
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        tree.read()
    assert len(os.listdir("/proc/self/fd")) == before


# ---------------------------------------------------------------------------
# the cache of effective_cpu_count
# ---------------------------------------------------------------------------


@pytest.fixture
def cache_ttl(limits: ModuleType) -> Iterator[None]:
    core = sys.modules.get("skyfast._core")
    saved = _core_py.get_cache_ttl(), core.get_cache_ttl() if core else None
    limits.clear_cache()
    yield
    if core is not None:
        core.set_cache_ttl(saved[1])
    _core_py.set_cache_ttl(saved[0])
    limits.clear_cache()


@pytest.fixture
def view_reads(limits: ModuleType, monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """The proc root of every cgroup read effective_cpu_count makes from now on."""
    calls: List[str] = []
    real = limits._read_cpu_view

    def counting(proc: str, cgroup: str, resolved: object = None) -> _limits_py._CpuView:
        calls.append(proc)
        return real(proc, cgroup)

    monkeypatch.setattr(limits, "_read_cpu_view", counting)
    return calls


@pytest.mark.parametrize("setter", ["compiled core", "twin"])
def test_cache_window_follows_set_cache_ttl(
    limits: ModuleType,
    cache_ttl: None,
    view_reads: List[str],
    request: pytest.FixtureRequest,
    setter: str,
) -> None:
    """Either core's set_cache_ttl sets the limits' window too, and empties its cache."""
    core = request.getfixturevalue("compiled_core") if setter == "compiled core" else _core_py
    _core_py.set_cache_ttl(0)  # the other core's window must not matter
    core.set_cache_ttl(60)
    limits.effective_cpu_count()
    limits.effective_cpu_count()
    assert len(view_reads) == 1
    core.set_cache_ttl(60)  # a new window starts empty
    limits.effective_cpu_count()
    assert len(view_reads) == 2
    core.set_cache_ttl(0)
    limits.effective_cpu_count()
    limits.effective_cpu_count()
    assert len(view_reads) == 4


def test_cache_default_roots_only(
    limits: ModuleType, cache_ttl: None, tree: Tree, view_reads: List[str]
) -> None:
    calls = view_reads
    _core_py.set_cache_ttl(60)
    limits.effective_cpu_count()
    limits.effective_cpu_count()
    assert calls == ["/proc"]
    tree.v2()
    tree.count()
    tree.count()
    assert calls == ["/proc", str(tree.proc), str(tree.proc)]
    limits.clear_cache()
    limits.effective_cpu_count()
    assert calls.count("/proc") == 2
    _core_py.set_cache_ttl(0)
    limits.effective_cpu_count()
    limits.effective_cpu_count()
    assert calls.count("/proc") == 4


def test_cache_is_dropped_in_a_forked_child(
    limits: ModuleType, cache_ttl: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skyfast import _cache

    _core_py.set_cache_ttl(60)
    limits.effective_cpu_count()
    assert "limits.cpu_view" in _cache._entries  # the one cache holds it
    monkeypatch.setattr(limits, "_affinity_cpus", lambda host: 1000)
    fake = limits._CpuView(None, 10**6, None, None, None, None)
    # An entry this process made is used ...
    monkeypatch.setitem(_cache._entries, "limits.cpu_view", (os.getpid(), float("inf"), fake))
    assert limits.effective_cpu_count() == 1000
    # ... one made by another pid (the parent, before fork()) is not.
    monkeypatch.setitem(_cache._entries, "limits.cpu_view", (os.getpid() + 1, float("inf"), fake))
    assert limits.effective_cpu_count() <= limits._host_cpus()


def test_get_parallel_threads_container_aware(
    impl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each core asks its own build: the twin _limits_py, the compiled core skyfast.limits.
    used = _limits_py if impl is _core_py else skyfast.limits
    monkeypatch.setattr(used, "effective_cpu_count", lambda: 2)
    assert impl.get_parallel_threads(container_aware=True) == 4
    assert impl.get_parallel_threads("kubernetes", container_aware=True) == 16
    assert impl.get_parallel_threads(container_aware=False) == max(4, os.cpu_count() - 1)


# ---------------------------------------------------------------------------
# this machine
# ---------------------------------------------------------------------------


def test_live_read_limits(limits: ModuleType) -> None:
    result = limits.read_limits()
    assert 1 <= result.effective_cpus <= result.host_cpus
    assert result.effective_cpus <= result.affinity_cpus
    assert result.effective_cpus == limits.effective_cpu_count()
    assert result.host_memory > 0
    assert 0 < result.effective_memory <= result.host_memory
    assert result.host_cpus == os.sysconf("SC_NPROCESSORS_ONLN")
    assert result.affinity_cpus == len(os.sched_getaffinity(0))
    try:
        text = Path("/proc/self/cgroup").read_text()
    except OSError:
        return
    if any(line and not line.startswith("0::") for line in text.splitlines()):
        assert result.cgroup_version in ("v1", "hybrid", None)
    for src in (result.cpu_quota_source, result.memory_limit_source, result.cpuset_source):
        assert src is None or os.path.isfile(src.path)


def test_live_taskset_one_cpu() -> None:
    taskset = shutil.which("taskset")
    if taskset is None:
        pytest.skip("taskset is not installed")
    env = dict(os.environ)
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(skyfast.__file__)))
    env["PYTHONPATH"] = package_dir + os.pathsep + env.get("PYTHONPATH", "")
    code = (
        "from skyfast import limits; "
        "print(limits.effective_cpu_count(), limits.read_limits().effective_cpus)"
    )
    out = subprocess.run(
        [taskset, "-c", "0", sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=HANG_GUARD,
    )
    assert out.stdout.split() == ["1", "1"]


# ---------------------------------------------------------------------------
# Hypothesis: the parsers agree with simple oracles and never raise
# ---------------------------------------------------------------------------

_SPACE = " \t\n\r\x0b\x0c"


def _nat(token: str, bound: int) -> Optional[int]:
    """Oracle: a decimal number below ``bound`` written with ASCII digits only."""
    if token == "" or any(c not in "0123456789" for c in token):
        return None
    if len(token.lstrip("0")) > 25:
        return None
    value = int(token.lstrip("0") or "0")
    return value if value < bound else None


# The cgroup CPU and memory files: SkyPilot's grammar (Python's float() and int()),
# written out from its description, for every kind of text.


def _number(token: str) -> Optional[float]:
    try:
        return float(token)
    except ValueError:
        return None


def _cores(quota: Optional[float], period: Optional[float]) -> Optional[float]:
    if quota is None or period is None or not (quota > 0 and period > 0):
        return None
    cores = quota / period
    return cores if math.isfinite(cores) else None


def oracle_cpu_max(text: str) -> Optional[float]:
    tokens = text.strip().split()
    if len(tokens) != 2 or tokens[0] == "max":
        return None
    return _cores(_number(tokens[0]), _number(tokens[1]))


def oracle_cfs(quota_text: str, period_text: str) -> Optional[float]:
    return _cores(_number(quota_text.strip()), _number(period_text.strip()))


def oracle_memory_max(text: str) -> Optional[int]:
    return spec_limit(text)


def oracle_limit_in_bytes(text: str, page_size: int) -> Optional[int]:
    value = oracle_memory_max(text)
    if value is None or value >= 2**62 or value == (2**63 - 1) // page_size * page_size:
        return None
    return value


def oracle_cpu_list(text: str) -> Optional[int]:
    body = text.strip(_SPACE)
    if not body:
        return None
    cpus: Set[int] = set()
    for item in body.split(","):
        ends = item.split("-")
        if len(ends) > 2:
            return None
        lo, hi = _nat(ends[0], 2**64), _nat(ends[-1], 2**64)
        if lo is None or hi is None or hi < lo:
            return None
        cpus.update(range(lo, hi + 1))
    return len(cpus)


_numbers = st.one_of(
    st.integers(0, 2**64 + 5).map(str),
    st.from_regex(r"\A[0-9]{1,30}\Z"),
    st.sampled_from(["-1", "-0", "max", "+5", "1_0", "\u0663", "\u00b2", "0x10", "1e3", ""]),
)
_pad = st.sampled_from(["", "\n", " ", "\t", "  \n", "\r\n", "\x0b", "\u00a0", "\u2028"])
_cpu_max_text = st.one_of(
    st.from_regex(r"\A(max|[0-9]{1,22}|-[0-9]{1,3})[ \t]{1,2}[0-9]{1,22}\n?\Z"),
    st.builds(
        lambda a, sep, b, pad: a + sep + b + pad,
        _numbers,
        st.sampled_from([" ", "\t", "  ", "", "\n", " \u00a0"]),
        _numbers,
        _pad,
    ),
    st.text(),
    st.text(alphabet="0123456789 max\t\n-us"),
)


@given(_cpu_max_text)
@example("9223372036854775807 9223372036854775807")
@example("500000us 100000")
@example("abc 100000")
@example("max 100000\n")
@example("")
@example("0" * 5000 + "1 1")
@example("1" * 5000 + " 1")
def test_cpu_max_matches_oracle(limits: ModuleType, text: str) -> None:
    assert limits.parse_cpu_max(text) == oracle_cpu_max(text)


@given(st.one_of(_numbers, st.text()), _pad, st.one_of(_numbers, st.text()), _pad)
@example("-1", "\n", "100000", "\n")
@example("9223372036854775807", "", "1", "")
@example("9223372036854775808", "", "1", "")
def test_cfs_matches_oracle(
    limits: ModuleType, quota: str, pad1: str, period: str, pad2: str
) -> None:
    assert limits.parse_cfs_quota(quota + pad1, period + pad2) == oracle_cfs(
        quota + pad1, period + pad2
    )


@given(st.one_of(_numbers, st.text()), _pad, st.sampled_from([4096, 16384, 65536]))
@example(V1_UNLIMITED, "\n", 4096)
@example("9223372036854710272", "\n", 65536)
@example(str(2**62 - 1), "", 4096)
def test_memory_parsers_match_oracles(
    limits: ModuleType, text: str, pad: str, page_size: int
) -> None:
    assert limits.parse_memory_max(text + pad) == oracle_memory_max(text + pad)
    assert limits.parse_memory_limit_in_bytes(text + pad, page_size) == oracle_limit_in_bytes(
        text + pad, page_size
    )
    stat = f"cache 0\nhierarchical_memory_limit {text}{pad}\nrss 1\n"
    if "\n" not in text and len(text.split()) == 1 and not text[:1].isspace():
        assert limits.parse_hierarchical_memory_limit(stat, page_size) == oracle_limit_in_bytes(
            text, page_size
        )
    else:
        limits.parse_hierarchical_memory_limit(stat, page_size)  # must not raise


_cpu_list_text = st.one_of(
    st.from_regex(r"\A([0-9]{1,3}(-[0-9]{1,3})?)(,[0-9]{1,3}(-[0-9]{1,3})?){0,6}\n?\Z"),
    st.text(alphabet="0123456789,- \n", max_size=20),
    st.text(max_size=20),
)


@given(_cpu_list_text)
def test_cpu_list_matches_oracle(limits: ModuleType, text: str) -> None:
    # Keep the oracle's set small: skip ranges wider than a few thousand CPUs.
    numbers = [int(n) for n in re.findall("[0-9]+", text) if len(n) < 8]
    if any(n > 5000 for n in numbers) or any(len(n) >= 8 for n in re.findall("[0-9]+", text)):
        limits.parse_cpu_list(text)
        return
    assert limits.parse_cpu_list(text) == oracle_cpu_list(text)


def _escape(path: str) -> str:
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in path)


@given(st.text(min_size=1).filter(lambda s: "\0" not in s))
@example("/a b\tc\nd\\e")
@example("\\040")
def test_mountinfo_round_trip(limits: ModuleType, name: str) -> None:
    point = "/sys/fs/cgroup/" + name
    line = mount_line(30, _escape("/r " + name), _escape(point), "cgroup2", "rw")
    mounts = limits.parse_cgroup_mounts("1 2 3\n" + line + "\n")
    assert mounts == [limits.CgroupMount("/r " + name, point, "cgroup2", frozenset({"rw"}))]


@given(st.text(), st.text())
def test_resolve_never_raises(limits: ModuleType, cgroup_text: str, mountinfo_text: str) -> None:
    version, found = limits.resolve_hierarchies(cgroup_text, mountinfo_text, "/tmp/x")
    assert version in (None, "v1", "v2", "hybrid")
    assert set(found) <= {"cpu", "cpuset", "memory"}


@given(_cpu_max_text, _cpu_max_text, st.one_of(_numbers, st.text()), _pad)
def test_fake_tree_matches_oracle(
    limits: ModuleType, leaf: str, parent: str, memory: str, pad: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tree = Tree(Path(tmp), limits)
        tree.v2("/pod/ctr")
        files: Dict[str, str] = {"pod/cpu.max": parent, "pod/ctr/cpu.max": leaf}
        files["pod/ctr/memory.max"] = memory + pad
        for rel, text in files.items():
            (tree.cgroup_root / rel).parent.mkdir(parents=True, exist_ok=True)
            (tree.cgroup_root / rel).write_bytes(text.encode("utf-8", "surrogatepass"))
        result = tree.read()
        quotas = [q for q in (oracle_cpu_max(leaf), oracle_cpu_max(parent)) if q is not None]
        assert result.cpu_quota == (min(quotas) if quotas else None)
        assert result.memory_limit == oracle_memory_max(memory + pad)
        assert 1 <= result.effective_cpus <= result.host_cpus
