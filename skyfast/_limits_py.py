"""Container limits: what this process may really use (docs/contract.md §6; docs/limits.md).

This is the implementation behind ``skyfast.limits``, plain Python in every
install: nearly all of its time goes to reading files (docs/limits.md, "One
build").

``read_limits()`` finds the process's own cgroup (``/proc/self/cgroup`` and
``/proc/self/mountinfo``), under cgroup v1, v2 or a hybrid of both (a v1
controller wins over the unified hierarchy), walks every ancestor from that
cgroup up to the mount point and keeps the tightest CPU quota and memory
limit, and the cgroup's own effective cpuset.  When the process's cgroup is
not under the mount (moved out of a bind-mounted container cgroup), nothing
is read: another cgroup's limit is never reported.  The result says which
file each number came from -- the file of the cgroup that set the limit --
and what it held.  ``effective_cpu_count()`` turns that into the number of worker threads
worth running::

    max(1, min(online CPUs, affinity, cpuset, rounded CPU quota))

Following psutil, every parser here is a pure function (text -> value) and
the file reading is kept apart, so the parsers can be tested on generated
text.  Nothing here raises for an unreadable, missing or garbled file
(EACCES under SELinux or snap confinement, no cgroup mount, non-Linux): that
file's value is just unknown (``None``).
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Literal, NamedTuple, Optional, Tuple, Union

from . import _cache, _kernel

__all__ = [
    "DEFAULT_CGROUP_ROOT",
    "DEFAULT_PROC_ROOT",
    "CgroupLine",
    "CgroupMount",
    "CgroupVersion",
    "ContainerLimits",
    "Hierarchy",
    "Rounding",
    "Source",
    "StrPath",
    "cgroup_dirs",
    "clear_cache",
    "compute_effective_cpus",
    "effective_cpu_count",
    "parse_cfs_quota",
    "parse_cgroup_mounts",
    "parse_cpu_list",
    "parse_cpu_max",
    "parse_hierarchical_memory_limit",
    "parse_memory_limit_in_bytes",
    "parse_memory_max",
    "parse_proc_cgroup",
    "read_limits",
    "resolve_hierarchies",
    "round_cpu_quota",
    "unescape_mount_field",
]

Rounding = Literal["ceil", "floor", "round"]
CgroupVersion = Literal["v1", "v2", "hybrid"]
StrPath = Union[str, "os.PathLike[str]"]

DEFAULT_PROC_ROOT = "/proc"
DEFAULT_CGROUP_ROOT = "/sys/fs/cgroup"

_ROUNDINGS = ("ceil", "floor", "round")
_CONTROLLERS = ("cpu", "cpuset", "memory")
_WS = " \t\n\r\x0b\x0c"  # ASCII whitespace only: no kernel writes any other
_U64_MAX = 2**64 - 1
_S64_MAX = 2**63 - 1


def _sysconf(name: str) -> int:
    try:
        return os.sysconf(name)
    except (AttributeError, ValueError, OSError):
        return -1


_PAGE_SIZE = _sysconf("SC_PAGE_SIZE") if _sysconf("SC_PAGE_SIZE") > 0 else 4096


# ---------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where a limit was found: the file and the text it held (stripped).

    For a v1 CPU quota ``path`` is ``cpu.cfs_quota_us`` and ``value`` is
    ``"<quota> <period>"`` (the period read from the sibling
    ``cpu.cfs_period_us``); for ``hierarchical_memory_limit`` the value is
    that line of ``memory.stat``.
    """

    path: str
    value: str


@dataclass(frozen=True)
class ContainerLimits:
    """What the process may use, and where each limit came from.

    ``None`` means unknown or unlimited (no file, unreadable, garbled, 'max').

    * ``host_cpus``: online CPUs (``SC_NPROCESSORS_ONLN``).
    * ``affinity_cpus``: CPUs in ``os.sched_getaffinity(0)`` (calling thread).
    * ``cpuset_cpus``: CPUs in the cgroup's effective cpuset (narrowed by its ancestors').
    * ``cpu_quota``: the tightest CFS quota in cores (``quota / period``), unrounded.
    * ``memory_limit``: the tightest memory limit in bytes, as the kernel
      reports it -- it may exceed ``host_memory``.
    * ``host_memory``: ``SC_PHYS_PAGES * SC_PAGE_SIZE`` (0 if unknown).
    * ``cgroup_version``: ``'v1'``, ``'v2'``, ``'hybrid'`` (v1 controllers and a
      mounted unified hierarchy), or ``None`` (no cgroup found).
    * ``effective_cpus``: ``max(1, min(host_cpus, affinity_cpus, cpuset_cpus,
      rounded cpu_quota))``, unknowns left out.  ``rounding`` is ``'ceil'`` by
      default, as the JDK does (Go >= 1.25 rounds up too, but never below 2):
      a 2.5-core quota runs 3 threads that together get 2.5 cores of time,
      rather than leaving half a core idle.  ``'floor'`` gives 2 (never below 1), ``'round'`` rounds
      halves up.
    * ``effective_memory``: ``min(host_memory, memory_limit)``; a limit above
      the machine's memory does not give the process more than the machine has.
    """

    host_cpus: int
    affinity_cpus: int
    cpuset_cpus: Optional[int]
    cpuset_source: Optional[Source]
    cpu_quota: Optional[float]
    cpu_quota_source: Optional[Source]
    memory_limit: Optional[int]
    memory_limit_source: Optional[Source]
    host_memory: int
    cgroup_version: Optional[CgroupVersion]
    rounding: Rounding
    effective_cpus: int
    effective_memory: int


# ---------------------------------------------------------------------------
# Pure parsers: text -> value.  None means "no limit in this text": either
# the kernel's 'unlimited' or text no kernel would write.
# ---------------------------------------------------------------------------


def _uint(token: str, limit: int) -> Optional[int]:
    """ASCII decimal digits -> int, or None (signs, '_', non-ASCII digits, > limit)."""
    if not token:
        return None
    digits = token.lstrip("0") or "0"
    # The length check also keeps int() clear of the 4300-digit conversion limit.
    if len(digits) > 20 or not digits.isascii() or not digits.isdigit():
        return None
    value = int(digits)
    return value if value <= limit else None


def parse_cpu_max(text: str) -> Optional[float]:
    """cgroup v2 ``cpu.max`` ("<quota> <period>" or "max <period>") -> cores, or None.

    The one parser of skyfast's kernel layer (``_kernel.cpu_max_cores``), the
    grammar SkyPilot reads the file with: two whitespace-separated numbers as
    Python's ``float()`` reads them; ``max``, a quota or period that is not
    positive, a third field or a result that is not finite mean no limit.
    """
    return _kernel.cpu_max_cores(text)


def parse_cfs_quota(quota_text: str, period_text: str) -> Optional[float]:
    """cgroup v1 ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us`` -> cores, or None (-1 = none).

    ``_kernel.cfs_cores``: each file one number as ``float()`` reads it; a quota or
    period that is not positive means no limit.
    """
    return _kernel.cfs_cores(quota_text, period_text)


def parse_memory_max(text: str) -> Optional[int]:
    """cgroup v2 ``memory.max`` -> bytes, or None ('max', empty, not positive, garbage).

    ``_kernel.memory_limit_bytes``: one number as ``int()`` reads it.
    """
    return _kernel.memory_limit_bytes(text)


def _page_counter_max_bytes(page_size: int) -> int:
    # PAGE_COUNTER_MAX is LONG_MAX pages on 32-bit kernels, LONG_MAX / PAGE_SIZE on 64-bit.
    if sys.maxsize < 2**32:
        return sys.maxsize * page_size
    return (_S64_MAX // page_size) * page_size


def _v1_memory_value(field: str, page_size: int) -> Optional[int]:
    value = _kernel.memory_limit_bytes(field)
    if value is None:
        return None
    # v1 shows "no limit" as PAGE_COUNTER_MAX pages in bytes (9223372036854771712
    # with 4 KiB pages); anything from 2**62 up is that, whatever the page size.
    if value >= 2**62 or value == _page_counter_max_bytes(page_size):
        return None
    return value


def parse_memory_limit_in_bytes(text: str, page_size: int = _PAGE_SIZE) -> Optional[int]:
    """cgroup v1 ``memory.limit_in_bytes`` -> bytes, or None (the unlimited sentinel, garbage)."""
    return _v1_memory_value(text.strip(_WS), page_size)


def _hierarchical_line(text: str) -> Optional[Tuple[str, str]]:
    for line in text.split("\n"):
        fields = line.split()
        if len(fields) == 2 and fields[0] == "hierarchical_memory_limit":
            return line.strip(_WS), fields[1]
    return None


def parse_hierarchical_memory_limit(text: str, page_size: int = _PAGE_SIZE) -> Optional[int]:
    """The ``hierarchical_memory_limit`` of a cgroup v1 ``memory.stat`` -> bytes, or None."""
    found = _hierarchical_line(text)
    return None if found is None else _v1_memory_value(found[1], page_size)


def parse_cpu_list(text: str) -> Optional[int]:
    """A kernel CPU list ("0-3,8,10-11") -> how many CPUs it names, or None (empty, garbage)."""
    field = text.strip(_WS)
    if not field:
        return None
    ranges: List[Tuple[int, int]] = []
    for item in field.split(","):
        first, dash, last = item.partition("-")
        lo = _uint(first, _U64_MAX)
        hi = _uint(last, _U64_MAX) if dash else lo
        if lo is None or hi is None or hi < lo:
            return None
        ranges.append((lo, hi))
    # Count the union without building it: "0-4000000000" costs nothing.
    ranges.sort()
    count = 0
    covered = -1
    for lo, hi in ranges:
        if hi > covered:
            count += hi - max(lo, covered + 1) + 1
            covered = hi
    return count


# --- /proc/self/cgroup and /proc/self/mountinfo -------------------------------


class CgroupLine(NamedTuple):
    """One line of ``/proc/<pid>/cgroup``: ``hierarchy-id:controllers:path``."""

    hierarchy_id: str
    controllers: FrozenSet[str]
    path: str


class CgroupMount(NamedTuple):
    """A cgroup or cgroup2 mount from mountinfo, escapes decoded."""

    root: str
    mount_point: str
    fstype: str
    super_options: FrozenSet[str]


class Hierarchy(NamedTuple):
    """Where a controller's files are: the process's cgroup dir first, the mount point last.

    ``dirs`` is empty when the hierarchy is mounted but the process's cgroup
    is not under the mount (see ``cgroup_dirs``): its limits are then unknown.
    """

    version: Literal["v1", "v2"]
    dirs: Tuple[str, ...]


def parse_proc_cgroup(text: str) -> List[CgroupLine]:
    """``/proc/self/cgroup`` -> its lines; malformed lines are skipped."""
    lines = []
    for line in text.split("\n"):
        parts = line.split(":", 2)  # the path itself may contain ':'
        if len(parts) != 3 or not parts[2].startswith("/"):
            continue
        controllers = frozenset(c for c in parts[1].split(",") if c)
        lines.append(CgroupLine(parts[0], controllers, parts[2]))
    return lines


_ESCAPE_RE = re.compile(r"\\([0-3][0-7][0-7])")


def unescape_mount_field(field: str) -> str:
    r"""Decode mountinfo's octal escapes (``\040`` space, ``\011`` tab, ``\012``, ``\134``)."""
    if "\\" not in field:
        return field
    # One pass, so an escaped backslash followed by digits ("\134040") stays literal.
    return _ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 8)), field)


def _hidden_mounts(points: Dict[str, str], parents: Dict[str, str]) -> FrozenSet[str]:
    """Ids of the mounts a path lookup cannot reach: covered, or inside a covered one.

    A mount made on top of another at the same point has that one as its
    parent (mountinfo's second field).  The covered mount is out of reach, and
    so is every mount inside it -- its children at other points, their
    children -- but not the one on top.
    """
    covered = {parent for mid, parent in parents.items() if points.get(parent) == points[mid]}
    hidden = set(covered)
    for mid in points:
        child, node = mid, parents[mid]
        for _ in range(len(points)):  # bounded: ids in garbage text may form a loop
            if node not in points:
                break
            if node in covered and points[child] != points[node]:
                hidden.add(mid)
                break
            child, node = node, parents[node]
    return frozenset(hidden)


def parse_cgroup_mounts(text: str) -> List[CgroupMount]:
    """The cgroup and cgroup2 mounts of a mountinfo file that paths reach, in file order.

    Fields: ``id parent major:minor root mount-point options [optional...] -
    fstype source super-options``; spaces inside fields are escaped, so
    splitting on ' ' is exact.  A mount covered by another mounted on top of
    it at the same point (a container's cgroup bind-mounted over the host's
    hierarchy in a copy of the host's mount namespace), or lying inside a
    covered mount, is left out: the files under its mount point are another
    mount's.
    """
    found: List[Tuple[str, CgroupMount]] = []
    points: Dict[str, str] = {}
    parents: Dict[str, str] = {}
    for line in text.split("\n"):
        head = line.split(" ", 5)
        if len(head) < 6:
            continue
        points[head[0]] = head[4]
        parents[head[0]] = head[1]
        if " - cgroup" not in line:  # cheap filter: most mounts are not cgroups
            continue
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < sep + 4 or fields[sep + 1] not in ("cgroup", "cgroup2"):
            continue
        mount = CgroupMount(
            root=unescape_mount_field(fields[3]),
            mount_point=unescape_mount_field(fields[4]),
            fstype=fields[sep + 1],
            super_options=frozenset(fields[sep + 3].split(",")),
        )
        found.append((head[0], mount))
    hidden = _hidden_mounts(points, parents)
    return [mount for mid, mount in found if mid not in hidden]


def _relative(cgroup_path: str, mount_root: str) -> Optional[str]:
    """``cgroup_path`` below ``mount_root`` ('' when equal), or None when it is not below it."""
    if ".." in cgroup_path.split("/"):  # outside our cgroup namespace
        return None
    root = mount_root.rstrip("/")
    if not root:
        return cgroup_path
    if cgroup_path == root:
        return ""
    if cgroup_path.startswith(root + "/"):
        return cgroup_path[len(root) :]
    return None


def cgroup_dirs(mount_point: str, mount_root: str, cgroup_path: str) -> Tuple[str, ...]:
    """The process's cgroup directory and each ancestor up to the mount point, leaf first.

    The cgroup path is relative to the hierarchy's root; the mount shows the
    hierarchy from ``mount_root`` down.  A path not under that root gives no
    directory at all (``()``): the process's own cgroup is not visible -- the
    host moved it out of the cgroup a container had bind-mounted, or a
    cgroup namespace shows it as ``/../x`` -- and the files that are visible
    belong to other cgroups, whose limits are not this process's.
    """
    rel = _relative(cgroup_path, mount_root)
    if rel is None:
        return ()
    parts = [p for p in rel.split("/") if p and p != "."]
    base = mount_point.rstrip("/") or "/"
    dirs = []
    for depth in range(len(parts), -1, -1):
        dirs.append(os.path.join(base, *parts[:depth]) if depth else base)
    return tuple(dirs)


def _choose_mount(mounts: List[CgroupMount], cgroup_path: str) -> CgroupMount:
    # A hierarchy may be mounted more than once; prefer the mount whose root
    # holds the process's cgroup (deepest root first).
    best = mounts[0]
    best_len = -1
    for m in mounts:
        if _relative(cgroup_path, m.root) is not None and len(m.root) > best_len:
            best, best_len = m, len(m.root)
    return best


def _map_mount_point(mount_point: str, cgroup_root: str) -> str:
    if cgroup_root == DEFAULT_CGROUP_ROOT:
        return mount_point
    if mount_point == DEFAULT_CGROUP_ROOT or mount_point.startswith(DEFAULT_CGROUP_ROOT + "/"):
        return cgroup_root.rstrip("/") + mount_point[len(DEFAULT_CGROUP_ROOT) :]
    return mount_point


def resolve_hierarchies(
    cgroup_text: str, mountinfo_text: str, cgroup_root: str = DEFAULT_CGROUP_ROOT
) -> Tuple[Optional[CgroupVersion], Dict[str, Hierarchy]]:
    """Which hierarchy holds each of 'cpu', 'cpuset', 'memory' for this process.

    A hierarchy counts only when it is both listed in /proc/self/cgroup and
    mounted.  A v1 controller wins over the unified (v2) hierarchy.  Mount
    points under /sys/fs/cgroup are moved onto ``cgroup_root``.  A mounted
    hierarchy whose mount does not show the process's cgroup still holds its
    controllers, with no directories (``cgroup_dirs``): their limits are
    unknown, and the unified hierarchy does not stand in for them.
    """
    mounts = parse_cgroup_mounts(mountinfo_text)
    found: Dict[str, Hierarchy] = {}
    has_v1 = False
    unified: Optional[Hierarchy] = None
    for line in parse_proc_cgroup(cgroup_text):
        if line.hierarchy_id == "0" and not line.controllers:
            candidates = [m for m in mounts if m.fstype == "cgroup2"]
            if candidates and unified is None:
                m = _choose_mount(candidates, line.path)
                point = _map_mount_point(m.mount_point, cgroup_root)
                unified = Hierarchy("v2", cgroup_dirs(point, m.root, line.path))
            continue
        if not line.controllers:
            continue
        # The mount of this hierarchy carries all of its controllers (and any
        # name=) in its super options; "cpu" alone must not match "cpuacct".
        candidates = [
            m for m in mounts if m.fstype == "cgroup" and line.controllers <= m.super_options
        ]
        if not candidates:
            continue
        has_v1 = True
        m = _choose_mount(candidates, line.path)
        point = _map_mount_point(m.mount_point, cgroup_root)
        hierarchy = Hierarchy("v1", cgroup_dirs(point, m.root, line.path))
        for controller in _CONTROLLERS:
            if controller in line.controllers:
                found.setdefault(controller, hierarchy)
    if unified is not None:
        for controller in _CONTROLLERS:
            found.setdefault(controller, unified)
    version: Optional[CgroupVersion]
    if has_v1:
        version = "hybrid" if unified is not None else "v1"
    else:
        version = "v2" if unified is not None else None
    return version, found


# --- turning the numbers into a CPU count ---------------------------------------


def _check_rounding(rounding: object) -> None:
    if rounding not in _ROUNDINGS:
        raise ValueError(f"rounding must be one of 'ceil', 'floor', 'round', got {rounding!r}")


def round_cpu_quota(cores: float, rounding: Rounding = "ceil") -> int:
    """A quota in cores as a whole CPU count: 'ceil' (default), 'floor', or 'round' (halves up)."""
    _check_rounding(rounding)
    if rounding == "ceil":
        return math.ceil(cores)
    if rounding == "floor":
        return math.floor(cores)
    return math.floor(cores + 0.5)


def compute_effective_cpus(
    host: int,
    affinity: int,
    cpuset: Optional[int],
    quota: Optional[float],
    rounding: Rounding = "ceil",
) -> int:
    """``max(1, min(host, affinity, cpuset, rounded quota))``, leaving out the unknowns."""
    cpus = min(host, affinity)
    if cpuset is not None:
        cpus = min(cpus, cpuset)
    if quota is not None:
        cpus = min(cpus, round_cpu_quota(quota, rounding))
    return max(1, cpus)


# ---------------------------------------------------------------------------
# I/O: thin readers around the parsers
# ---------------------------------------------------------------------------

def _read(path: str, errors: str = "replace") -> Optional[str]:
    """A kernel file's text through skyfast's one reader (``_kernel.read_file``), or None."""
    data = _kernel.read_file(path)
    return None if data is None else data.decode("utf-8", errors)


def _host_cpus() -> int:
    cpus = _sysconf("SC_NPROCESSORS_ONLN")
    return cpus if cpus > 0 else (os.cpu_count() or 1)


def _affinity_cpus(host: int) -> int:
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is None:  # not Linux
        return host
    try:
        cpus = len(getaffinity(0))
    except OSError:
        return host
    return cpus if cpus > 0 else host


def _host_memory() -> int:
    pages = _sysconf("SC_PHYS_PAGES")
    return pages * _PAGE_SIZE if pages > 0 else 0


_Resolved = Tuple[Optional[CgroupVersion], Dict[str, Hierarchy]]


def _resolve(proc_root: str, cgroup_root: str) -> _Resolved:
    # surrogateescape: the paths must survive a round trip back to bytes.
    cgroup_text = _read(os.path.join(proc_root, "self", "cgroup"), "surrogateescape")
    if cgroup_text is None:
        return None, {}
    mountinfo = _read(os.path.join(proc_root, "self", "mountinfo"), "surrogateescape")
    if mountinfo is None:
        return None, {}
    return resolve_hierarchies(cgroup_text, mountinfo, cgroup_root)


def _tightest_quota(h: Hierarchy) -> Tuple[Optional[float], Optional[Source]]:
    best: Optional[float] = None
    source: Optional[Source] = None
    for d in h.dirs:
        if h.version == "v2":
            path = os.path.join(d, "cpu.max")
            text = _read(path)
            if text is None:
                continue
            cores = parse_cpu_max(text)
            raw = text.strip(_WS)
        else:
            path = os.path.join(d, "cpu.cfs_quota_us")
            quota = _read(path)
            if quota is None or quota.strip(_WS) == "-1":
                continue
            period = _read(os.path.join(d, "cpu.cfs_period_us"))
            if period is None:
                continue
            cores = parse_cfs_quota(quota, period)
            raw = f"{quota.strip(_WS)} {period.strip(_WS)}"
        if cores is not None and (best is None or cores < best):
            best, source = cores, Source(path, raw)
    return best, source


def _own_cpuset(h: Hierarchy) -> Tuple[Optional[int], Optional[Source]]:
    """The CPUs of the process's own cpuset, credited to the cgroup that set them.

    The kernel already narrows a cgroup's effective list by every ancestor's,
    so the first readable list from the leaf up is the answer.  The minimum
    over ancestors would not be: on v2 a child partition takes its CPUs out
    of its parent's effective list, which can then be shorter than the
    child's and name CPUs the process may not use.  Ancestors that show the
    very same list are where it was set (a v2 cgroup with an empty
    ``cpuset.cpus`` inherits its parent's), so the source is the topmost of
    them.
    """
    names = (
        ("cpuset.cpus.effective",)
        if h.version == "v2"
        else (
            "cpuset.effective_cpus",
            "cpuset.cpus",
        )
    )
    found: Optional[Tuple[int, str, str]] = None  # count, file name, stripped text
    source: Optional[Source] = None
    for d in h.dirs:
        if found is not None:
            # Only walk on while the ancestor shows the same list in the same file.
            path = os.path.join(d, found[1])
            text = _read(path)
            if text is None or text.strip(_WS) != found[2]:
                break
            source = Source(path, found[2])
            continue
        for name in names:
            path = os.path.join(d, name)
            text = _read(path)
            count = None if text is None else parse_cpu_list(text)
            if text is None or count is None:
                continue
            found = count, name, text.strip(_WS)
            source = Source(path, found[2])
            break  # effective_cpus found: cpuset.cpus adds nothing
    return (None, None) if found is None else (found[0], source)


def _tightest_memory(h: Hierarchy) -> Tuple[Optional[int], Optional[Source]]:
    best: Optional[int] = None
    source: Optional[Source] = None

    def consider(limit: Optional[int], path: str, raw: str) -> None:
        nonlocal best, source
        if limit is not None and (best is None or limit < best):
            best, source = limit, Source(path, raw)

    # v1: the leaf's memory.stat line, the minimum over every ancestor, hidden ones too.
    hierarchical: Optional[Tuple[Optional[int], str, str]] = None
    for i, d in enumerate(h.dirs):
        if h.version == "v2":
            path = os.path.join(d, "memory.max")
            text = _read(path)
            if text is not None:
                consider(parse_memory_max(text), path, text.strip(_WS))
            continue
        if i > 0:
            # v1 with use_hierarchy=0: this ancestor's limit (and any above it)
            # does not cover its children (kernels before 5.x allowed that).
            flag = _read(os.path.join(d, "memory.use_hierarchy"))
            if flag is not None and flag.strip(_WS) == "0":
                break
        path = os.path.join(d, "memory.limit_in_bytes")
        text = _read(path)
        if text is not None:
            consider(parse_memory_limit_in_bytes(text), path, text.strip(_WS))
        if i == 0:
            stat_path = os.path.join(d, "memory.stat")
            text = _read(stat_path)
            found = None if text is None else _hierarchical_line(text)
            if found is not None:
                hierarchical = _v1_memory_value(found[1], _PAGE_SIZE), stat_path, found[0]
    if hierarchical is not None:
        # Last, and only when tighter than every file read: a limit that a visible
        # cgroup sets is credited to that cgroup's file, not to the leaf's summary.
        consider(*hierarchical)
    return best, source


class _CpuView(NamedTuple):
    version: Optional[CgroupVersion]
    host: int
    cpuset: Optional[int]
    cpuset_source: Optional[Source]
    quota: Optional[float]
    quota_source: Optional[Source]


def _read_cpu_view(
    proc_root: str, cgroup_root: str, resolved: Optional[_Resolved] = None
) -> _CpuView:
    version, hierarchies = _resolve(proc_root, cgroup_root) if resolved is None else resolved
    quota: Tuple[Optional[float], Optional[Source]] = (None, None)
    cpuset: Tuple[Optional[int], Optional[Source]] = (None, None)
    if "cpu" in hierarchies:
        quota = _tightest_quota(hierarchies["cpu"])
    if "cpuset" in hierarchies:
        cpuset = _own_cpuset(hierarchies["cpuset"])
    return _CpuView(version, _host_cpus(), cpuset[0], cpuset[1], quota[0], quota[1])


def read_limits(
    *,
    proc_root: StrPath = DEFAULT_PROC_ROOT,
    cgroup_root: StrPath = DEFAULT_CGROUP_ROOT,
    rounding: Rounding = "ceil",
) -> ContainerLimits:
    """Read this process's container limits now (never cached).

    ``proc_root`` and ``cgroup_root`` point the readers at another tree (tests
    build fake ones); mountinfo mount points under ``/sys/fs/cgroup`` are then
    looked up under ``cgroup_root``.  ``rounding`` is how ``effective_cpus``
    rounds a fractional CPU quota; see ``ContainerLimits``.  Raises only
    ValueError for an unknown ``rounding``.
    """
    _check_rounding(rounding)
    proc = os.fspath(proc_root)
    cgroup = os.fspath(cgroup_root)
    resolved = _resolve(proc, cgroup)
    cpu = _read_cpu_view(proc, cgroup, resolved)
    memory: Tuple[Optional[int], Optional[Source]] = (None, None)
    if "memory" in resolved[1]:
        memory = _tightest_memory(resolved[1]["memory"])
    affinity = _affinity_cpus(cpu.host)
    host_memory = _host_memory()
    effective_memory = host_memory
    if memory[0] is not None:
        effective_memory = memory[0] if host_memory <= 0 else min(host_memory, memory[0])
    return ContainerLimits(
        host_cpus=cpu.host,
        affinity_cpus=affinity,
        cpuset_cpus=cpu.cpuset,
        cpuset_source=cpu.cpuset_source,
        cpu_quota=cpu.quota,
        cpu_quota_source=cpu.quota_source,
        memory_limit=memory[0],
        memory_limit_source=memory[1],
        host_memory=host_memory,
        cgroup_version=cpu.version,
        rounding=rounding,
        effective_cpus=compute_effective_cpus(cpu.host, affinity, cpu.cpuset, cpu.quota, rounding),
        effective_memory=effective_memory,
    )


# ---------------------------------------------------------------------------
# effective_cpu_count, with the short-lived cache of docs/contract.md §4
# ---------------------------------------------------------------------------

# The cgroup part of the CPU count lives in skyfast's one cache (``_cache``): its
# window, its fork rule, and ``skyfast.clear_cache()``, which is this very function.
clear_cache = _cache.clear_cache


def _default_cpu_view() -> _CpuView:
    return _read_cpu_view(DEFAULT_PROC_ROOT, DEFAULT_CGROUP_ROOT)


def effective_cpu_count(
    *,
    rounding: Rounding = "ceil",
    proc_root: StrPath = DEFAULT_PROC_ROOT,
    cgroup_root: StrPath = DEFAULT_CGROUP_ROOT,
) -> int:
    """CPUs this process can keep busy: ``max(1, min(host, affinity, cpuset, ceil(quota)))``.

    The same number as ``read_limits().effective_cpus``.  With the default
    roots the cgroup part is cached for skyfast's cache TTL (20 ms unless
    ``skyfast.set_cache_ttl`` changed it); the affinity mask is read on every
    call.  Other roots are never cached.
    """
    _check_rounding(rounding)
    proc = os.fspath(proc_root)
    cgroup = os.fspath(cgroup_root)
    if proc == DEFAULT_PROC_ROOT and cgroup == DEFAULT_CGROUP_ROOT:
        view = _cache.cached("limits.cpu_view", _default_cpu_view)
    else:
        view = _read_cpu_view(proc, cgroup)
    return compute_effective_cpus(
        view.host, _affinity_cpus(view.host), view.cpuset, view.quota, rounding
    )
