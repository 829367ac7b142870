"""Reliability (docs/contract.md §7, §2.6, §2.8, §3): special files never hang, fail as documented.

test_hash_file.py and test_read_last_n_lines.py already pin the FIFO-with-no-writer FIX
(and that the reference blocks), FIFOs with a writer, pipes, ttys and most single-file
errors.  This module adds FIFOs and sockets reached through a symlink or given as
bytes/pathlib, and checks all special files in one table: the compiled core, the twin
and (where it does not hang) SkyPilot agree.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import tempfile
from types import ModuleType
from typing import Any, Callable, Iterator, Tuple

import pytest

Outcome = Callable[..., Tuple[Any, ...]]

@pytest.fixture
def specials() -> Iterator[dict]:
    """FIFOs (without and with a writer), a listening unix socket and links to them."""
    d = tempfile.mkdtemp(prefix="sfsp", dir="/tmp")  # short: unix socket paths <= 107 bytes
    paths = {
        "fifo": os.path.join(d, "fifo"),
        "fifo_w": os.path.join(d, "fifo_w"),
        "sock": os.path.join(d, "s.sock"),
    }
    os.mkfifo(paths["fifo"])
    os.mkfifo(paths["fifo_w"])
    # O_RDWR never blocks on a FIFO: this process is its writer, with data waiting.
    writer = os.open(paths["fifo_w"], os.O_RDWR | os.O_NONBLOCK)
    os.write(writer, b"line one\nline two\n")
    server = socket.socket(socket.AF_UNIX)
    server.bind(paths["sock"])
    server.listen()
    for name in ("fifo", "fifo_w", "sock"):
        link = os.path.join(d, name + ".lnk")
        os.symlink(paths[name], link)
        paths[name + "_link"] = link
    paths["dir"] = d
    loop = os.path.join(d, "loop")
    os.symlink(loop, loop)
    paths["loop"] = loop
    try:
        yield paths
    finally:
        server.close()
        os.close(writer)
        shutil.rmtree(d)


FORMS = pytest.mark.parametrize("form", [str, os.fsencode, pathlib.Path],
                                ids=["str", "bytes", "path"])


@pytest.mark.parametrize("name", ["fifo", "fifo_link"])
@FORMS
def test_fifo_without_writer_fails_at_once(impl: ModuleType, specials: dict, name: str,
                                           form: Callable[[str], Any],
                                           call_with_watchdog: Any) -> None:
    """A FIFO nobody writes to, direct or via a symlink: an error without waiting for one."""
    for fn, args, kind in ((impl.hash_file, ("sha256",), OSError),
                           (impl.read_last_n_lines, (2,), RuntimeError)):
        stepped_in, result = call_with_watchdog(lambda p, *a, fn=fn: fn(form(p), *a),
                                                specials[name], *args)
        assert not stepped_in  # it returned by itself
        assert result[0] == "err" and type(result[1]) is kind, result


@pytest.mark.parametrize("name", ["sock", "sock_link"])
@FORMS
def test_socket_fails(impl: ModuleType, specials: dict, name: str,
                      form: Callable[[str], Any]) -> None:
    """A unix socket cannot be opened (ENXIO): open()'s error, wrapped by read_last_n_lines."""
    path = form(specials[name])
    with pytest.raises(OSError):
        impl.hash_file(path, "sha256")
    with pytest.raises(RuntimeError) as info:
        impl.read_last_n_lines(path, 2)
    assert isinstance(info.value.__cause__, OSError)
    assert str(info.value) == f"Failed to read last 2 lines from {path}: {info.value.__cause__}"


@pytest.mark.parametrize("name", ["fifo_w", "fifo_w_link"])
@FORMS
def test_fifo_with_writer_is_not_seekable(impl: ModuleType, specials: dict, name: str,
                                          form: Callable[[str], Any]) -> None:
    """read_last_n_lines on a FIFO with a writer: SkyPilot's "not seekable" error, data kept."""
    path = form(specials[name])
    with pytest.raises(RuntimeError) as info:
        impl.read_last_n_lines(path, 2)
    assert str(info.value) == (
        f"Failed to read last 2 lines from {path}: File or stream is not seekable.")
    fd = os.open(specials["fifo_w"], os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert os.read(fd, 100) == b"line one\nline two\n"  # nothing was consumed
    finally:
        os.close(fd)


def _key(o: Tuple[Any, ...]) -> Tuple[Any, ...]:
    """Outcomes compare by digest for hash objects, else as they are."""
    if o[0] == "ok" and hasattr(o[1], "hexdigest"):
        return ("ok", o[1].name, o[1].hexdigest())
    return o


CASES = {
    "/dev/null": lambda p: "/dev/null",
    "/proc/self/status": lambda p: "/proc/self/status",
    "directory": lambda p: p["dir"],
    "symlink loop": lambda p: p["loop"],
    "socket": lambda p: p["sock"],
    "fifo": lambda p: p["fifo"],
}


@pytest.mark.twin_only
@pytest.mark.parametrize("case", list(CASES))
def test_documented_errors_match_twin(impl: ModuleType, py_impl: ModuleType, outcome: Outcome,
                                      specials: dict, case: str) -> None:
    """Each special file gives the compiled core exactly the twin's value or error."""
    path = CASES[case](specials)
    for fn in ("hash_file", "read_last_n_lines"):
        args = (path, "sha256") if fn == "hash_file" else (path, 3)
        ours = _key(outcome(getattr(impl, fn), *args))
        twin = _key(outcome(getattr(py_impl, fn), *args))
        if case == "/proc/self/status" and fn == "hash_file":
            # The file differs between reads (it reports this process's own memory use).
            assert ours[0] == twin[0] == "ok" and ours[1] == "sha256"
            continue
        assert ours == twin, fn


EXPECTED_KIND = {
    # (hash_file, read_last_n_lines) -- contract §2.6 and §2.8.
    "/dev/null": ("ok", "ok"),
    "/proc/self/status": ("ok", RuntimeError),
    "directory": (IsADirectoryError, RuntimeError),
    "symlink loop": (OSError, FileNotFoundError),  # ELOOP; 2.8: a bad link is "not found"
    "socket": (OSError, RuntimeError),
    "fifo": (OSError, RuntimeError),
}


@pytest.mark.parametrize("case", list(CASES))
def test_documented_error_kinds(impl: ModuleType, outcome: Outcome, specials: dict,
                                case: str) -> None:
    """The kinds contract §2.6/§2.8 document: open()'s errors for hash_file, RuntimeError wrap."""
    path = CASES[case](specials)
    got = (outcome(impl.hash_file, path, "sha256"), outcome(impl.read_last_n_lines, path, 3))
    for o, want in zip(got, EXPECTED_KIND[case]):
        if want == "ok":
            assert o[0] == "ok", o
        else:
            assert o[0] == "err" and issubclass(o[1], want), (o, want)


@pytest.mark.reference
@pytest.mark.parametrize("case", [c for c in CASES if c != "fifo"])  # the reference blocks
def test_documented_errors_match_reference(impl: ModuleType, sky: Any, outcome: Outcome,
                                           specials: dict, case: str) -> None:
    """Where SkyPilot 0.14.1 does not hang, skyfast gives its value or error (EXACT)."""
    path = CASES[case](specials)
    for fn in ("hash_file", "read_last_n_lines"):
        args = (path, "sha256") if fn == "hash_file" else (path, 3)
        ours = _key(outcome(getattr(impl, fn), *args))
        ref = _key(outcome(getattr(sky.common, fn), *args))
        if case == "/proc/self/status" and fn == "hash_file":
            assert ours[0] == ref[0] == "ok" and ours[1] == ref[1]
            continue
        if ref[0] == "err" and ref[1] is AssertionError:  # 2.8: our subclass of it
            assert ours[0] == "err" and issubclass(ours[1], AssertionError), fn
            assert ours[2] == ref[2], fn
            continue
        assert ours == ref, fn
