"""SKYFAST_SKYPILOT in SkyPilot's real processes: a local API server, its workers, the CLI.

Starts ``sky api start`` (HOME in a temporary directory, a free loopback port),
with ``SKYFAST_SKYPILOT`` on, unset, or skyfast listed in ``~/.sky/plugins.yaml``,
sends ``sky status`` and ``sky api status`` through it, and stops it.  Two
witnesses, each able to catch the other out:

* the kernel: a poller reads ``/proc`` for every process carrying this run's
  marker variable (inherited by everything SkyPilot starts, detached or
  spawned) and whether skyfast's compiled core is mapped into it;
* the trace (``SKYFAST_SKYPILOT_TRACE``): a line per process for each module
  patched, and one the first time each SkyPilot module calls each replaced
  function, written by the replacement itself with the caller's module name.

With the variable on, every SkyPilot Python process seen must have mapped the
core and traced calls from ``sky.*`` code; with it unset, none may have either.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Dict, List, Optional, Set

import pytest
from _guards import HANG_GUARD

import skyfast
from skyfast.integrations import skypilot

pytestmark = [pytest.mark.reference, pytest.mark.skypilot_processes]

SKY = Path(sys.executable).with_name("sky")
RESOURCE_TRACKER = "multiprocessing.resource_tracker"


class Seen:
    """What /proc showed of one process of the run."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cmdlines: List[str] = []
        self.exe: Optional[str] = None
        self.core_mapped = False

    @property
    def cmdline(self) -> str:
        """The last one: a spawned child shows its parent's until it execs."""
        return self.cmdlines[-1] if self.cmdlines else ""

    def __repr__(self) -> str:
        return f"<pid {self.pid} {self.cmdlines} core mapped: {self.core_mapped}>"


class ProcPoller(threading.Thread):
    """Every 50 ms: the processes whose environment holds ``marker``, as the kernel sees them."""

    def __init__(self, marker: bytes, core_path: Optional[str]) -> None:
        super().__init__(daemon=True)
        self.marker = marker
        self.core_path = core_path
        self.seen: Dict[int, Seen] = {}
        self.alive: List[int] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.poll()
            time.sleep(0.05)

    def poll(self) -> None:
        alive = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if self.marker not in f.read().split(b"\0"):
                        continue
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
                seen = self.seen.setdefault(pid, Seen(pid))
                if cmdline and cmdline not in seen.cmdlines:
                    seen.cmdlines.append(cmdline)
                # The latest: a forked child shows its parent's until it execs.
                seen.exe = os.path.realpath(f"/proc/{pid}/exe")
                if self.core_path and not seen.core_mapped:
                    with open(f"/proc/{pid}/maps") as f:
                        seen.core_mapped = self.core_path in f.read()
                alive.append(pid)
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue  # ended meanwhile, or not ours to read (not one of the run's)
        self.alive = alive


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_sky(env: Dict[str, str], *args: str) -> int:
    """One ``sky`` CLI command; its pid (the poller sees it by the marker)."""
    proc = subprocess.Popen([str(SKY), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out, _ = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 0, f"sky {' '.join(args)}: {out.decode(errors='replace')}"
    return proc.pid


class Run:
    def __init__(self, poller: ProcPoller, trace: Path, cli: List[int]) -> None:
        self.poller = poller
        self.trace = trace
        self.cli = cli
        self.before_stop: Optional[Set[int]] = None

    def records(self, pid: int) -> List[dict]:
        path = self.trace / f"{pid}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def python_processes(self, before_stop: bool = True) -> List[Seen]:
        """This environment's Python processes: its interpreter, started from its bin/.

        (SkyPilot also runs other Pythons -- ``aws --version`` through pyenv's shim --
        which share the interpreter binary but not this environment's site-packages.)
        """
        python = os.path.realpath(sys.executable)
        bin_dir = os.path.dirname(sys.executable)
        pids = self.before_stop if before_stop and self.before_stop is not None else None
        return [s for s in list(self.poller.seen.values())
                if s.exe == python and (pids is None or s.pid in pids)
                and (os.path.dirname(s.cmdline.split(" ", 1)[0]) == bin_dir
                     or s.cmdline.startswith("SkyPilot:"))]

    def sky_processes(self, before_stop: bool = True) -> List[Seen]:
        """The Python processes that run SkyPilot: all but multiprocessing's resource tracker."""
        return [s for s in self.python_processes(before_stop)
                if RESOURCE_TRACKER not in s.cmdline]


def _core_path() -> Optional[str]:
    core = getattr(sys.modules.get("skyfast._core"), "__file__", None)
    return os.path.realpath(core) if skyfast.IMPLEMENTATION == "cython" and core else None


@pytest.fixture(scope="module")
def startup_hook_installed() -> None:
    import _skyfast_startup  # installed with the wheel, beside the .pth

    site = Path(_skyfast_startup.__file__).parent
    assert (site / "skyfast_skypilot.pth").is_file(), f"no skyfast_skypilot.pth in {site}"


def sky_session(tmp_path: Path, child_env: Dict[str, str], enabled: bool,
                plugin: bool = False,
                settled: Optional[Callable[[Run], bool]] = None) -> Run:
    """Start the server, send two requests, stop it; what the poller and the trace saw.

    Before stopping, waits (bounded by the hang guard) until ``settled(run)``: a
    process that SkyPilot starts as it shuts down and kills mid-import is no
    evidence either way, so the assertions are about the processes seen up to then.
    """
    marker = f"SKYFAST_TEST_RUN={uuid.uuid4().hex}"
    trace = tmp_path / "trace"
    trace.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    if plugin:
        (home / ".sky").mkdir()
        (home / ".sky" / "plugins.yaml").write_text(
            "plugins:\n  - class: skyfast.integrations.skypilot_plugin.SkyfastPlugin\n")
    env = dict(child_env, HOME=str(home), SKYFAST_SKYPILOT_TRACE=str(trace),
               SKYPILOT_API_SERVER_LOCAL_PORT=str(free_port()),
               SKYPILOT_DISABLE_USAGE_COLLECTION="1")
    env.update([marker.split("=", 1)])
    if enabled:
        env["SKYFAST_SKYPILOT"] = "1"
    poller = ProcPoller(marker.encode(), _core_path())
    poller.start()
    run = Run(poller, trace, [])
    try:
        run.cli.append(run_sky(env, "api", "start"))
        run.cli.append(run_sky(env, "status"))
        run.cli.append(run_sky(env, "api", "status"))
        deadline = time.monotonic() + HANG_GUARD
        while settled is not None and not settled(run):
            assert time.monotonic() < deadline, f"never settled: {run.sky_processes()}"
            time.sleep(0.1)
        run.before_stop = set(poller.seen)
    finally:
        subprocess.run([str(SKY), "api", "stop"], env=env, capture_output=True,
                       timeout=HANG_GUARD, check=False)
        deadline = time.monotonic() + HANG_GUARD
        while time.monotonic() < deadline:
            if not poller.alive:
                break
            time.sleep(0.1)
        poller.stopping.set()
        poller.join(HANG_GUARD)
        poller.poll()
    return run


def all_patched(run: Run) -> bool:
    """Every SkyPilot process alive now has both modules patched and the core mapped."""
    alive = set(run.poller.alive)
    for seen in run.sky_processes(before_stop=False):
        if seen.pid not in alive:
            continue
        patched = {r["module"] for r in run.records(seen.pid) if r["event"] == "patched"}
        if patched != set(skypilot.UPSTREAM_NAMES):
            return False
        if run.poller.core_path and not seen.core_mapped:
            return False
    return True


def test_every_skypilot_process_calls_skyfast(tmp_path, child_env, startup_hook_installed):
    run = sky_session(tmp_path, child_env, enabled=True, settled=all_patched)
    processes = run.sky_processes()
    kinds = {
        "cli": [s for s in processes if s.pid in run.cli],
        "server": [s for s in processes if "sky.server.server" in s.cmdline],
        # multiprocessing spawn children: the uvicorn worker and the request executors.
        "spawned worker": [s for s in processes if "multiprocessing.spawn" in s.cmdline],
    }
    for kind, found in kinds.items():
        assert found, f"the poller saw no {kind} process: {processes}"
    assert len(kinds["cli"]) == 3
    assert len(kinds["spawned worker"]) >= 2, processes
    every = set(skypilot.UPSTREAM_NAMES)
    for seen in processes:
        records = run.records(seen.pid)
        what = f"pid {seen.pid} {seen.cmdlines}"
        patched = {r["module"]: r for r in records if r["event"] == "patched"}
        assert set(patched) == every, f"{what}: patched {sorted(patched)}"
        for module, names in skypilot.UPSTREAM_NAMES.items():
            assert patched[module]["replaced"] == sorted(names), what
            assert patched[module]["via"] == "startup", what
        calls = [r for r in records if r["event"] == "call"]
        assert any(r["caller"].startswith("sky.") for r in calls), f"{what}: no calls"
        assert all(r["skyfast"].startswith("skyfast.") for r in calls), what
        if run.poller.core_path:
            assert seen.core_mapped, f"{what}: skyfast's core never mapped"
    # Every trace file belongs to a process the kernel showed us (or a fork of one).
    pids = {s.pid for s in run.python_processes(before_stop=False)}
    for path in run.trace.iterdir():
        records = [json.loads(line) for line in path.read_text().splitlines()]
        pid = int(path.stem)
        assert pid in pids or records[0]["ppid"] in pids, path


def test_unset_no_skypilot_process_imports_skyfast(tmp_path, child_env,
                                                   startup_hook_installed):
    run = sky_session(tmp_path, child_env, enabled=False)
    processes = run.sky_processes(before_stop=False)
    assert any("sky.server.server" in s.cmdline for s in processes)
    assert len([s for s in processes if s.pid in run.cli]) == 3
    assert list(run.trace.iterdir()) == []
    if run.poller.core_path:
        assert not [s for s in processes if s.core_mapped]


def test_plugin_reaches_the_server_and_its_executors_not_the_cli(tmp_path, child_env,
                                                                 startup_hook_installed):
    """SkyPilot loads plugins in the server's main process, uvicorn and the executors only."""
    run = sky_session(tmp_path, child_env, enabled=False, plugin=True)
    processes = run.sky_processes()
    reached = {}
    for seen in processes:
        records = run.records(seen.pid)
        assert {r["via"] for r in records if r["event"] == "patched"} <= {"plugin"}, seen
        patched = {r["module"] for r in records if r["event"] == "patched"}
        if patched:
            assert patched == set(skypilot.UPSTREAM_NAMES), seen
            reached[seen.pid] = seen
    assert [s for s in reached.values() if "sky.server.server" in s.cmdline], processes
    assert len([s for s in reached.values() if "multiprocessing.spawn" in s.cmdline]) >= 2
    for pid in run.cli:
        assert run.records(pid) == []
