"""truncate_long_string (docs/contract.md §2.12): middle mode, the reference's end-mode heuristic.

EXACT against SkyPilot 0.14.1, quirks included; lengths are code points.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable, Tuple

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

Outcome = Callable[..., Tuple[Any, ...]]

def _slice_error() -> str:
    """The interpreter's own message for a float slice index (3.15 reworded it)."""
    try:
        "abc"[slice(None, 5.5)]
    except TypeError as e:
        return str(e)
    raise AssertionError("a float slice index did not raise")


SLICE_ERROR = _slice_error()

# contract §2.12 vectors: (args, expected).
VECTORS = [
    (("hello world", 5), "hello..."),
    (("hello world", 6), "hello ..."),
    (("hello world", 7), "hello w..."),
    (("hello world", 11), "hello world"),
    (("hello world", 50), "hello world"),
    (("aaa bbb ccc ddd", 8), "aaa bbb ..."),
    (("a  b  c  d", 3), "a  b ..."),
    (("word " * 20, 35), "word word word word word word word word..."),
    (("word " * 20,), "word word word word word word word word..."),
    (("abc", -1), "ab..."),
    (("abc", -5), "..."),
    (("abc", 0), "..."),
    ((" abc", 0), "..."),
    (("", 0), ""),
    (("", -1), "..."),
    (("abcdefghij", 4, True), "a..."),
    (("abcdefghij", 5, True), "a...j"),
    (("abcdefghij", 7, True), "ab...ij"),
    (("abcdefghij", 3, True), "..."),
    (("abcdefghij", -2, True), "..."),
    (("abcdefghij", 10, True), "abcdefghij"),
    (("abcdefghijklmnopqrstuvwxyz", 10, True), "abcd...xyz"),
    (("\U0001f600" * 10, 5, True), "\U0001f600...\U0001f600"),
    (("e\u0301" * 5, 4), "e\u0301e\u0301..."),
]


class MyStr(str):
    """A str subclass: a short one is returned as is, the same object."""


# Bad inputs: (args, exception type, message), each what the reference raises.
BAD_INPUTS = [
    ((None,), TypeError, "object of type 'NoneType' has no len()"),
    ((12345678901234567890,), TypeError, "object of type 'int' has no len()"),
    (
        ("hello world", None),
        TypeError,
        "'<=' not supported between instances of 'int' and 'NoneType'",
    ),
    (("hello world", "5"), TypeError, "'<=' not supported between instances of 'int' and 'str'"),
    (("hello world", 5.5), TypeError, SLICE_ERROR),
    (("helloworld", 5.5), TypeError, SLICE_ERROR),
    (("abcdefghij", 5.5, True), TypeError, SLICE_ERROR),
    (("hello world", 5.0), TypeError, SLICE_ERROR),
    ((b"hello world", 5), TypeError, "a bytes-like object is required, not 'str'"),
    ((b"abcdefghij", 5, True), TypeError, "can't concat str to bytes"),
    ((["hello world"], 0), AttributeError, "'list' object has no attribute 'split'"),
]

# Inputs that are odd but return: (args, expected).
ODD_BUT_FINE = [
    (("ab", True), "a..."),
    (("ab", False), "..."),
    (("abcdef", True, True), "..."),
    (("abcdefghij", 5, "yes"), "a...j"),
    (("abcdefghij", 5, 0), "abcde..."),
    (("hello world", 2**70), "hello world"),
    (("hello world", -(2**70)), "..."),
    (("hello world", -(2**70), True), "..."),
    ((b"abc", 5), b"abc"),
    ((["x"], 5), ["x"]),
    (("hello world", float("nan")), "hello..."),  # every comparison with nan is False
]

TEXT = st.text(
    alphabet=st.one_of(
        st.just(" "),
        st.just(" "),
        st.sampled_from(["a", "b", "\t", "\u00a0", "\u3000", "\u0301", "\U0001f600", "\U00010348"]),
        st.characters(),
    ),
    max_size=80,
)
WORDY = st.lists(
    st.text(alphabet="abcxyz\u0301\U0001f600", max_size=12), min_size=1, max_size=12
).flatmap(
    lambda words: st.lists(
        st.sampled_from([" ", "  ", "   "]), min_size=len(words) - 1, max_size=len(words) - 1
    ).map(lambda seps: words[0] + "".join(s + w for s, w in zip(seps, words[1:])))
)
STRINGS = st.one_of(TEXT, WORDY, WORDY.map(lambda s: "  " + s + " "))
MAX_LENGTHS = st.integers(min_value=-5, max_value=60)


@pytest.mark.parametrize(("args", "expected"), VECTORS, ids=repr)
def test_spec_vectors(impl: ModuleType, args: Tuple[Any, ...], expected: str) -> None:
    """Every contract §2.12 vector gives exactly the documented str."""
    got = impl.truncate_long_string(*args)
    assert type(got) is str
    assert got == expected


def test_keywords_and_default(impl: ModuleType) -> None:
    """max_length defaults to 35 and the arguments work as keywords."""
    long = "x" * 36
    assert impl.truncate_long_string(long) == "x" * 35 + "..."
    assert impl.truncate_long_string("x" * 35) == "x" * 35
    assert impl.truncate_long_string(s=long, max_length=6, truncate_middle=True) == "xx...x"


def test_short_str_subclass_is_returned_as_is(impl: ModuleType) -> None:
    """A string that fits is returned unchanged, the very object (as the reference does)."""
    s = MyStr("short")
    assert impl.truncate_long_string(s) is s


@pytest.mark.parametrize(("args", "exc", "message"), BAD_INPUTS, ids=repr)
def test_bad_inputs(
    impl: ModuleType, outcome: Outcome, args: Tuple[Any, ...], exc: type, message: str
) -> None:
    """Bad strings or lengths raise the reference's exception type and message."""
    assert outcome(impl.truncate_long_string, *args) == ("err", exc, message)


@pytest.mark.parametrize(("args", "expected"), ODD_BUT_FINE, ids=repr)
def test_odd_inputs_that_return(impl: ModuleType, args: Tuple[Any, ...], expected: Any) -> None:
    """Odd but accepted inputs (bools, huge ints, non-str sequences that fit) as the reference."""
    got = impl.truncate_long_string(*args)
    assert type(got) is type(expected)
    assert got == expected


@pytest.mark.reference
@pytest.mark.parametrize(
    "args",
    [a for a, _ in VECTORS] + [a for a, _, _ in BAD_INPUTS] + [a for a, _ in ODD_BUT_FINE],
    ids=repr,
)
def test_tables_match_reference(
    impl: ModuleType, sky: Any, outcome: Outcome, args: Tuple[Any, ...]
) -> None:
    """The reference gives the same value or exception on every tabled input."""
    got = outcome(impl.truncate_long_string, *args)
    want = outcome(sky.common.truncate_long_string, *args)
    assert (got, type(got[-1])) == (want, type(want[-1]))


@given(s=STRINGS, max_length=st.integers(min_value=4, max_value=60))
@example(s="abcdefghij", max_length=4)
@example(s="\U0001f600" * 9, max_length=8)
def test_middle_mode_shape(impl: ModuleType, s: str, max_length: int) -> None:
    """Middle mode keeps exactly max_length code points: head, '...', tail (head >= tail)."""
    got = impl.truncate_long_string(s, max_length, True)
    if len(s) <= max_length:
        assert got == s
        return
    keep = max_length - 3
    head, tail = keep - keep // 2, keep // 2
    assert len(got) == max_length
    assert got == s[:head] + "..." + s[len(s) - tail :]


@given(s=STRINGS, max_length=MAX_LENGTHS, truncate_middle=st.booleans())
@example(s="a  b  c  d", max_length=3, truncate_middle=False)
@example(s=" " * 10, max_length=4, truncate_middle=False)
@example(s="  leading", max_length=1, truncate_middle=False)
@example(s="trailing   ", max_length=8, truncate_middle=False)
@example(s="e\u0301 " * 10, max_length=5, truncate_middle=False)
@example(s="\U0001f600 \U0001f600\U0001f600 x", max_length=2, truncate_middle=False)
@example(s="abc", max_length=-5, truncate_middle=False)
def test_matches_python_twin(
    impl: ModuleType,
    py_impl: ModuleType,
    outcome: Outcome,
    s: str,
    max_length: int,
    truncate_middle: bool,
) -> None:
    """The compiled core and the pure-Python twin agree on every input."""
    got = outcome(impl.truncate_long_string, s, max_length, truncate_middle)
    want = outcome(py_impl.truncate_long_string, s, max_length, truncate_middle)
    assert (got, type(got[-1])) == (want, type(want[-1]))


@pytest.mark.reference
@given(s=STRINGS, max_length=MAX_LENGTHS, truncate_middle=st.booleans())
@example(s="a  b  c  d", max_length=3, truncate_middle=False)
@example(s=" " * 10, max_length=4, truncate_middle=False)
@example(s="  leading", max_length=1, truncate_middle=False)
@example(s="trailing   ", max_length=8, truncate_middle=False)
@example(s="ab cd", max_length=-1, truncate_middle=False)
@example(s=" ab", max_length=0, truncate_middle=False)
@example(s="abcdef", max_length=-3, truncate_middle=True)
def test_matches_reference(
    impl: ModuleType,
    sky: Any,
    outcome: Outcome,
    s: str,
    max_length: int,
    truncate_middle: bool,
) -> None:
    """EXACT: the same str as SkyPilot for every string, length and mode."""
    got = outcome(impl.truncate_long_string, s, max_length, truncate_middle)
    want = outcome(sky.common.truncate_long_string, s, max_length, truncate_middle)
    assert (got, type(got[-1])) == (want, type(want[-1]))


@pytest.mark.reference
@given(
    s=st.one_of(STRINGS, st.binary(max_size=20), st.lists(st.text(max_size=3), max_size=5)),
    max_length=st.one_of(MAX_LENGTHS, st.floats(-5, 60), st.booleans(), st.none()),
    truncate_middle=st.one_of(st.booleans(), st.integers(-1, 1), st.text(max_size=2)),
)
def test_odd_types_match_reference(
    impl: ModuleType, sky: Any, outcome: Outcome, s: Any, max_length: Any, truncate_middle: Any
) -> None:
    """Odd types (bytes, lists, float/bool/None lengths) fail or pass exactly as the reference."""
    got = outcome(impl.truncate_long_string, s, max_length, truncate_middle)
    want = outcome(sky.common.truncate_long_string, s, max_length, truncate_middle)
    assert (got, type(got[-1])) == (want, type(want[-1]))


def _logging_str_class(log: list, *, lying: bool) -> type:
    """A str subclass that records every __getitem__ (and, ``lying``, __len__/split) in ``log``.

    __getitem__ returns a marked piece ('<' + piece + '>') of the subclass, so the result
    shows which slices were asked for.  ``lying``: __len__ reports two more code points
    than there are, and split() returns pieces of the subclass (so they log too).
    """

    class Logged(str):
        def __getitem__(self, key: Any) -> str:
            if isinstance(key, slice):
                log.append(("getitem", str(self), key.start, key.stop, key.step))
            else:
                log.append(("getitem", str(self), key))
            return type(self)("<" + str.__getitem__(self, key) + ">")

        if lying:

            def __len__(self) -> int:
                log.append(("len", str(self)))
                return str.__len__(self) + 2

            def split(self, sep: Any = None, maxsplit: int = -1) -> list:  # type: ignore[override]
                log.append(("split", str(self), sep, maxsplit))
                return [type(self)(w) for w in str.split(self, sep, maxsplit)]

    return Logged


# (s, max_length, truncate_middle): end mode with the prefix of whole words shorter than
# max_length (SkyPilot then adds s[len(prefix):max_length]), equal to it, a first word
# longer than max_length, negative lengths; middle mode with and without a tail.
SUBCLASS_CASES = [
    ("aaa bbb ccc ddd", 9, False),  # prefix 'aaa bbb' (7) < 9: s[7:9] is added
    ("aaa bbb ccc ddd", 8, False),
    ("a  b  c  d", 3, False),
    ("a b c d e f", 3, False),  # prefix 'a b' is exactly 3
    ("word " * 20, 35, False),
    ("hello world", 6, False),
    ("hello world", 7, False),
    ("helloworld foo", 5, False),  # the first word is cut
    ("ab cd", -1, False),
    (" ab", 0, False),
    ("", -1, False),
    ("short", 35, False),
    ("abcdefghij", 5, True),
    ("abcdefghij", 4, True),  # no tail
    ("abcdefghij", 7, True),
    ("abcdefghij", 3, True),
    ("abcdefghij", -2, True),
    ("abcdefghij", 10, True),
]


@pytest.mark.reference
@pytest.mark.parametrize("lying", [False, True], ids=["getitem", "getitem-len-split"])
@pytest.mark.parametrize(("text", "max_length", "truncate_middle"), SUBCLASS_CASES, ids=repr)
def test_str_subclass_sees_the_reference_calls(
    impl: ModuleType,
    sky: Any,
    outcome: Outcome,
    lying: bool,
    text: str,
    max_length: int,
    truncate_middle: bool,
) -> None:
    """A str subclass overriding __getitem__ (and __len__/split) gets SkyPilot's result.

    The pieces are sliced from s itself with the reference's indices -- in end mode the
    prefix of whole words is completed with s[len(prefix):max_length], not replaced by
    s[:max_length] -- so the marked result and the sequence of calls logged are SkyPilot's.
    """
    ours: list = []
    theirs: list = []
    mine = _logging_str_class(ours, lying=lying)(text)
    reference = _logging_str_class(theirs, lying=lying)(text)
    got = outcome(impl.truncate_long_string, mine, max_length, truncate_middle)
    want = outcome(sky.common.truncate_long_string, reference, max_length, truncate_middle)
    # str, or the subclass itself (the short s returned as is): one class per log, so
    # the class is compared by its qualified name
    assert (got, type(got[-1]).__qualname__) == (want, type(want[-1]).__qualname__)
    assert ours == theirs


def test_end_mode_prefix_is_completed_from_s(impl: ModuleType) -> None:
    """The stated expectation: 'aaa bbb' + s[7:9] when whole words stop short of max_length."""
    log: list = []
    s = _logging_str_class(log, lying=False)("aaa bbb ccc ddd")
    assert impl.truncate_long_string(s, 9) == "aaa bbb< c>..."
    assert log == [("getitem", "aaa bbb ccc ddd", 7, 9, None)]
