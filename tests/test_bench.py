"""``skyfast bench``'s measuring: paired ratios, noise and withheld figures.

The contenders here are stand-ins whose speed is fixed by construction
(``time.sleep`` never returns early), so each assertion holds however busy
the machine is.
"""

from __future__ import annotations

import itertools
import time

import pytest

from skyfast import _bench


def _impls() -> _bench.Impls:
    return _bench.load_impls(against_skypilot=False)


def _noop(*_args: object) -> None:
    return None


def _sleeper(*durations: float):
    cycle = itertools.cycle(durations)

    def sleep(*_args: object) -> None:
        time.sleep(next(cycle))

    return sleep


def test_paired_ratio_is_per_round():
    a = _bench.Contender("a", "a", _noop, ())
    b = _bench.Contender("b", "b", _noop, ())
    a.samples, b.samples = [2.0, 4.0, 8.0, 16.0, 32.0], [1.0, 2.0, 4.0, 8.0, 16.0]
    got = _bench.paired_ratio(a, b)
    assert got is not None
    # Every round ran twice as long for a, so the ratio has no spread at all,
    # although each contender's own times spread widely.
    assert got["median"] == got["q1"] == got["q3"] == 2.0 and got["spread"] == 0.0
    assert _bench.quartiles(a.samples)["spread"] > 1.0  # type: ignore[index]
    b.samples.pop()
    assert _bench.paired_ratio(a, b) is None  # not side by side: no ratio


def test_measure_takes_one_sample_per_round_for_each():
    cs = [_bench.Contender(n, n, _noop, ()) for n in "abc"]
    cs[1].error = "ValueError: failed once"
    rounds = _bench.measure(cs, budget_s=0.0, rounds=(5, 9))
    assert rounds == 5
    assert [len(c.samples) for c in cs] == [5, 0, 5]
    assert all(c.k >= 1 for c in cs)


def test_faster_than_hashing_alone_is_withheld():
    """A file hash cannot beat hashing bytes already in cache: such a row is withheld."""
    case = _bench.Case("hash_file/test", "hash_file", "stand-in")
    case.contenders = [
        _bench.Contender("skypilot", "ref", _sleeper(0.001), ()),
        _bench.Contender("cython_warm", "fast", _noop, ()),
        _bench.Contender("memory", "ceiling", _sleeper(0.001), (), compare=False),
    ]
    row = _bench.measure_case(case, _impls(), full=False)
    assert row["ratios"]["of_hashing"]["median"] > _bench.IN_MEMORY_LIMIT
    assert row["withheld"]
    text = _bench.format_table([row])
    assert "withheld" in text and "impossible" in text
    assert "2.0" not in text.split("\n")[2]  # no figure of that row is printed


def test_a_noisy_machine_is_named():
    rows = []
    for i in range(2):
        case = _bench.Case(f"format_float/t{i}", "format_float", f"stand-in {i}")
        case.contenders = [
            _bench.Contender("skypilot", "ref", _sleeper(0.0005, 0.003), ()),
            _bench.Contender("cython_warm", "steady", _sleeper(0.0005), ()),
        ]
        rows.append(_bench.measure_case(case, _impls(), full=False))
    assert all(r["noisy"] for r in rows)
    text = " ".join(_bench.format_table(rows, load_average=3.5).split())  # footnotes wrap
    assert "too busy for these figures to be trusted (load average 3.5" in text
    assert "(noisy)" in text


def test_a_different_result_is_a_mismatch():
    case = _bench.Case("base36_encode/t", "base36_encode", "stand-in")
    case.contenders = [
        _bench.Contender("skypilot", "ref", lambda: "abc", ()),
        _bench.Contender("cython_warm", "compiled", lambda: "abd", ()),
        _bench.Contender("stdlib", "nearby", lambda: 1, (), compare=False),
    ]
    row = _bench.measure_case(case, _impls(), full=False)
    assert row["mismatches"] == ["compiled: got 'abd', ref gave 'abc'"]
    assert row["contenders"]["stdlib"]["same_result"] is False  # told, not a mismatch
    assert "MISMATCH base36_encode [stand-in]" in " ".join(_bench.format_table([row]).split())


def test_run_rejects_unknown_functions():
    with pytest.raises(ValueError, match="hash_files"):
        _bench.run(against_skypilot=False, functions=["hash_files"])
