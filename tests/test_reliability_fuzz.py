"""Reliability (docs/contract.md §7): hostile objects at every argument of every function.

Hypothesis draws arbitrary objects -- None, bools, ints (huge, negative), floats (nan,
inf), str with NUL and lone surrogates, bytes, bytearray, memoryview, containers, and
objects whose __index__ / __fspath__ / __str__ / __eq__ / __bool__ raise or lie -- and
puts them at each argument of each function.  Only documented exception types may come
out, and the compiled core must raise the same type as the pure-Python twin (or return
the same value).  A crash of the interpreter fails the whole run.

Safety rules for the generated calls: paths never name a descriptor (an int path would
read or close one of pytest's descriptors) and strings become names inside a scratch
directory; find_free_port only probes high ports on '' or 127.0.0.1; is_process_alive
never gets a positive pid other than our own; counts stay small on small files.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import warnings
from types import ModuleType
from typing import Any, Callable, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

Outcome = Callable[..., Tuple[Any, ...]]


class Boom(Exception):
    """Raised by the hostile objects' dunder methods: it may propagate as it is."""


class RaisingIndex:
    def __index__(self) -> int:
        raise Boom("__index__")


class LyingIndex:
    def __index__(self) -> int:
        return -7


class RaisingFspath:
    def __fspath__(self) -> str:
        raise Boom("__fspath__")


class BadFspath:
    def __init__(self, value: Any) -> None:
        self.value = value

    def __fspath__(self) -> Any:
        return self.value

    def __repr__(self) -> str:
        return f"BadFspath({self.value!r})"


class RaisingStr:
    def __str__(self) -> str:
        raise Boom("__str__")

    __repr__ = __str__


class RaisingEq:
    def __eq__(self, other: object) -> bool:
        raise Boom("__eq__")

    __hash__ = object.__hash__


class RaisingBool:
    def __bool__(self) -> bool:
        raise Boom("__bool__")


class StrSub(str):
    def lower(self) -> str:  # type: ignore[override]
        raise Boom("lower")


class IntSub(int):
    pass


class FloatSub(float):
    def is_integer(self) -> bool:
        raise Boom("is_integer")


SCRATCH = tempfile.mkdtemp(prefix="sffuzz")
atexit.register(shutil.rmtree, SCRATCH, True)
with open(os.path.join(SCRATCH, "f"), "wb") as _f:
    _f.write(b"one\ntwo\nthree\n")

texts = st.text(st.characters(blacklist_categories=()), max_size=20) | st.sampled_from(
    ["", "\0", "a\0b", "\ud800", "utf-8", "latin-1", "strict", "replace", "sha256", "md5",
     "kubernetes", "KUBERNETES", "ff", "-ff", "0x1f", " 7 "]
)
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(-(2**70), 2**70), st.sampled_from([0, 1, -1, 2**31, 2**63, -(2**63), 10**30]),
    st.floats(allow_nan=True, allow_infinity=True), texts,
    st.binary(max_size=10), st.binary(max_size=10).map(bytearray),
    st.binary(max_size=10).map(memoryview),
)
hostile = st.one_of(
    scalars,
    st.lists(scalars, max_size=3), st.dictionaries(texts, scalars, max_size=3),
    st.builds(RaisingIndex), st.builds(LyingIndex), st.builds(RaisingFspath),
    st.builds(BadFspath, scalars), st.builds(RaisingStr), st.builds(RaisingEq),
    st.builds(RaisingBool), texts.map(StrSub), st.integers(-5, 5).map(IntSub),
    st.floats(allow_nan=True).map(FloatSub), st.builds(object),
)


def _path(x: Any) -> Any:
    """Make a generated path safe: no descriptors, names only inside SCRATCH.

    open(1) would read and then close pytest's stdout (and True is 1): non-negative ints
    become -1, bools become names.  LyingIndex (-7) and RaisingIndex stay as they are.
    """
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return x if x < 0 else -1
    if isinstance(x, str):
        return os.path.join(SCRATCH, x.replace("/", "_"))
    if isinstance(x, (bytes, bytearray)):
        return os.path.join(os.fsencode(SCRATCH), bytes(x).replace(b"/", b"_"))
    if isinstance(x, BadFspath) and isinstance(x.value, (str, bytes, int)):
        return BadFspath(_path(x.value))
    return x


def _port(x: Any) -> Any:
    """High ports only: ints below 65535 map into 60000-64999."""
    if isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 65535:
        return 60000 + x % 5000
    return x


def _host(x: Any) -> Any:
    """No name resolution: strings become '' or 127.0.0.1 (or fail before any lookup)."""
    if isinstance(x, str):
        return ("", "127.0.0.1", "\ud800")[len(x) % 3]  # '\ud800' fails in the idna codec
    return x


def _pid(x: Any) -> Any:
    """Positive pids become our own (any other could be a stranger's process)."""
    if isinstance(x, int) and not isinstance(x, bool) and x > 0:
        return os.getpid()
    return x


def _precision(x: Any) -> Any:
    """'{:.Nf}' with N in the millions builds megabytes; keep N small or absurd."""
    if isinstance(x, int) and not isinstance(x, bool) and 1000 < abs(x) < 2**40:
        return x % 1000
    return x


CALLS = {
    "is_process_alive": (lambda m, a, b, c: m.is_process_alive(
        _pid(a), create_time=b, allow_zombie=c)),
    "get_cpu_count": lambda m, a, b, c: m.get_cpu_count(a),
    "get_cpu_count()": lambda m, a, b, c: m.get_cpu_count(),
    "get_parallel_threads": lambda m, a, b, c: m.get_parallel_threads(a, container_aware=b),
    "base36_encode": lambda m, a, b, c: m.base36_encode(a),
    "get_mem_size_gb": lambda m, a, b, c: m.get_mem_size_gb(a),
    "hash_file path": lambda m, a, b, c: m.hash_file(_path(a), "sha256"),
    "hash_file alg": lambda m, a, b, c: m.hash_file(os.path.join(SCRATCH, "f"), a),
    "hash_file both": lambda m, a, b, c: m.hash_file(_path(a), b),
    "get_max_workers mapping": lambda m, a, b, c: m.get_max_workers_for_file_mounts(a, None),
    "get_max_workers values": lambda m, a, b, c: m.get_max_workers_for_file_mounts(
        {"/x": _path(a), "/y": _path(b)}, c),
    "get_max_workers alias": lambda m, a, b, c: m.get_max_workers({}, a),
    "read_last_n_lines path": lambda m, a, b, c: m.read_last_n_lines(_path(a), 2),
    "read_last_n_lines n": lambda m, a, b, c: m.read_last_n_lines(
        os.path.join(SCRATCH, "f"), a, b),
    "read_last_n_lines codec": lambda m, a, b, c: m.read_last_n_lines(
        os.path.join(SCRATCH, "f"), 2, 3, a, b),
    "format_float": lambda m, a, b, c: m.format_float(a, _precision(b)),
    "format_float num": lambda m, a, b, c: m.format_float(a),
    "estimate_fd_for_dir": lambda m, a, b, c: m.estimate_fd_for_dir(_path(a)),
    "find_free_port start": lambda m, a, b, c: m.find_free_port(_port(a)),
    "find_free_port all": lambda m, a, b, c: m.find_free_port(
        _port(a), end_port=_port(b), host=_host(c)),
    "truncate_long_string": lambda m, a, b, c: m.truncate_long_string(a, b, c),
    "truncate_long_string s": lambda m, a, b, c: m.truncate_long_string(a),
}

# contract §7: TypeError/ValueError/OSError...; plus what the reference itself raises for odd
# input (AssertionError and RuntimeError in read_last_n_lines, AttributeError for
# .lower()/.values()/.is_integer() on the wrong type, LookupError for codecs,
# OverflowError for ports and huge ints) and the objects' own Boom.
ALLOWED = (TypeError, ValueError, OSError, AssertionError, RuntimeError, AttributeError,
           LookupError, OverflowError, Boom)


def _comparable(o: Tuple[Any, ...]) -> Tuple[Any, ...]:
    if o[0] == "ok":
        v = o[1]
        if hasattr(v, "hexdigest"):
            return ("ok", v.name, v.hexdigest())
        if isinstance(v, float) and v != v:
            return ("ok", "nan")
        return ("ok", type(v), v)
    return ("err", o[1])


@pytest.mark.parametrize("name", sorted(CALLS))
@given(a=hostile, b=hostile, c=hostile)
def test_hostile_arguments(impl: ModuleType, py_impl: ModuleType, outcome: Outcome,
                           name: str, a: Any, b: Any, c: Any) -> None:
    """Only documented exception types; the core's outcome type equals the twin's."""
    call = CALLS[name]
    ours, our_warnings = _run(outcome, call, impl, a, b, c)
    if ours[0] == "err":
        assert issubclass(ours[1], ALLOWED), ours
    twin, twin_warnings = _run(outcome, call, py_impl, a, b, c)
    # os.stat/os.listdir deprecate bytes-like paths other than bytes: both must warn alike.
    assert our_warnings == twin_warnings, (ours, twin)
    if name.startswith("find_free_port") and ours[0] == twin[0] == "ok":
        return  # the first free port may change between the two calls
    assert _comparable(ours) == _comparable(twin), (ours, twin)


def _run(outcome: Outcome, call: Any, module: ModuleType, *args: Any) -> Tuple[Any, Any]:
    """The outcome and the warnings it raised (pytest's filterwarnings=error would turn
    the stdlib's DeprecationWarning for bytearray paths into an exception)."""
    # The codec registry remembers names it failed to find, and Python 3.15 warns about
    # a non-ASCII name only on its first lookup: forget them, so each call warns alike.
    encodings_cache = getattr(sys.modules.get("encodings"), "_cache", None)
    if isinstance(encodings_cache, dict):
        for name in [k for k, v in encodings_cache.items() if v is None]:
            encodings_cache.pop(name, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = outcome(call, module, *args)
    return result, sorted({(w.category, str(w.message)) for w in caught}, key=repr)
