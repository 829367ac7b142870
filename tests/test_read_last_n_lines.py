"""read_last_n_lines: docs/contract.md §2.8 vectors, bad input, Hypothesis differentials, FIXes."""

from __future__ import annotations

import io
import json
import os
import pathlib
import socket
import subprocess
import sys
from typing import Any, List, Tuple

import pytest
from _guards import HANG_GUARD
from hypothesis import example, given
from hypothesis import strategies as st

import skyfast

# --- helpers -------------------------------------------------------------------------


def spec_last_lines(content: bytes, n: int, encoding: str = "utf-8", errors: str = "replace"):
    """contract §2.8 item 3, written out directly: the oracle for every generated case."""
    if n == 0 or not content:
        return []
    pieces = content.split(b"\n")
    if content.endswith(b"\n"):
        pieces = pieces[:-1]
    lines = [p.decode(encoding, errors).rstrip("\r") + "\n" for p in pieces[-n:]]
    lines[-1] = lines[-1][:-1]
    return lines


def same_as_reference(ours: Tuple[Any, ...], ref: Tuple[Any, ...]) -> bool:
    """Outcomes equal; our not-found error may be the AssertionError subclass of contract §2.8."""
    if ours[0] == ref[0] == "err" and ref[1] is AssertionError:
        return issubclass(ours[1], AssertionError) and ours[2] == ref[2]
    return ours == ref


def write(path: pathlib.Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def check_types(result: Any) -> None:
    assert type(result) is list
    assert all(type(line) is str for line in result)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("rlnl")


# --- 1. contract §2.8 vectors ------------------------------------------------------------

VECTORS = [
    (b"\n", 1, [""]),
    (b"\n", 2, [""]),
    (b"\n\n", 1, [""]),
    (b"\n\n", 2, ["\n", ""]),
    (b"a\nb\n", 1, ["b"]),
    (b"a\nb\n", 2, ["a\n", "b"]),
    (b"a\r\nb", 1, ["b"]),
    (b"a\r\nb", 2, ["a\n", "b"]),
    (b"a\rb\rc", 1, ["a\rb\rc"]),
    (b"x\r\r\n", 1, ["x"]),
    (b"\n\na\n\n", 3, ["\n", "a\n", ""]),
    (b"\xff\xfe bad\nok\n", 2, ["\ufffd\ufffd bad\n", "ok"]),
    (b"", 1, []),
    (b"", 5, []),
    (b"a\nb\n", 0, []),
    ("a\x0bb\u2028c\x85d".encode(), 1, ["a\x0bb\u2028c\x85d"]),
]


@pytest.mark.parametrize(("content", "n", "expected"), VECTORS)
@pytest.mark.parametrize("chunk_size", [1, 2, 3, 8192])
def test_spec_vectors(impl, tmp_path, content, n, expected, chunk_size):
    path = write(tmp_path / "f", content)
    result = impl.read_last_n_lines(path, n, chunk_size=chunk_size)
    check_types(result)
    assert result == expected


@pytest.mark.parametrize(
    ("n", "chunk_size", "message"),
    [
        (-1, 8192, "n must be non-negative. Got -1"),
        (-1, 0, "n must be non-negative. Got -1"),
        (1, 0, "chunk_size must be positive. Got 0"),
        (1, -5, "chunk_size must be positive. Got -5"),
    ],
)
def test_argument_assertions(impl, tmp_path, n, chunk_size, message):
    # The checks come before the existence check: a missing path still gets them.
    for path in (write(tmp_path / "f", b"a\n"), str(tmp_path / "missing")):
        with pytest.raises(AssertionError) as info:
            impl.read_last_n_lines(path, n, chunk_size=chunk_size)
        assert type(info.value) is AssertionError
        assert str(info.value) == message


# --- 5. error classes ------------------------------------------------------------------


def test_not_found_is_assertion_and_file_not_found(impl, tmp_path):
    missing = str(tmp_path / "nope.log")
    with pytest.raises(AssertionError) as info:
        impl.read_last_n_lines(missing, 1)
    assert str(info.value) == f"File not found: {missing}"
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, skyfast.FileNotFoundAssertionError)
    # ... and it can be caught as either.
    with pytest.raises(FileNotFoundError):
        impl.read_last_n_lines(missing, 3)


@pytest.mark.parametrize("kind", ["broken", "loop"])
def test_bad_symlink_is_not_found(impl, tmp_path, kind):
    link = tmp_path / "link"
    if kind == "broken":
        link.symlink_to(tmp_path / "absent")
    else:
        link.symlink_to(tmp_path / "link2")
        (tmp_path / "link2").symlink_to(link)
    with pytest.raises(FileNotFoundError) as info:
        impl.read_last_n_lines(str(link), 1)
    assert isinstance(info.value, AssertionError)
    assert str(info.value) == f"File not found: {link}"


def test_symlink_to_file_is_followed(impl, tmp_path):
    target = write(tmp_path / "t", b"one\ntwo\n")
    (tmp_path / "l").symlink_to(target)
    assert impl.read_last_n_lines(str(tmp_path / "l"), 2) == ["one\n", "two"]


def test_directory_is_runtime_error(impl, tmp_path):
    d = str(tmp_path)
    with pytest.raises(RuntimeError) as info:
        impl.read_last_n_lines(d, 1)
    assert type(info.value) is RuntimeError
    assert str(info.value) == (
        f"Failed to read last 1 lines from {d}: [Errno 21] Is a directory: '{d}'"
    )
    assert isinstance(info.value.__cause__, IsADirectoryError)


def test_directory_with_n_zero_is_not_opened(impl, tmp_path):
    assert impl.read_last_n_lines(str(tmp_path), 0) == []


def test_proc_file_is_runtime_error(impl):
    with pytest.raises(RuntimeError) as info:
        impl.read_last_n_lines("/proc/self/status", 4)
    assert str(info.value) == (
        "Failed to read last 4 lines from /proc/self/status: [Errno 22] Invalid argument"
    )
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == 22


def test_dev_null_is_empty(impl):
    assert impl.read_last_n_lines("/dev/null", 3) == []


def test_unicode_decode_error_is_not_wrapped(impl, tmp_path):
    path = write(tmp_path / "f", b"ok\nbad \xff here\n")
    with pytest.raises(UnicodeDecodeError) as info:
        impl.read_last_n_lines(path, 1, errors="strict")
    with pytest.raises(UnicodeDecodeError) as expected:
        b"bad \xff here".decode("utf-8", "strict")
    assert str(info.value) == str(expected.value)
    # A decode error in a line that is not returned does not matter.
    path = write(tmp_path / "g", b"bad \xff\nok\n")
    assert impl.read_last_n_lines(path, 1, errors="strict") == ["ok"]


def test_unknown_encoding_is_not_wrapped(impl, tmp_path):
    path = write(tmp_path / "f", b"a\nb\n")
    with pytest.raises(LookupError) as info:
        impl.read_last_n_lines(path, 1, encoding="no-such-codec")
    assert type(info.value) is LookupError
    assert str(info.value) == "unknown encoding: no-such-codec"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_runtime_error(impl, tmp_path):
    path = write(tmp_path / "f", b"a\n")
    os.chmod(path, 0)
    with pytest.raises(RuntimeError) as info:
        impl.read_last_n_lines(path, 1)
    assert str(info.value) == (
        f"Failed to read last 1 lines from {path}: [Errno 13] Permission denied: '{path}'"
    )


@pytest.mark.parametrize("kind", ["str", "bytes", "pathlib"])
def test_path_types(impl, tmp_path, kind):
    path = write(tmp_path / "f", b"x\ny\nz")
    arg = {"str": path, "bytes": os.fsencode(path), "pathlib": pathlib.Path(path)}[kind]
    assert impl.read_last_n_lines(arg, 2) == ["y\n", "z"]


# --- 2. bad-input table, live against the reference -----------------------------------


def _bad_inputs(tmp: pathlib.Path) -> List[Tuple[str, tuple, dict]]:
    f = write(tmp / "f", b"a\nb\nc\n")
    empty = write(tmp / "empty", b"")
    tiny = write(tmp / "tiny", b"z")
    broken = tmp / "broken"
    broken.symlink_to(tmp / "absent")
    loop = tmp / "loop"
    loop.symlink_to(tmp / "loop")
    d = str(tmp)
    rows = []
    for n in [None, True, False, 1.5, 2.0, float("nan"), float("inf"), -1, -(10**30),
              10**30, 2**63, "1"]:
        rows.append((f"n={n!r}", (f, n), {}))
        rows.append((f"n={n!r} empty", (empty, n), {}))
    for cs in [None, True, 1.5, 2.0, float("nan"), float("inf"), 0, -1, 10**30, "8"]:
        rows.append((f"chunk_size={cs!r}", (f, 2), {"chunk_size": cs}))
        rows.append((f"chunk_size={cs!r} tiny", (tiny, 1), {"chunk_size": cs}))
    for p in [None, 1.5, float("nan"), "", "a\0b", b"", os.fsencode(f), pathlib.Path(f),
              str(tmp / "missing"), os.fsencode(tmp / "missing"), d, os.fsencode(d),
              pathlib.Path(d), "/dev/null", "/dev/zero", "/proc/self/status",
              str(broken), str(loop)]:
        rows.append((f"path={p!r}", (p, 1), {}))
    rows += [
        ("encoding=None", (f, 1), {"encoding": None}),
        ("encoding=nope", (f, 1), {"encoding": "nope"}),
        ("errors=nope valid", (f, 1), {"errors": "nope"}),
        ("errors=nope invalid", (write(tmp / "inv", b"\xff\n"), 1), {"errors": "nope"}),
        ("errors=None", (f, 1), {"errors": None}),
        ("utf-16 strict", (f, 2), {"encoding": "utf-16", "errors": "strict"}),
    ]
    return rows


@pytest.mark.reference
def test_bad_inputs_match_reference(impl, sky, outcome, tmp_path):
    ref_fn = sky.common.read_last_n_lines
    failures = []
    for label, args, kwargs in _bad_inputs(tmp_path):
        ours = outcome(impl.read_last_n_lines, *args, **kwargs)
        ref = outcome(ref_fn, *args, **kwargs)
        if not same_as_reference(ours, ref):
            failures.append((label, ours, ref))
    assert not failures


# --- 3. Hypothesis: differential and oracle ---------------------------------------------

ATOMS = [
    b"\n", b"\n", b"\n", b"\r", b"\r\n", b"\r\r\n", b"\xff", b"\xfe",
    b"\xe2\x82",  # truncated euro sign
    "\u20ac".encode(), "\U0001f600".encode(), b"\xf0\x9f\x98",  # truncated emoji
    "\xe9".encode(), b"a", b"xyz", b"\x00", b"\x0b", "\u2028".encode(), b" ",
]

contents = st.one_of(
    st.binary(max_size=120),
    st.lists(
        st.one_of(
            st.sampled_from(ATOMS),
            st.binary(max_size=4),
            st.integers(21, 90).map(lambda k: b"L" * k),  # longer than any chunk_size here
        ),
        max_size=50,
    ).map(b"".join),
)
ns = st.integers(0, 30)
chunk_sizes = st.integers(1, 20)
encodings = st.sampled_from(["utf-8", "latin-1", "utf-16", "ascii"])
error_modes = st.sampled_from(["replace", "ignore", "strict", "surrogateescape"])


def _outcome_key(o: Tuple[Any, ...]) -> Tuple[Any, ...]:
    # Result lists compare by value; also pin the element types.
    if o[0] == "ok":
        return ("ok", type(o[1]), [(type(x), x) for x in o[1]])
    return o


@given(content=contents, n=ns, chunk_size=chunk_sizes, encoding=encodings, errors=error_modes)
@example(content="\u20ac".encode() * 5 + b"\n" + "\u20ac".encode() * 7, n=2, chunk_size=4,
         encoding="utf-8", errors="strict")
@example(content=b"\r\n" * 9, n=30, chunk_size=1, encoding="utf-16", errors="strict")
@example(content=b"L" * 50 + b"\n", n=1, chunk_size=7, encoding="utf-8", errors="replace")
def test_matches_spec_and_twin(impl, py_impl, outcome, scratch, content, n, chunk_size,
                               encoding, errors):
    path = write(scratch / "hyp", content)
    ours = outcome(impl.read_last_n_lines, path, n, chunk_size, encoding, errors)
    oracle = outcome(spec_last_lines, content, n, encoding, errors)
    assert _outcome_key(ours) == _outcome_key(oracle)
    twin = outcome(py_impl.read_last_n_lines, path, n, chunk_size, encoding, errors)
    assert _outcome_key(ours) == _outcome_key(twin)
    # Independent of chunk_size.
    for other in (1, 8192):
        again = outcome(impl.read_last_n_lines, path, n, other, encoding, errors)
        assert _outcome_key(again) == _outcome_key(ours)


@pytest.mark.reference
@given(content=contents, n=ns, chunk_size=chunk_sizes, encoding=encodings, errors=error_modes)
@example(content=b"\xe2\x82\xac\n\xe2\x82\xac", n=1, chunk_size=2, encoding="utf-8",
         errors="strict")
def test_matches_reference(impl, sky, outcome, scratch, content, n, chunk_size, encoding,
                           errors):
    path = write(scratch / "hyp_ref", content)
    ours = outcome(impl.read_last_n_lines, path, n, chunk_size, encoding, errors)
    ref = outcome(sky.common.read_last_n_lines, path, n, chunk_size, encoding, errors)
    assert _outcome_key(ours) == _outcome_key(ref)


# Block boundaries of a backwards scan (8 KiB doubling to 1 MiB): put a multibyte
# character and a newline right across them.
EURO = "\u20ac".encode()


def _boundary_contents() -> List[Tuple[str, bytes]]:
    rows = []
    for boundary in (8192, 8192 * 3, 8192 * 7, 1 << 20):
        for shift in (-2, -1, 0, 1):
            tail = b"t" * (boundary - shift - 2)
            rows.append((f"euro@{boundary}{shift:+d}", b"first\nsecond " + EURO + tail + b"\nend"))
            rows.append((f"nl@{boundary}{shift:+d}", b"a\n" + b"b" * 5 + b"\n" + tail + b"\n"))
    rows.append(("3MiB line", b"head\n" + b"q" * (3 << 20) + EURO + b"w" * 1000 + b"\nlast\n"))
    return rows


@pytest.mark.parametrize(("label", "content"), _boundary_contents(), ids=lambda v: str(v)[:20])
def test_block_boundaries(impl, tmp_path, label, content):
    path = write(tmp_path / "big", content)
    for n in (1, 2, 3):
        expected = spec_last_lines(content, n, "utf-8", "strict")
        for chunk_size in (7, 4096, 8192):
            assert impl.read_last_n_lines(path, n, chunk_size, errors="strict") == expected


@pytest.mark.reference
def test_block_boundaries_reference(impl, sky, tmp_path):
    for label, content in _boundary_contents()[::3]:
        path = write(tmp_path / "big", content)
        for n in (1, 3):
            ours = impl.read_last_n_lines(path, n, 4096, errors="strict")
            assert ours == sky.common.read_last_n_lines(path, n, 4096, errors="strict"), label


# --- 4. FIXes ---------------------------------------------------------------------------

_O_SCRIPT = r"""
import importlib, json, sys
path, missing = sys.argv[2], sys.argv[3]
out = {"optimize": sys.flags.optimize}
for name in sys.argv[1].split(","):
    m = importlib.import_module(name)
    rows = []
    for args in [(path, -1), (path, 1, 0), (path, -1, 0), (missing, 1), (path, 1, -3)]:
        try:
            rows.append(["ok", m.read_last_n_lines(*args)])
        except BaseException as e:
            rows.append([isinstance(e, AssertionError), isinstance(e, FileNotFoundError), str(e)])
    out[name] = rows
print(json.dumps(out))
"""


def test_assertions_hold_under_python_O(tmp_path, child_env, core_built):
    path = write(tmp_path / "f", b"a\nb\n")
    missing = str(tmp_path / "missing")
    modules = ["skyfast._core_py"] + (["skyfast._core"] if core_built else [])
    proc = subprocess.run(
        [sys.executable, "-O", "-c", _O_SCRIPT, ",".join(modules), path, missing],
        env=child_env, capture_output=True, text=True, timeout=HANG_GUARD, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["optimize"] == 1
    expected = [
        [True, False, "n must be non-negative. Got -1"],
        [True, False, "chunk_size must be positive. Got 0"],
        [True, False, "n must be non-negative. Got -1"],
        [True, True, f"File not found: {missing}"],
        [True, False, "chunk_size must be positive. Got -3"],
    ]
    for name in modules:
        assert out[name] == expected, name


@pytest.mark.reference
def test_reference_hangs_on_chunk_size_zero_under_O(sky, tmp_path, reference_blocks):
    path = write(tmp_path / "f", b"a\nb\n")
    blocked, sanity = reference_blocks(sky.common.read_last_n_lines, [path, 1, 0], [path, 2],
                                       optimize=True, seconds=3)
    assert sanity == ["a\n", "b"]  # the reference works in the child, under -O ...
    assert blocked  # ... and loops forever on chunk_size=0 there


def test_fifo_raises_runtime_error_at_once(impl, tmp_path, call_with_watchdog):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    stepped_in, result = call_with_watchdog(impl.read_last_n_lines, fifo, 1)
    assert not stepped_in  # it returned without a writer
    assert result[0] == "err"
    e = result[1]
    # What the reference says once a writer comes: a FIFO cannot seek.
    assert type(e) is RuntimeError
    assert str(e) == f"Failed to read last 1 lines from {fifo}: File or stream is not seekable."
    assert type(e.__cause__) is io.UnsupportedOperation
    # n == 0 never opens the file (as in the reference).
    assert impl.read_last_n_lines(fifo, 0) == []


@pytest.mark.reference
def test_reference_blocks_on_fifo(sky, tmp_path, reference_blocks):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    path = write(tmp_path / "f", b"a\nb\n")
    blocked, sanity = reference_blocks(sky.common.read_last_n_lines, [fifo, 1], [path, 1])
    assert sanity == ["b"]
    assert blocked


def test_socket_raises_runtime_error_at_once(impl, short_dir):
    path = os.path.join(short_dir, "rl.sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(path)
        with pytest.raises(RuntimeError) as info:
            impl.read_last_n_lines(path, 1)
    os.unlink(path)
    assert str(info.value).startswith(f"Failed to read last 1 lines from {path}: [Errno ")
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.reference
def test_socket_matches_reference(impl, sky, outcome, short_dir):
    # open() of a socket fails with ENXIO at once in the reference too: EXACT.
    path = os.path.join(short_dir, "rr.sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(path)
        ours = outcome(impl.read_last_n_lines, path, 2)
        ref = outcome(sky.common.read_last_n_lines, path, 2)
    os.unlink(path)
    assert ref[0] == "err"
    assert ours == ref


# --- 7. Where SkyPilot really runs: sysfs, short reads, leases, pipes, ttys ------------------
# Each compares with SkyPilot 0.14.1 on the same real file.


def _sysfs_attributes() -> List[str]:
    """Real sysfs attributes: lseek() says 4096, the content is a few bytes."""
    paths = ["/sys/devices/system/cpu/online", "/sys/devices/system/cpu/possible",
             "/sys/kernel/mm/transparent_hugepage/enabled", "/sys/fs/cgroup/cgroup.controllers"]
    return [p for p in paths if os.path.isfile(p) and os.stat(p).st_size > 0]


class Count(int):
    """An int subclass: the compiled core hands it to the twin."""


class Encoding(str):
    """A str subclass: the compiled core hands it to the twin."""


@pytest.mark.parametrize("n", [1, 2, 5, True, Count(1), Count(3)], ids=repr)
def test_sysfs_attribute_matches_reference(impl, sky, outcome, n):
    paths = _sysfs_attributes()
    assert paths, "no sysfs attribute to read"
    for path in paths:
        with open(path, "rb") as f:
            content = f.read()
        assert os.stat(path).st_size > len(content)  # the point of the test
        for encoding in ("utf-8", Encoding("utf-8")):
            ours = outcome(impl.read_last_n_lines, path, n, encoding=encoding)
            assert ours == outcome(sky.common.read_last_n_lines, path, n, encoding=encoding)
            assert ours == ("ok", spec_last_lines(content, n)), path


def test_empty_sysfs_attribute_is_reference_index_error(impl, sky, outcome):
    # SkyPilot indexes an empty list of lines when a file announces bytes but has none.
    import glob

    empty = [p for p in glob.glob("/sys/kernel/slab/*/ctor")[:20]
             if os.stat(p).st_size > 0 and not pathlib.Path(p).read_bytes()]
    if not empty:
        pytest.skip("no empty sysfs attribute found here (/sys/kernel/slab/*/ctor)")
    ref = outcome(sky.common.read_last_n_lines, empty[0], 1)
    assert ref == ("err", IndexError, "list index out of range")
    assert outcome(impl.read_last_n_lines, empty[0], 1) == ref
    assert outcome(impl.read_last_n_lines, empty[0], 0) == ("ok", [])


def test_file_truncated_to_empty_meanwhile_is_empty(py_impl, tmp_path, monkeypatch):
    # A regular file that turns out empty because it was truncated between lseek() and
    # the read is simply empty: the answer of a call made just after.  (The race is
    # staged through the twin's pread; the reliability suite races the compiled core.)
    impl = py_impl
    path = write(tmp_path / "log", b"a\nb\n")
    real_pread = impl._pread_all

    def truncating_pread(fd, start, stop):
        os.truncate(path, 0)
        return real_pread(fd, start, stop)

    monkeypatch.setattr(impl, "_pread_all", truncating_pread)
    assert impl.read_last_n_lines(path, 1) == []


@pytest.mark.parametrize("st_size", ["true", "zero"])
def test_fuse_short_reads_match_reference(impl, sky, outcome, st_size):
    from _fuse import mounted_short_read_files

    files = {
        "log": b"".join(b"line %d\r\n" % i for i in range(3000)),
        "no_newline": b"x" * 5000 + b"\n" + b"tail" * 100,
        "newlines": b"\n" * 2500,
    }
    with mounted_short_read_files(files, max_read=1000, st_size=st_size) as mnt:
        for name, content in files.items():
            path = os.path.join(mnt, name)
            for n in (1, 2, 700, 5000):
                ours = outcome(impl.read_last_n_lines, path, n, 100)
                assert ours == outcome(sky.common.read_last_n_lines, path, n, 100), (name, n)
                # st_size 0 (as procfs reports): SkyPilot sees an empty file.
                want = spec_last_lines(content, n) if st_size == "true" else []
                assert ours == ("ok", want), (name, n)


def test_write_lease_is_waited_for(impl, sky, outcome, tmp_path):
    from _special_files import lease_unavailable_reason, write_lease

    reason = lease_unavailable_reason(str(tmp_path))
    if reason:
        pytest.skip(reason)
    path = write(tmp_path / "leased.log", b"one\ntwo\nthree\n")
    for fn in (impl.read_last_n_lines, sky.common.read_last_n_lines):
        with write_lease(path) as lease:
            # Opening breaks the lease; the call waits until the holder lets go.
            result = outcome(fn, path, 2)
            assert lease.was_broken()
        assert result == ("ok", ["two\n", "three"])


def _not_seekable(path: Any, n: int = 1) -> Tuple[Any, ...]:
    return ("err", RuntimeError,
            f"Failed to read last {n} lines from {path}: File or stream is not seekable.")


@pytest.mark.parametrize("keep_writer", [False, True], ids=["writer-gone", "writer-open"])
def test_anonymous_pipe_is_not_seekable_as_in_reference(impl, sky, outcome, keep_writer):
    from _special_files import anonymous_pipe

    with anonymous_pipe(b"a\nb\n", keep_writer=keep_writer) as path:
        ours = outcome(impl.read_last_n_lines, path, 1)
        assert ours == outcome(sky.common.read_last_n_lines, path, 1) == _not_seekable(path)


def test_pipe_descriptor_is_not_seekable_as_in_reference(impl, sky, outcome):
    results = []
    for fn in (impl.read_last_n_lines, sky.common.read_last_n_lines):
        r, w = os.pipe()
        os.write(w, b"a\nb\n")
        results.append(outcome(fn, r, 1))
        os.close(w)
        with pytest.raises(OSError):
            os.fstat(r)  # closed by the call, as open(fd) does
    assert results[0] == results[1]
    assert results[0][:2] == ("err", RuntimeError)
    assert results[0][2].endswith(": File or stream is not seekable.")


def test_fifo_with_a_writer_is_not_seekable_as_in_reference(impl, sky, tmp_path):
    from _special_files import call_while_fed

    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    for fn in (impl.read_last_n_lines, sky.common.read_last_n_lines):
        got = call_while_fed(fn, fifo, 2, data=b"a\nb\n", before_open=True)
        assert got[0] == "err" and type(got[1]) is RuntimeError
        assert str(got[1]) == _not_seekable(fifo, 2)[2]


def test_tty_is_not_seekable_as_in_reference(impl, sky, outcome):
    from _special_files import pty_path

    with pty_path() as path:
        ours = outcome(impl.read_last_n_lines, path, 1)
        assert ours == outcome(sky.common.read_last_n_lines, path, 1) == _not_seekable(path)


class RaisingPath:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def __fspath__(self) -> str:
        raise self.exc


@pytest.mark.parametrize("args", [
    # The argument checks come first, as in SkyPilot: before the encoding and the path.
    ("{path}", -1, 8192, "\udcff"),
    ("{path}", 1, 0, "\udcff"),
    ("{path}", 1, 8192, "\udcff"),       # a surrogate fails when SkyPilot decodes
    ("{path}", 1, 8192, "utf-8", "\udcff"),
    (RaisingPath(ValueError("bad")), -1),
    (RaisingPath(ValueError("bad")), 1),  # os.path.exists() says False: "File not found"
    (RaisingPath(RuntimeError("boom")), 1),
    (RaisingPath(RuntimeError("boom")), 0),
], ids=repr)
def test_argument_order_matches_reference(impl, sky, outcome, tmp_path, args):
    path = write(tmp_path / "f", b"a\nb\n")
    args = tuple(path if a == "{path}" else a for a in args)
    ours = outcome(impl.read_last_n_lines, *args)
    assert same_as_reference(ours, outcome(sky.common.read_last_n_lines, *args)), ours
