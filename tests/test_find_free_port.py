"""find_free_port (docs/contract.md §2.11): the first port in [start, end) an IPv4 socket binds.

EXACT against SkyPilot 0.14.1 (which always binds on '' and stops before 65535);
``end_port`` and ``host`` are NEW keywords.  Tests bind on loopback or '' only and
never probe more than a handful of ports themselves.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import subprocess
import sys
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from _guards import HANG_GUARD
from hypothesis import example, given
from hypothesis import strategies as st

Outcome = Callable[..., Tuple[Any, ...]]

NO_FREE = ("err", OSError, "No free ports available.")
BAD_PORT = ("err", OverflowError, "bind(): port must be 0-65535.")
FLOAT_PORT = ("err", TypeError, "'float' object cannot be interpreted as an integer")


def _bindable(port: int, host: str = "") -> bool:
    """Can a plain IPv4 stream socket bind (host, port) right now?"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def _hold(host: str, port: int) -> Optional[socket.socket]:
    """A socket bound (not listening) on (host, port), or None when that port is taken."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
    except OSError:
        s.close()
        return None
    return s


@contextlib.contextmanager
def _held_pair() -> Iterator[int]:
    """Yield p: p held on 0.0.0.0, p+1 held on 127.0.0.1 only, p+2 free (at the time)."""
    for _ in range(50):
        wide = _hold("0.0.0.0", 0)
        assert wide is not None
        port = wide.getsockname()[1]
        narrow = _hold("127.0.0.1", port + 1) if port + 2 < 65535 else None
        if narrow is None or not _bindable(port + 2):
            wide.close()
            if narrow is not None:
                narrow.close()
            continue
        try:
            yield port
        finally:
            wide.close()
            narrow.close()
        return
    pytest.skip("could not find three consecutive ports to arrange")


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (65535, NO_FREE),
        (70000, NO_FREE),
        (2**70, NO_FREE),
        (-5, BAD_PORT),
        (-(2**70), BAD_PORT),
        (80.0, FLOAT_PORT),
        (None, ("err", TypeError, "'NoneType' object cannot be interpreted as an integer")),
        ("8000", ("err", TypeError, "'str' object cannot be interpreted as an integer")),
        (b"80", ("err", TypeError, "'bytes' object cannot be interpreted as an integer")),
        (float("nan"), FLOAT_PORT),
    ],
    ids=repr,
)
def test_spec_vectors_errors(
    impl: ModuleType, outcome: Outcome, start: Any, expected: Tuple[Any, ...]
) -> None:
    """Exhausted ranges, out-of-range and non-int ports raise the reference's exact error."""
    assert outcome(impl.find_free_port, start) == expected


def test_port_zero_always_binds(impl: ModuleType) -> None:
    """start_port 0 returns 0: binding port 0 always succeeds (the kernel picks one)."""
    got = impl.find_free_port(0)
    assert type(got) is int
    assert got == 0


def test_last_tried_port_is_65534(impl: ModuleType) -> None:
    """start_port 65534 returns 65534 when it is free; 65535 is never tried by default."""
    if not _bindable(65534):
        pytest.skip("port 65534 is in use on this host")
    got = impl.find_free_port(65534)
    assert type(got) is int
    assert got == 65534


def test_bool_start_is_an_int(impl: ModuleType) -> None:
    """A bool start is an int to range(): True means port 1, as in the reference (root only)."""
    if os.geteuid() != 0 or not _bindable(1):
        pytest.skip("needs root and a free port 1")
    assert impl.find_free_port(True) == 1


def test_held_ports_are_skipped(impl: ModuleType) -> None:
    """A port held on 0.0.0.0, and one held only on 127.0.0.1, both make it move on."""
    with _held_pair() as port:
        assert impl.find_free_port(port) == port + 2
        assert impl.find_free_port(port + 1) == port + 2
        assert impl.find_free_port(port, host="127.0.0.1") == port + 2
        assert impl.find_free_port(port, host="localhost") == port + 2


@pytest.mark.reference
def test_held_ports_match_reference(impl: ModuleType, sky: Any) -> None:
    """With ports held, skyfast returns what SkyPilot returns."""
    with _held_pair() as port:
        for start in (port, port + 1, port + 2):
            assert impl.find_free_port(start) == sky.common.find_free_port(start)


@pytest.mark.reference
@pytest.mark.parametrize("start", [65535, 70000, -5, 80.0, None, "8000", 0])
def test_vectors_match_reference(impl: ModuleType, sky: Any, outcome: Outcome, start: Any) -> None:
    """The reference gives the same value or exception on the tabled start ports."""
    got = outcome(impl.find_free_port, start)
    want = outcome(sky.common.find_free_port, start)
    assert (got, type(got[-1])) == (want, type(want[-1]))


def test_end_port_bounds_the_search(impl: ModuleType, outcome: Outcome) -> None:
    """end_port is exclusive: held ports up to it exhaust the search; an empty range too."""
    with _held_pair() as port:
        assert outcome(impl.find_free_port, port, end_port=port + 2) == NO_FREE
        assert outcome(impl.find_free_port, port, end_port=port) == NO_FREE
        assert outcome(impl.find_free_port, port + 2, end_port=port + 1) == NO_FREE
        assert impl.find_free_port(port, end_port=port + 3) == port + 2
        assert impl.find_free_port(port + 2, end_port=port + 3) == port + 2


def test_end_port_65536_tries_65535(impl: ModuleType, outcome: Outcome) -> None:
    """end_port=65536 lets port 65535 be tried; the range never goes past 65535 by default."""
    if not _bindable(65535):
        pytest.skip("port 65535 is in use on this host")
    assert impl.find_free_port(65535, end_port=65536) == 65535
    assert outcome(impl.find_free_port, 65536, end_port=65540) == BAD_PORT


def test_host_only_sees_its_own_address(impl: ModuleType) -> None:
    """A port held only on 127.0.0.2 is free for host 127.0.0.1 but not for '' (any)."""
    for _ in range(50):
        other = _hold("127.0.0.2", 0)
        if other is None:
            pytest.skip("127.0.0.2 is not usable here")
        port = other.getsockname()[1]
        try:
            if port + 1 >= 65535 or not _bindable(port + 1) or not _bindable(port, "127.0.0.1"):
                continue
            assert impl.find_free_port(port, host="127.0.0.1") == port
            assert impl.find_free_port(port, host="localhost") == port
            assert impl.find_free_port(port) == port + 1
            return
        finally:
            other.close()
    pytest.skip("could not arrange the ports")


@pytest.mark.parametrize("start", [1024, 65535, 70000])
def test_bad_host_name_raises_at_once(impl: ModuleType, start: int) -> None:
    """An unresolvable host raises socket.gaierror before any port is tried."""
    with pytest.raises(socket.gaierror):
        impl.find_free_port(start, host="no-such-host.invalid")


@pytest.mark.parametrize("host", [None, b"127.0.0.1", 127])
def test_non_str_host_is_a_type_error(impl: ModuleType, host: Any) -> None:
    """host must be a str."""
    with pytest.raises(TypeError):
        impl.find_free_port(1024, host=host)


def test_keywords_are_keyword_only(impl: ModuleType) -> None:
    """end_port and host cannot be passed positionally."""
    with pytest.raises(TypeError):
        impl.find_free_port(1024, 2048)


def test_privileged_ports_skipped_when_not_root(impl: ModuleType) -> None:
    """Non-root: start 80 gives the first unprivileged port (ip_unprivileged_port_start)."""
    if os.geteuid() == 0:
        pytest.skip("running as root (see the setuid subprocess test)")
    first = _first_unprivileged_port()
    if first <= 80 or not _bindable(first):
        pytest.skip("no privileged range to skip, or its first port is in use")
    assert impl.find_free_port(80) == first


def _first_unprivileged_port() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1024


_NOBODY_SCRIPT = """
import importlib, os, sys, warnings
sys.path.insert(0, sys.argv[1])
impl = importlib.import_module(sys.argv[2])
ref = None
try:
    warnings.simplefilter("ignore")
    from sky.utils import common_utils as ref
except Exception:
    pass
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
print(impl.find_free_port(80))
print(ref.find_free_port(80) if ref is not None else "none")
"""


def test_privileged_ports_skipped_as_nobody(impl: ModuleType) -> None:
    """As root, drop to uid 65534 in a subprocess: start 80 gives the first unprivileged port."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to uid 65534")
    first = _first_unprivileged_port()
    if first <= 80 or not _bindable(first):
        pytest.skip("no privileged range to skip, or its first port is in use")
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(impl.__file__)))
    result = subprocess.run(
        [sys.executable, "-c", _NOBODY_SCRIPT, package_root, impl.__name__],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        cwd="/",
    )
    assert result.returncode == 0, result.stderr
    lines: List[str] = result.stdout.split()
    assert int(lines[0]) == first
    if lines[1] != "none":
        assert int(lines[1]) == first  # the reference agrees


START_PORTS = st.one_of(
    st.integers(min_value=65500, max_value=70000),
    st.integers(min_value=-(2**70), max_value=-1),
    st.integers(min_value=2**16, max_value=2**80),
    st.floats(),
    st.none(),
    st.text(max_size=3),
)


@given(start=st.one_of(START_PORTS, st.integers(min_value=1024, max_value=65535)))
@example(start=65534)
@example(start=-1)
@example(start=65536)
def test_matches_python_twin(
    impl: ModuleType, py_impl: ModuleType, outcome: Outcome, start: Any
) -> None:
    """The compiled core and the pure-Python twin agree (searching at most 3 ports)."""
    end = start + 3 if isinstance(start, int) else 65535
    got = outcome(impl.find_free_port, start, end_port=end)
    want = outcome(py_impl.find_free_port, start, end_port=end)
    assert (got, type(got[-1])) == (want, type(want[-1]))


@pytest.mark.reference
@given(start=START_PORTS)
@example(start=65535)
@example(start=-(2**70))
@example(start=float("inf"))
def test_matches_reference(impl: ModuleType, sky: Any, outcome: Outcome, start: Any) -> None:
    """EXACT: the same port or exception as SkyPilot (starts near 65535 or invalid only)."""
    got = outcome(impl.find_free_port, start)
    want = outcome(sky.common.find_free_port, start)
    assert (got, type(got[-1])) == (want, type(want[-1]))


_EMFILE_SCRIPT = r"""
import json, os, resource, sys, warnings
import skyfast._core_py as twin
warnings.simplefilter("ignore")
from sky.utils import common_utils as ref
try:
    import skyfast._core as compiled
except ImportError:
    compiled = None

def outcome(fn, *args, **kwargs):
    try:
        return ["ok", fn(*args, **kwargs)]
    except Exception as e:
        return ["err", type(e).__name__, str(e)]

fns = {"c-extension": compiled and compiled.find_free_port,
       "pure-python": twin.find_free_port, "skypilot": ref.find_free_port}
calls = [("-5", (-5,), {}), ("70000", (70000,), {}),
         ("70000-70002", (70000,), {"end_port": 70002})]

def run():
    return {name: {label: outcome(fn, *args, **kwargs)
                   for label, args, kwargs in calls
                   if fn is not None and (name != "skypilot" or not kwargs)}
            for name, fn in fns.items()}

normal = run()  # also the warm-up: nothing left to import lazily
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
# a small limit a few descriptors above the highest open one; then fill it up
limit = max(int(fd) for fd in os.listdir("/proc/self/fd")) + 8
resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError as e:
    probe = e.errno
starved = run()
for fd in held:
    os.close(fd)
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
print(json.dumps({"probe": probe, "held": len(held), "normal": normal, "starved": starved,
                  "after": run()}), flush=True)
"""


@pytest.mark.reference
def test_out_of_range_start_raises_emfile_first(
    child_env: Dict[str, str], core_built: bool, sky: Any
) -> None:
    """find_free_port(-5) out of descriptors: socket()'s EMFILE, as SkyPilot (not OverflowError).

    SkyPilot creates the socket before bind() rejects the port, so with no descriptor left
    its error is OSError(EMFILE); both implementations raise that too, also for a start
    above 65535 with end_port (70000..70002), and 'No free ports available.' for an empty
    range (70000 to the default end: SkyPilot creates no socket then).  With descriptors to
    spare all raise bind()'s OverflowError.  Run in a child (the rlimit is process-wide).
    """
    result = subprocess.run(
        [sys.executable, "-c", _EMFILE_SCRIPT],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["probe"] == errno.EMFILE  # the limit really bites
    names = ["pure-python", "skypilot"] + (["c-extension"] if core_built else [])
    assert sorted(out["starved"]) == sorted(out["normal"]) == sorted(names)
    emfile = ["err", "OSError", f"[Errno {errno.EMFILE}] {os.strerror(errno.EMFILE)}"]
    assert emfile == ["err", "OSError", "[Errno 24] Too many open files"]
    no_free = ["err", "OSError", "No free ports available."]
    bad_port = ["err", "OverflowError", "bind(): port must be 0-65535."]
    for name in names:
        for run in ("normal", "after"):
            expected = {"-5": bad_port, "70000": no_free, "70000-70002": bad_port}
            if name == "skypilot":
                del expected["70000-70002"]  # SkyPilot has no end_port
            assert out[run][name] == expected, (run, name)
        expected = {"-5": emfile, "70000": no_free, "70000-70002": emfile}
        if name == "skypilot":
            del expected["70000-70002"]
        assert out["starved"][name] == expected, name
    for run in ("normal", "starved", "after"):  # and the same as SkyPilot, call by call
        for label, want in out[run]["skypilot"].items():
            for name in names:
                assert out[run][name][label] == want, (run, name, label)
