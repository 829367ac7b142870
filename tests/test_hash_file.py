"""hash_file: docs/contract.md §2.6 vectors, bad input, Hypothesis differentials, the FIFO FIX."""

from __future__ import annotations

import errno
import hashlib
import os
import pathlib
import random
import socket
import threading
from typing import Any, List, Set, Tuple

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

BLOCK = 1 << 18  # the reference's read size: contents around it matter

ALGORITHMS = [*sorted(hashlib.algorithms_available), "SHA256", "SHA1", "MD5", "Sha3_256"]


def fingerprint(h: Any) -> Tuple[Any, ...]:
    """What callers can observe of a hash object."""
    digest = h.hexdigest(16) if h.name.startswith("shake") else h.hexdigest()
    return (type(h), h.name, h.digest_size, h.block_size, digest)


def expected(alg: str, content: bytes) -> Tuple[Any, ...]:
    return fingerprint(hashlib.new(alg, content))


def key(o: Tuple[Any, ...]) -> Tuple[Any, ...]:
    return ("ok", fingerprint(o[1])) if o[0] == "ok" else o


def write(path: pathlib.Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("hash")


# --- 1. contract §2.6 vectors --------------------------------------------------------------


@pytest.mark.parametrize("alg", ["sha256", "SHA256", "md5", "sha3_256", "blake2b", "shake_128"])
@pytest.mark.parametrize("size", [0, 1, 4095, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 11])
def test_digest_of_whole_content(impl, tmp_path, alg, size):
    content = os.urandom(size)
    path = write(tmp_path / "f", content)
    h = impl.hash_file(path, alg)
    assert fingerprint(h) == expected(alg, content)


# Both implementations read 1 MiB blocks from files of 1 MiB and more (smaller regular
# files in one read): sizes around one block and across many.
MIB = 1 << 20
LARGE = 8 * MIB


@pytest.mark.parametrize("alg", ["sha256", "md5"])
@pytest.mark.parametrize("size", [MIB - 1, MIB, MIB + 1, LARGE + 7])
def test_large_files_digest(impl, tmp_path, alg, size):
    content = random.Random(size).randbytes(size)
    path = write(tmp_path / "f", content)
    assert fingerprint(impl.hash_file(path, alg)) == expected(alg, content)


def _tasks() -> List[str]:
    return sorted(os.listdir("/proc/self/task"))


def test_large_files_leave_no_thread_or_fd(impl, tmp_path):
    path = write(tmp_path / "f", b"\x5a" * (LARGE + 3))
    want = hashlib.sha256(b"\x5a" * (LARGE + 3)).hexdigest()
    tasks, fds = _tasks(), sorted(os.listdir("/proc/self/fd"))
    for _ in range(20):
        assert impl.hash_file(path, "sha256").hexdigest() == want
    assert _tasks() == tasks
    assert sorted(os.listdir("/proc/self/fd")) == fds


def test_large_files_are_read_in_the_calling_thread(impl, tmp_path):
    """No thread appears while a large file is hashed: a sampler lists the tasks throughout."""
    path = write(tmp_path / "f", b"\x5a" * (4 * LARGE))
    base = set(_tasks())
    seen: Set[str] = set()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            seen.update(os.listdir("/proc/self/task"))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        for _ in range(3):
            impl.hash_file(path, "sha256")
    finally:
        done.set()
        sampler.join()
    assert seen - base - {str(sampler.native_id)} == set()


def test_large_file_shrinking_while_hashed(impl, tmp_path):
    """A file cut short mid-hash: the digest of what was read, never a crash or a hang."""
    content = random.Random(7).randbytes(4 * LARGE)
    path = write(tmp_path / "f", content)
    stop = threading.Event()

    def shrink() -> None:
        while not stop.is_set():
            os.truncate(path, LARGE)
            with open(path, "r+b") as f:
                f.seek(LARGE)
                f.write(content[LARGE:])

    t = threading.Thread(target=shrink)
    t.start()
    try:
        for _ in range(10):
            h = impl.hash_file(path, "sha256")
            assert h.name == "sha256" and len(h.digest()) == 32
    finally:
        stop.set()
        t.join()


@pytest.mark.parametrize("alg", ["sha256", "blake2b", "shake_128", "sha3_256"])
def test_returns_live_object(impl, tmp_path, alg):
    content = b"cluster config\n" * 100
    path = write(tmp_path / "f", content)
    h = impl.hash_file(path, alg)
    copy = h.copy()
    assert type(copy) is type(h)
    copy.update(b"more")
    assert fingerprint(copy) == expected(alg, content + b"more")
    assert fingerprint(h) == expected(alg, content)  # the copy is independent
    h.update(b"x")
    assert fingerprint(h) == expected(alg, content + b"x")
    assert h.name == hashlib.new(alg).name


def test_missing_file_wins_over_bad_algorithm(impl, tmp_path):
    missing = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError) as info:
        impl.hash_file(missing, "nope")
    assert type(info.value) is FileNotFoundError
    assert str(info.value) == f"[Errno 2] No such file or directory: '{missing}'"
    assert info.value.filename == missing


def test_unsupported_algorithm(impl, tmp_path):
    path = write(tmp_path / "f", b"x")
    with pytest.raises(ValueError) as info:
        impl.hash_file(path, "nope")
    assert type(info.value) is ValueError
    # hashlib's own message ("unsupported hash type nope"; 3.15 reworded it).
    assert str(info.value) == outcome_of(hashlib.new, "nope")[2]
    assert "nope" in str(info.value)


def test_none_algorithm_is_type_error(impl, outcome, tmp_path):
    path = write(tmp_path / "f", b"x")
    assert outcome(impl.hash_file, path, None) == outcome(hashlib.new, None)
    assert outcome(hashlib.new, None)[1] is TypeError


def test_directory_is_a_directory_error(impl, tmp_path):
    with pytest.raises(IsADirectoryError) as info:
        impl.hash_file(str(tmp_path), "sha256")
    assert str(info.value) == f"[Errno 21] Is a directory: '{tmp_path}'"


def test_follows_symlinks(impl, tmp_path):
    target = write(tmp_path / "t", b"target content")
    (tmp_path / "l").symlink_to(target)
    assert fingerprint(impl.hash_file(str(tmp_path / "l"), "sha1")) == expected(
        "sha1", b"target content"
    )


@pytest.mark.parametrize("kind", ["str", "bytes", "pathlib"])
def test_path_types(impl, tmp_path, kind):
    path = write(tmp_path / "f", b"abc")
    arg = {"str": path, "bytes": os.fsencode(path), "pathlib": pathlib.Path(path)}[kind]
    assert fingerprint(impl.hash_file(arg, "sha256")) == expected("sha256", b"abc")


def test_file_descriptor_is_read_and_closed(impl, tmp_path):
    # open() takes a descriptor and closes it, as the reference's `with open(...)` does.
    path = write(tmp_path / "f", b"via fd")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert fingerprint(impl.hash_file(fd, "md5")) == expected("md5", b"via fd")
        with pytest.raises(OSError) as info:
            os.fstat(fd)
        assert info.value.errno == 9
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


@pytest.mark.parametrize("path", ["/dev/null", "/proc/self/cmdline"])
def test_special_readable_files(impl, path):
    with open(path, "rb") as f:
        content = f.read()
    assert fingerprint(impl.hash_file(path, "sha256")) == expected("sha256", content)


def test_proc_status_hashes(impl):
    h = impl.hash_file("/proc/self/status", "sha256")
    assert type(h) is type(hashlib.sha256()) and h.name == "sha256"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(impl, tmp_path):
    path = write(tmp_path / "f", b"x")
    os.chmod(path, 0)
    with pytest.raises(PermissionError) as info:
        impl.hash_file(path, "sha256")
    assert str(info.value) == f"[Errno 13] Permission denied: '{path}'"


# --- 2. bad-input table ------------------------------------------------------------------


def _bad_inputs(tmp: pathlib.Path) -> List[Tuple[str, Any, Any]]:
    f = write(tmp / "f", b"data")
    missing = str(tmp / "missing")
    broken = tmp / "broken"
    broken.symlink_to(tmp / "absent")
    loop = tmp / "loop"
    loop.symlink_to(tmp / "loop")
    rows = []
    for p in [None, 1.5, float("nan"), -1, 2**100, "", b"", "a\0b", b"a\0b", os.fsencode(f),
              pathlib.Path(f), missing, os.fsencode(missing), str(tmp), os.fsencode(tmp),
              pathlib.Path(tmp), "/dev/null", str(broken), str(loop)]:
        rows.append((f"path={p!r}", p, "sha256"))
    for alg in [None, "", "nope", b"sha256", 1, True, 1.5, "Sha3_256", "sha256 ", "SHA256"]:
        rows.append((f"alg={alg!r}", f, alg))
        rows.append((f"missing alg={alg!r}", missing, alg))
        rows.append((f"dir alg={alg!r}", str(tmp), alg))
    return rows


def _expected_from_stdlib(path: Any, alg: Any, outcome: Any) -> Tuple[Any, ...]:
    """contract §2.6: open() first (its errors unwrapped), then hashlib.new(alg)."""

    def model() -> Any:
        with open(path, "rb") as f:
            h = hashlib.new(alg)
            h.update(f.read())
            return h

    return key(outcome(model))


def test_bad_inputs_match_stdlib(impl, outcome, tmp_path):
    failures = []
    for label, path, alg in _bad_inputs(tmp_path):
        ours = key(outcome(impl.hash_file, path, alg))
        if ours != _expected_from_stdlib(path, alg, outcome):
            failures.append((label, ours))
    assert not failures


@pytest.mark.reference
def test_bad_inputs_match_reference(impl, sky, outcome, tmp_path):
    failures = []
    for label, path, alg in _bad_inputs(tmp_path):
        ours = key(outcome(impl.hash_file, path, alg))
        ref = key(outcome(sky.common.hash_file, path, alg))
        if ours != ref:
            failures.append((label, ours, ref))
    assert not failures


# --- 3. Hypothesis -------------------------------------------------------------------------

contents = st.one_of(
    st.binary(max_size=600),
    st.tuples(
        st.binary(min_size=1, max_size=16),
        st.sampled_from([BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 5, 600_000]),
    ).map(lambda t: (t[0] * (t[1] // len(t[0]) + 1))[: t[1]]),
)
algorithms = st.sampled_from(ALGORITHMS)


@given(content=contents, alg=algorithms)
@example(content=b"", alg="shake_128")
@example(content=b"\x00" * (BLOCK + 1), alg="SHA256")
def test_matches_hashlib_and_twin(impl, py_impl, outcome, scratch, content, alg):
    path = write(scratch / "hyp", content)
    ours = key(outcome(impl.hash_file, path, alg))
    assert ours == key(outcome(hashlib.new, alg, content))
    assert ours == key(outcome(py_impl.hash_file, path, alg))


@pytest.mark.reference
@given(content=contents, alg=algorithms)
def test_matches_reference(impl, sky, outcome, scratch, content, alg):
    path = write(scratch / "hyp_ref", content)
    ours = key(outcome(impl.hash_file, path, alg))
    assert ours == key(outcome(sky.common.hash_file, path, alg))


# --- 4. FIX: FIFO and socket ---------------------------------------------------------------


def test_fifo_raises_os_error_at_once(impl, tmp_path, call_with_watchdog):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    stepped_in, result = call_with_watchdog(impl.hash_file, fifo, "sha256")
    assert not stepped_in  # it returned without a writer
    assert result[0] == "err" and type(result[1]) is OSError
    assert result[1].errno == errno.EINVAL and result[1].filename == fifo
    assert result[1].strerror == "Is a FIFO with no writer; refusing to wait for one"


@pytest.mark.reference
def test_reference_blocks_on_fifo(sky, tmp_path, reference_blocks):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    path = write(tmp_path / "f", b"abc")
    blocked, sanity = reference_blocks(sky.common.hash_file, [fifo, "sha256"], [path, "sha256"])
    assert sanity == hashlib.sha256(b"abc").hexdigest()
    assert blocked


def test_socket_raises_os_error_at_once(impl, short_dir):
    path = os.path.join(short_dir, "hf.sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(path)
        with pytest.raises(OSError):
            impl.hash_file(path, "sha256")
    os.unlink(path)


@pytest.mark.reference
def test_socket_matches_reference(impl, sky, outcome, short_dir):
    # open() of a socket fails with ENXIO at once in the reference: EXACT there.
    path = os.path.join(short_dir, "hr.sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(path)
        ours = key(outcome(impl.hash_file, path, "sha256"))
        ref = key(outcome(sky.common.hash_file, path, "sha256"))
    os.unlink(path)
    assert ref[0] == "err"
    assert ours == ref


# --- 5. Where SkyPilot really runs: short reads, leases, pipes ------------------------------
# Each compares with SkyPilot 0.14.1 on the same real file and with hashlib over its content.


def _reference_or_content(sky: Any, path: str, content: bytes) -> Tuple[Any, ...]:
    ref = key(outcome_of(sky.common.hash_file, path, "sha256"))
    assert ref == ("ok", expected("sha256", content))
    return ref


def outcome_of(fn: Any, *args: Any) -> Tuple[Any, ...]:
    try:
        return ("ok", fn(*args))
    except Exception as e:  # the exception is the result
        return ("err", type(e), str(e))


@pytest.mark.parametrize("path", ["/proc/crypto", "/proc/self/mountinfo"])
def test_procfs_file_is_hashed_whole(impl, sky, path):
    # procfs seq files report st_size 0 and return about a page per read(): /proc/crypto
    # is several pages everywhere, a pod's mountinfo often is.
    with open(path, "rb") as f:
        content = f.read()
    assert len(content) > 4096 or path != "/proc/crypto"
    ours = key(outcome_of(impl.hash_file, path, "sha256"))
    assert ours == _reference_or_content(sky, path, content)


@pytest.mark.parametrize("st_size", ["true", "zero"])
def test_fuse_short_reads_are_not_the_end(impl, sky, st_size):
    from _fuse import mounted_short_read_files

    rng = random.Random(7)
    files = {
        "small": rng.randbytes(10_007),
        "one_read": rng.randbytes(999),
        "large": rng.randbytes(9 << 20),  # many 1 MiB reads
        "empty": b"",
    }
    with mounted_short_read_files(files, max_read=1000 if st_size == "zero" else 4000,
                                  st_size=st_size) as mnt:
        for name, content in files.items():
            path = os.path.join(mnt, name)
            assert os.stat(path).st_size == (len(content) if st_size == "true" else 0)
            ours = key(outcome_of(impl.hash_file, path, "sha256"))
            assert ours == _reference_or_content(sky, path, content), name


def test_write_lease_is_waited_for(impl, sky, tmp_path):
    from _special_files import lease_unavailable_reason, write_lease

    reason = lease_unavailable_reason(str(tmp_path))
    if reason:
        pytest.skip(reason)
    content = b"leased\n" * 1000
    path = write(tmp_path / "leased", content)
    for fn in (impl.hash_file, sky.common.hash_file):
        with write_lease(path) as lease:
            # Opening breaks the lease; the call waits until the holder lets go.
            result = key(outcome_of(fn, path, "sha256"))
            assert lease.was_broken()
        assert result == ("ok", expected("sha256", content))


@pytest.mark.parametrize("before_open", [True, False], ids=["data-first", "writer-idle"])
def test_fifo_with_a_writer_is_hashed_like_the_reference(impl, sky, tmp_path, before_open):
    from _special_files import call_while_fed

    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    content = os.urandom(100_000)  # more than a pipe buffer holds at once
    for fn in (impl.hash_file, sky.common.hash_file):
        got = call_while_fed(fn, fifo, "sha256", data=content[:60_000], before_open=before_open)
        assert got[0] == "ok", got
        assert fingerprint(got[1]) == expected("sha256", content[:60_000])


@pytest.mark.parametrize("content", [b"", b"x\n", os.urandom(50_000)], ids=["empty", "line", "50k"])
def test_anonymous_pipe_by_path_matches_reference(impl, sky, content):
    # /dev/stdin under `echo x |`, `<(cmd)`: the writer has gone, the data stays.
    from _special_files import anonymous_pipe

    results = []
    for fn in (impl.hash_file, sky.common.hash_file):
        with anonymous_pipe(content) as path:
            results.append(key(outcome_of(fn, path, "sha256")))
    assert results[0] == results[1] == ("ok", expected("sha256", content))


def test_pipe_descriptor_matches_reference(impl, sky):
    # An int is a descriptor: read to its end and closed, as open(fd) does.
    results = []
    for fn in (impl.hash_file, sky.common.hash_file):
        r, w = os.pipe()
        os.write(w, b"piped")
        os.close(w)
        results.append(key(outcome_of(fn, r, "md5")))
        with pytest.raises(OSError):
            os.fstat(r)  # closed by the call
    assert results[0] == results[1] == ("ok", expected("md5", b"piped"))
