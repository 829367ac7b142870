"""base36_encode (docs/contract.md §2.4): parse as int(hex_str, 16), spell in lowercase base 36.

EXACT against SkyPilot 0.14.1 for every non-negative value; the one FIX (contract §3)
is a negative value, which skyfast rejects and the reference loops on forever.
"""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType
from typing import Any, Callable, Optional, Tuple

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

Outcome = Callable[..., Tuple[Any, ...]]

NEGATIVE_FF = "base36_encode() needs a non-negative value, got -ff"
NON_STRING = "int() can't convert non-string with explicit base"

# contract §2.4 vectors: input -> output (always a str).
VECTORS = [
    ("10", "g"),
    ("23", "z"),
    ("24", "10"),
    ("ff", "73"),
    ("0XFF", "73"),
    (" ff ", "73"),
    ("f_f", "73"),
    ("+ff", "73"),
    ("0b1", "4x"),
    ("deadbeef", "1ps9wxb"),
    ("f" * 32, "f5lxx1zz5pnorynqglhzmsp33"),
    ("1" + "0" * 32, "f5lxx1zz5pnorynqglhzmsp34"),
    ("e2eb89f0ffaf521a0d2eeaffca04d117", "dfmquqz0jkxzvjnuavfh6yd5j"),
    ("0", "0"),
    ("-0", "0"),
    ("0x0", "0"),
    (b"ff", "73"),
    (bytearray(b"ff"), "73"),
    ("\u0661\u0660", "g"),  # Arabic-Indic "10"
    ("\uff11\uff10", "g"),  # fullwidth "10"
]

# Inputs that int(x, 16) rejects, with the exact exception int() raises.
BAD_INPUTS = [
    ("", ValueError, "invalid literal for int() with base 16: ''"),
    (" ", ValueError, "invalid literal for int() with base 16: ' '"),
    ("g", ValueError, "invalid literal for int() with base 16: 'g'"),
    ("nan", ValueError, "invalid literal for int() with base 16: 'nan'"),
    ("0x", ValueError, "invalid literal for int() with base 16: '0x'"),
    ("f__f", ValueError, "invalid literal for int() with base 16: 'f__f'"),
    ("_ff", ValueError, "invalid literal for int() with base 16: '_ff'"),
    ("ff_", ValueError, "invalid literal for int() with base 16: 'ff_'"),
    ("+-ff", ValueError, "invalid literal for int() with base 16: '+-ff'"),
    ("f f", ValueError, "invalid literal for int() with base 16: 'f f'"),
    ("\uff46\uff46", ValueError, "invalid literal for int() with base 16: '\uff46\uff46'"),
    (b"", ValueError, "invalid literal for int() with base 16: b''"),
    (b"xyz", ValueError, "invalid literal for int() with base 16: b'xyz'"),
    (None, TypeError, NON_STRING),
    (True, TypeError, NON_STRING),
    (255, TypeError, NON_STRING),
    (2**70, TypeError, NON_STRING),
    (-5, TypeError, NON_STRING),
    (1.5, TypeError, NON_STRING),
    (float("nan"), TypeError, NON_STRING),
    (memoryview(b"ff"), TypeError, NON_STRING),
    (["ff"], TypeError, NON_STRING),
]

UNICODE_DIGITS = "\u0660\u0661\u0665\u0669\uff10\uff11\uff19\u0966\u096f\U0001d7ce\U0001d7d7"
COMBINING = "\u0301\u0308"
AWKWARD_HEX = st.text(
    alphabet=st.sampled_from(
        list("0123456789abcdefABCDEF") * 3
        + list("xX_+- \t\n\r\x0b\x0cgG")
        + list(UNICODE_DIGITS + COMBINING)
        + ["\U0001f600", "\u00a0", "\u2003"]
    ),
    max_size=40,
)


@st.composite
def hex_spellings(draw: st.DrawFn, min_value: int = 0) -> str:
    """A valid int(_, 16) spelling of a (possibly >128-bit) value, with optional decoration."""
    value = draw(st.integers(min_value=min_value, max_value=2**300))
    digits = f"{abs(value):x}"
    if draw(st.booleans()):
        digits = digits.upper()
    if draw(st.booleans()) and len(digits) > 1:
        cut = draw(st.integers(1, len(digits) - 1))
        digits = digits[:cut] + "_" + digits[cut:]
    prefix = draw(st.sampled_from(["", "0x", "0X"]))
    sign = "-" if value < 0 else draw(st.sampled_from(["", "+"]))
    pad = st.text(alphabet=" \t\n", max_size=3)
    return draw(pad) + sign + prefix + digits + draw(pad)


INPUTS = st.one_of(
    hex_spellings(),
    hex_spellings(min_value=-(2**200)),
    AWKWARD_HEX,
    st.binary(max_size=40),
    st.binary(max_size=40).map(bytearray),
    hex_spellings().map(str.encode),
    st.none(),
    st.integers(),
    st.floats(),
    st.booleans(),
)


def _value_or_none(x: Any) -> Optional[int]:
    """int(x, 16), or None when int() itself rejects x."""
    try:
        return int(x, 16)
    except (TypeError, ValueError):
        return None


@pytest.mark.parametrize(("hex_str", "expected"), VECTORS, ids=repr)
def test_spec_vectors(impl: ModuleType, hex_str: Any, expected: str) -> None:
    """Every contract §2.4 vector gives exactly the documented str."""
    got = impl.base36_encode(hex_str)
    assert type(got) is str
    assert got == expected


@pytest.mark.parametrize(("bad", "exc", "message"), BAD_INPUTS, ids=repr)
def test_bad_inputs(impl: ModuleType, outcome: Outcome, bad: Any, exc: type, message: str) -> None:
    """Inputs int(_, 16) rejects raise int()'s own exception type and message."""
    assert outcome(impl.base36_encode, bad) == ("err", exc, message)


@pytest.mark.reference
@pytest.mark.parametrize(("bad", "exc", "message"), BAD_INPUTS, ids=repr)
def test_bad_inputs_match_reference(
    impl: ModuleType, sky: Any, outcome: Outcome, bad: Any, exc: type, message: str
) -> None:
    """The reference raises the same exception as skyfast on every bad input."""
    assert outcome(sky.common.base36_encode, bad) == outcome(impl.base36_encode, bad)


@pytest.mark.parametrize("hex_str", ["-ff", "-0xff", " -FF ", b"-ff", bytearray(b"-f_f")])
def test_negative_is_rejected(impl: ModuleType, outcome: Outcome, hex_str: Any) -> None:
    """FIX (contract §3): a negative value raises a ValueError naming it, instead of looping."""
    assert outcome(impl.base36_encode, hex_str) == ("err", ValueError, NEGATIVE_FF)


def test_negative_message_uses_the_value(impl: ModuleType, outcome: Outcome) -> None:
    """The FIX message spells the parsed value in lowercase hex, whatever the input spelling."""
    got = outcome(impl.base36_encode, "-0XDEAD_BEEF")
    assert got == ("err", ValueError, "base36_encode() needs a non-negative value, got -deadbeef")


_HANG_SCRIPT = """
import sys, warnings
warnings.simplefilter("ignore")
try:
    from sky.utils.common_utils import base36_encode
except Exception:
    print("noimport", flush=True)
    sys.exit(0)
print("ready", flush=True)
base36_encode("-ff")
print("returned", flush=True)
"""


@pytest.mark.reference
def test_reference_loops_forever_on_negative() -> None:
    """FIX (contract §3): SkyPilot's base36_encode('-ff') does not return within 3 s.

    skyfast's side of this FIX (the ValueError) is test_negative_is_rejected.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", _HANG_SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()  # import may be slow; the clock starts after it
        if first != "ready":
            pytest.skip(f"SkyPilot is not importable in a subprocess ({first!r})")
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=3)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@given(hex_str=hex_spellings())
@example(hex_str="0")
@example(hex_str="f" * 40)
@example(hex_str="1" + "0" * 64)
def test_round_trip(impl: ModuleType, hex_str: str) -> None:
    """Output is canonical lowercase base 36 (no leading zero) of int(hex_str, 16)."""
    got = impl.base36_encode(hex_str)
    assert type(got) is str
    assert set(got) <= set("0123456789abcdefghijklmnopqrstuvwxyz")
    assert got == "0" or not got.startswith("0")
    assert int(got, 36) == int(hex_str, 16)


@given(hex_str=INPUTS)
@example(hex_str="-0")
@example(hex_str="-ff")
@example(hex_str="\u0661\u0660")
@example(hex_str="\uff11\uff10")
@example(hex_str="\U0001d7cf")
@example(hex_str=b" 0x_f ")
@example(hex_str=bytearray(b"0X1_0"))
@example(hex_str="1\u0301")
@example(hex_str=2**130)
def test_matches_python_twin(
    impl: ModuleType, py_impl: ModuleType, outcome: Outcome, hex_str: Any
) -> None:
    """The compiled core and the pure-Python twin agree on every input, errors included."""
    got = outcome(impl.base36_encode, hex_str)
    want = outcome(py_impl.base36_encode, hex_str)
    assert (got, type(got[-1])) == (want, type(want[-1]))


@pytest.mark.reference
@given(hex_str=INPUTS)
@example(hex_str="-0")
@example(hex_str="\u0661\u0660")
@example(hex_str="\uff11\uff10")
@example(hex_str=" +0X_F ")
@example(hex_str=b"+0x1_0")
@example(hex_str=bytearray(b"  7F  "))
@example(hex_str="f" * 64)
@example(hex_str="")
def test_matches_reference(impl: ModuleType, sky: Any, outcome: Outcome, hex_str: Any) -> None:
    """EXACT: same value or same exception as SkyPilot on every input it returns on."""
    value = _value_or_none(hex_str)
    if value is not None and value < 0:
        return  # the reference never returns on a negative value (the FIX above)
    got = outcome(impl.base36_encode, hex_str)
    want = outcome(sky.common.base36_encode, hex_str)
    assert (got, type(got[-1])) == (want, type(want[-1]))
