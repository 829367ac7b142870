"""format_float (docs/contract.md §2.9): ints as str, whole floats with no decimals, others fixed.

EXACT against SkyPilot 0.14.1: outputs become parts of instance-type names.
"""

from __future__ import annotations

import decimal
import math
from decimal import Decimal
from fractions import Fraction
from types import ModuleType
from typing import Any, Callable, Tuple

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

Outcome = Callable[..., Tuple[Any, ...]]

MISSING_PRECISION = "Format specifier missing precision"

# contract §2.9 vectors: (args, expected str).
VECTORS = [
    ((1,), "1"),
    ((1.0,), "1"),
    ((1.25,), "1.2"),
    ((1.35,), "1.4"),
    ((1.96,), "2.0"),
    ((-0.0,), "-0"),
    ((0.0,), "0"),
    ((-1e-10,), "-0.0"),
    ((float("nan"),), "nan"),
    ((float("inf"),), "inf"),
    ((float("-inf"),), "-inf"),
    ((1e20,), "100000000000000000000"),
    ((True,), "True"),
    ((False,), "False"),
    ((2.5, 0), "2"),
    ((3.5, 0), "4"),
    ((0.5, 0), "0"),
    ((1.5, 0), "2"),
    ((0.1, 20), "0.10000000000000000555"),
    ((2**70,), "1180591620717411303424"),
    ((-7, 3), "-7"),
    ((5e-324, 3), "0.000"),
    ((-5e-324, 3), "-0.000"),
    ((1e300,), str(int(1e300))),  # the exact binary value, all 301 digits
    ((2.0, -1), "2"),  # whole numbers never look at precision
    ((7, "junk"), "7"),  # ints neither
]


class MyInt(int):
    """An int subclass: format_float must take the int branch (str of it)."""


class MyFloat(float):
    """A float subclass: formatted as its float value."""


# Bad inputs: (args, exception type, message); None for messages CPython words per version.
BAD_INPUTS = [
    ((1.5, -1), ValueError, MISSING_PRECISION),
    ((1.5, None), ValueError, MISSING_PRECISION),
    ((1.5, True), ValueError, MISSING_PRECISION),
    ((1.5, 2**70), ValueError, "Too many decimal digits in format string"),
    ((1.5, 1.5), ValueError, None),
    ((None,), AttributeError, "'NoneType' object has no attribute 'is_integer'"),
    (("1.5",), AttributeError, "'str' object has no attribute 'is_integer'"),
    ((b"1",), AttributeError, "'bytes' object has no attribute 'is_integer'"),
    ((Decimal("1.5"),), AttributeError, "'decimal.Decimal' object has no attribute 'is_integer'"),
    ((1 + 2j,), AttributeError, "'complex' object has no attribute 'is_integer'"),
]


def _cpython_format_error(value: float, precision: Any) -> str:
    """The message CPython's own float formatting gives for this precision."""
    try:
        format(value, f".{precision}f")
    except ValueError as e:
        return str(e)
    raise AssertionError("expected CPython to reject the format")


def _oracle(num: float, precision: int) -> str:
    """contract §2.9 from Decimal arithmetic: exact integral digits, or ties-to-even rounding."""
    if math.isnan(num):
        return "nan"
    if math.isinf(num):
        return "inf" if num > 0 else "-inf"
    exact = Decimal(num)  # the binary value, exactly
    if num.is_integer():
        return format(exact, "f")
    with decimal.localcontext() as ctx:
        ctx.prec = 1000
        rounded = exact.quantize(Decimal(1).scaleb(-precision), rounding=decimal.ROUND_HALF_EVEN)
    return format(rounded, "f")


NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.integers(min_value=-(10**6), max_value=10**6).map(lambda i: i / 8),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e300, -1e300, 0.5]),
    st.integers(),
    st.booleans(),
)
PRECISIONS = st.integers(min_value=0, max_value=20)
ANY_PRECISION = st.one_of(st.integers(min_value=-3, max_value=20), st.none(), st.booleans())


@pytest.mark.parametrize(("args", "expected"), VECTORS, ids=repr)
def test_spec_vectors(impl: ModuleType, args: Tuple[Any, ...], expected: str) -> None:
    """Every contract §2.9 vector gives exactly the documented str."""
    got = impl.format_float(*args)
    assert type(got) is str
    assert got == expected


def test_default_precision_is_one(impl: ModuleType) -> None:
    """precision defaults to 1 and is accepted as a keyword."""
    assert impl.format_float(2.345) == "2.3"
    assert impl.format_float(2.345, precision=2) == "2.35"  # 2.345 is 2.34500000000000019...
    assert impl.format_float(num=0.125, precision=2) == "0.12"


def test_subclasses(impl: ModuleType) -> None:
    """int subclasses take the str() branch, float subclasses are formatted by value."""
    assert impl.format_float(MyInt(12)) == "12"
    assert impl.format_float(MyFloat(1.25)) == "1.2"
    assert impl.format_float(MyFloat(3.0)) == "3"
    assert impl.format_float(MyFloat(-0.0)) == "-0"


@pytest.mark.parametrize(("args", "exc", "message"), BAD_INPUTS, ids=repr)
def test_bad_inputs(
    impl: ModuleType, outcome: Outcome, args: Tuple[Any, ...], exc: type, message: Any
) -> None:
    """Bad numbers or precisions raise the reference's exception type and message."""
    if message is None:
        message = _cpython_format_error(args[0], args[1])
    assert outcome(impl.format_float, *args) == ("err", exc, message)


@pytest.mark.reference
@pytest.mark.parametrize(
    "args",
    [a for a, _ in VECTORS]
    + [a for a, _, _ in BAD_INPUTS]
    + [(MyInt(12),), (MyFloat(1.25),), (Fraction(3, 2),), (Fraction(2, 1),)],
    ids=repr,
)
def test_vectors_match_reference(
    impl: ModuleType, sky: Any, outcome: Outcome, args: Tuple[Any, ...]
) -> None:
    """The reference gives the same value or exception on every tabled input."""
    got = outcome(impl.format_float, *args)
    want = outcome(sky.common.format_float, *args)
    assert (got, type(got[-1])) == (want, type(want[-1]))


@pytest.mark.reference
@pytest.mark.parametrize(
    ("dtype", "value"),
    [
        (dtype, value)
        for dtype in ["float64", "float32", "float16", "int64", "int8", "bool_"]
        for value in [1.25, 3.0, -0.0, float("nan"), 7.5]
        if math.isfinite(value) or dtype.startswith("float")
    ],
    ids=repr,
)
def test_numpy_scalars_match_reference(
    impl: ModuleType, sky: Any, outcome: Outcome, dtype: str, value: float
) -> None:
    """numpy scalars behave as they do in the reference."""
    np = pytest.importorskip("numpy")
    num = getattr(np, dtype)(value)
    for precision in (0, 1, 3):
        got = outcome(impl.format_float, num, precision)
        want = outcome(sky.common.format_float, num, precision)
        assert (got, type(got[-1])) == (want, type(want[-1]))


@given(
    num=st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True), precision=PRECISIONS
)
@example(num=1.25, precision=1)
@example(num=0.125, precision=2)
@example(num=2.675, precision=2)
@example(num=-1e-10, precision=1)
@example(num=5e-324, precision=20)
@example(num=1e300, precision=5)
@example(num=9.5, precision=0)
@example(num=-0.5, precision=0)
def test_matches_decimal_oracle(impl: ModuleType, num: float, precision: int) -> None:
    """Floats are correctly rounded (ties-to-even on the binary value), whole ones exact."""
    got = impl.format_float(num, precision)
    assert type(got) is str
    assert got == _oracle(num, precision)


@given(num=NUMBERS, precision=ANY_PRECISION)
@example(num=-0.0, precision=1)
@example(num=float("nan"), precision=-1)
@example(num=0.5, precision=-1)
@example(num=True, precision=None)
@example(num=2**80, precision=3)
def test_matches_python_twin(
    impl: ModuleType, py_impl: ModuleType, outcome: Outcome, num: Any, precision: Any
) -> None:
    """The compiled core and the pure-Python twin agree on every input, errors included."""
    got = outcome(impl.format_float, num, precision)
    want = outcome(py_impl.format_float, num, precision)
    assert (got, type(got[-1])) == (want, type(want[-1]))


@pytest.mark.reference
@given(num=NUMBERS, precision=ANY_PRECISION)
@example(num=-0.0, precision=1)
@example(num=float("-nan"), precision=1)
@example(num=-1e-10, precision=0)
@example(num=1e300, precision=20)
@example(num=0.5, precision=-1)
@example(num=1.5, precision=True)
def test_matches_reference(
    impl: ModuleType, sky: Any, outcome: Outcome, num: Any, precision: Any
) -> None:
    """EXACT: the same str or the same exception as SkyPilot on every input."""
    got = outcome(impl.format_float, num, precision)
    want = outcome(sky.common.format_float, num, precision)
    assert (got, type(got[-1])) == (want, type(want[-1]))
