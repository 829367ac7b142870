"""estimate_fd_for_dir (NEW, docs/contract.md §2.10): 5 * len(os.listdir(path)), its errors."""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile
import warnings
from typing import Any, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st


def listdir_outcome(path: Any) -> Tuple[Any, ...]:
    """The contract's definition, in terms of os.listdir."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return ("ok", 5 * len(os.listdir(path)))
    except Exception as e:  # the exception is the result
        return ("err", e)


def error_fields(e: BaseException) -> Tuple[Any, ...]:
    return (type(e), getattr(e, "errno", None), getattr(e, "filename", None), str(e))


def assert_same_as_listdir(fn: Any, path: Any) -> None:
    expected = listdir_outcome(path)
    try:
        got = ("ok", fn(path))
    except Exception as e:  # the exception is the result
        got = ("err", e)
    if expected[0] == "ok":
        assert got == expected
        assert type(got[1]) is int
    else:
        assert got[0] == "err", got
        ours, ref = got[1], expected[1]
        assert type(ours) is type(ref)
        if isinstance(ref, OSError):
            assert error_fields(ours) == error_fields(ref)
        # TypeError texts name the os function ('listdir: path should be ...'); contract
        # §2.10 pins class, errno and filename, so only the class is compared there.


# --- 1. vectors ------------------------------------------------------------------------------


def make_tree(root: pathlib.Path, names: list) -> None:
    for name in names:
        (root / name).write_bytes(b"")


@pytest.mark.parametrize(
    ("names", "expected"),
    [([], 0), (["a"], 5), (["a", "b", "c"], 15), ([".hidden", "x"], 10),
     ([f"f{i}" for i in range(200)], 1000)],
)
def test_vectors(impl, tmp_path, names, expected):
    make_tree(tmp_path, names)
    result = impl.estimate_fd_for_dir(str(tmp_path))
    assert type(result) is int
    assert result == expected


def test_top_level_only_and_every_kind_counts(impl, tmp_path):
    (tmp_path / "sub" / "deep").mkdir(parents=True)
    (tmp_path / "sub" / "deep" / "f").write_bytes(b"")
    (tmp_path / "file").write_bytes(b"x")
    (tmp_path / "link_dir").symlink_to(tmp_path / "sub")
    (tmp_path / "broken").symlink_to(tmp_path / "nothing")
    os.mkfifo(tmp_path / "fifo")
    assert impl.estimate_fd_for_dir(str(tmp_path)) == 25


def test_symlink_as_path_is_followed(impl, tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    make_tree(target, ["a", "b"])
    (tmp_path / "link").symlink_to(target)
    assert impl.estimate_fd_for_dir(str(tmp_path / "link")) == 10


@pytest.mark.parametrize("kind", ["str", "bytes", "pathlib", "bytes-pathlike"])
def test_path_types(impl, tmp_path, kind):
    make_tree(tmp_path, ["a", "b", "c"])

    class BytesPath:
        def __fspath__(self) -> bytes:
            return os.fsencode(tmp_path)

    arg = {"str": str(tmp_path), "bytes": os.fsencode(tmp_path),
           "pathlib": tmp_path, "bytes-pathlike": BytesPath()}[kind]
    assert impl.estimate_fd_for_dir(arg) == 15


def test_directory_fd_is_counted_and_left_open(impl, tmp_path):
    make_tree(tmp_path, ["a", "b"])
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert_same_as_listdir(impl.estimate_fd_for_dir, fd)
        assert impl.estimate_fd_for_dir(fd) == 10
        os.fstat(fd)  # still open: os.listdir(fd) does not close it either
        assert impl.estimate_fd_for_dir(fd) == 10  # and not left at the end
    finally:
        os.close(fd)


# --- 2. errors: exactly os.listdir's ---------------------------------------------------------


def test_missing_path(impl, tmp_path):
    missing = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError) as info:
        impl.estimate_fd_for_dir(missing)
    assert info.value.errno == 2
    assert info.value.filename == missing
    assert str(info.value) == f"[Errno 2] No such file or directory: '{missing}'"
    assert_same_as_listdir(impl.estimate_fd_for_dir, missing)


def test_regular_file(impl, tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"x")
    with pytest.raises(NotADirectoryError) as info:
        impl.estimate_fd_for_dir(str(f))
    assert str(info.value) == f"[Errno 20] Not a directory: '{f}'"
    assert_same_as_listdir(impl.estimate_fd_for_dir, str(f))
    assert_same_as_listdir(impl.estimate_fd_for_dir, os.fsencode(f))


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists any directory")
def test_unreadable_directory(impl, tmp_path):
    d = tmp_path / "locked"
    d.mkdir()
    d.chmod(0)
    try:
        assert_same_as_listdir(impl.estimate_fd_for_dir, str(d))
        with pytest.raises(PermissionError):
            impl.estimate_fd_for_dir(str(d))
    finally:
        d.chmod(0o700)


def test_bad_inputs(impl, tmp_path, monkeypatch):
    make_tree(tmp_path, ["a", ".b"])
    monkeypatch.chdir(tmp_path)  # None and '.' list the working directory
    broken = tmp_path / "broken"
    broken.symlink_to(tmp_path / "nothing")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for path in [None, ".", "", b"", "a\0b", b"a\0b", 1.5, float("nan"), 2**100, -(2**100),
                 [], str(broken), str(loop), "/dev/null", "/proc/self/status",
                 "/proc/self/fd", str(tmp_path / "a" / "x")]:
        assert_same_as_listdir(impl.estimate_fd_for_dir, path)


# --- 3. Hypothesis: generated trees ----------------------------------------------------------

names = st.text(
    alphabet=st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)),
    min_size=1, max_size=12,
).filter(lambda s: s not in (".", ".."))
entries = st.lists(
    st.tuples(st.one_of(names, names.map(lambda s: "." + s[:11])),
              st.sampled_from(["file", "dir", "link_dir", "broken", "hidden_dir"])),
    max_size=30, unique_by=lambda t: t[0],
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("estfd")


@given(tree=entries, kind=st.sampled_from(["str", "bytes", "pathlib"]))
def test_generated_trees(impl, py_impl, scratch, tree, kind):
    root = pathlib.Path(tempfile.mkdtemp(dir=scratch))
    for name, what in tree:
        p = root / name
        try:
            if what == "file":
                p.write_bytes(b"x")
            elif what in ("dir", "hidden_dir"):
                p.mkdir()
                (p / "inner").write_bytes(b"")
            elif what == "link_dir":
                p.symlink_to(scratch)
            else:
                p.symlink_to(root / "does-not-exist")
        except OSError:  # a name the file system refuses (too long in bytes)
            continue
    arg = {"str": str(root), "bytes": os.fsencode(root), "pathlib": root}[kind]
    result = impl.estimate_fd_for_dir(arg)
    assert result == 5 * len(os.listdir(root))
    assert result == py_impl.estimate_fd_for_dir(arg)


class _NulBytesPath:
    """A path-like object whose __fspath__ gives bytes with an embedded NUL."""

    def __fspath__(self) -> bytes:
        return b"a\x00b"

    def __repr__(self) -> str:  # a stable test id
        return "_NulBytesPath()"


LISTDIR_NUL = "listdir: embedded null character in path"
SURROGATE = "'utf-8' codec can't encode character '\\ud800' in position 0: surrogates not allowed"


@pytest.mark.parametrize(
    ("path", "exc", "message"),
    [
        (b"a\x00b", ValueError, LISTDIR_NUL),
        (_NulBytesPath(), ValueError, LISTDIR_NUL),
        (b"\xff\x00", ValueError, LISTDIR_NUL),
        ("a\x00b", ValueError, "embedded null byte"),
        (pathlib.Path("a\x00b"), ValueError, "embedded null byte"),
        ("\x00", ValueError, "embedded null byte"),
        ("\ud800", UnicodeEncodeError, SURROGATE),
        (pathlib.Path("\ud800"), UnicodeEncodeError, SURROGATE),
        ("\ud800\x00", UnicodeEncodeError, SURROGATE),
    ],
    ids=repr,
)
def test_nul_and_unencodable_paths_raise_listdir_error(impl, path, exc, message):
    """Embedded NUL, unencodable str: exactly os.listdir's ValueError, class and text.

    SkyPilot counts a directory with len(os.listdir(src)) * 5, so its error for such a
    path is os.listdir's -- for bytes 'listdir: embedded null character in path', not
    os.scandir's 'scandir: ...' nor PyUnicode_FSConverter's 'embedded null byte'.
    """
    with pytest.raises(ValueError) as info:
        os.listdir(path)
    want = (type(info.value), str(info.value))
    # What this Python's os.listdir says: the table is 3.11's; 3.13 says
    # 'listdir: embedded null character in path' for str paths too.
    assert want[0] is exc and (want[1] == message or sys.version_info >= (3, 13))
    with pytest.raises(ValueError) as info:
        impl.estimate_fd_for_dir(path)
    assert (type(info.value), str(info.value)) == want
