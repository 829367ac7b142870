"""get_parallel_threads (docs/contract.md §2.3): max(4, os.cpu_count() - 1), times 4 on Kubernetes.

EXACT against SkyPilot 0.14.1; ``container_aware`` is a NEW keyword.  The compiled
core may ask sysconf directly instead of os.cpu_count(), so tests that monkeypatch
os.cpu_count use only the pure-Python twin; ``impl`` is checked against the
formula with the real os.cpu_count().
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any, Callable, Optional, Tuple

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

Outcome = Callable[..., Tuple[Any, ...]]

KELVIN_K = "\u212a"  # KELVIN SIGN: str.lower() maps it to ASCII 'k'

# cloud_str -> multiplier, per contract §2.3 (lower() == 'kubernetes', no strip).
MULTIPLIERS = [
    (None, 1),
    ("Kubernetes", 4),
    ("KUBERNETES", 4),
    ("kubernetes", 4),
    ("kUbErNeTeS", 4),
    (KELVIN_K + "ubernetes", 4),
    ("k8s", 1),
    ("", 1),
    ("kubernetes ", 1),
    (" kubernetes", 1),
    ("kubernetes\n", 1),
    ("kubernete", 1),
    ("kubernetess", 1),
    ("aws", 1),
    ("\u0130kubernetes", 1),  # lower() of U+0130 is two code points
    (b"kubernetes", 1),  # bytes.lower() is b'kubernetes', never equal to a str
    (b"KUBERNETES", 1),
    (0, 1),  # falsy non-str values are never asked for lower()
    (False, 1),
    ([], 1),
    (b"", 1),
    (0.0, 1),
]

# Truthy values without lower() raise AttributeError, as in the reference.
NO_LOWER = [
    (5, "'int' object has no attribute 'lower'"),
    (True, "'bool' object has no attribute 'lower'"),
    (1.5, "'float' object has no attribute 'lower'"),
    (float("nan"), "'float' object has no attribute 'lower'"),
    (["kubernetes"], "'list' object has no attribute 'lower'"),
    (("kubernetes",), "'tuple' object has no attribute 'lower'"),
    ({"kubernetes": 1}, "'dict' object has no attribute 'lower'"),
    (2**70, "'int' object has no attribute 'lower'"),
]

CONTRACT_CPU_VECTORS = [
    (None, 4),
    ("Kubernetes", 16),
    ("KUBERNETES", 16),
    ("k8s", 4),
    ("", 4),
]


def _formula(cpus: Optional[int], multiplier: int) -> int:
    """contract §2.3: max(4, cpu - 1) * m, with a missing count meaning 1."""
    return max(4, (cpus if cpus is not None else 1) - 1) * multiplier


class Lowerable:
    """A non-str object whose lower() says 'kubernetes': the reference multiplies by 4."""

    def __bool__(self) -> bool:
        return True

    def lower(self) -> str:
        return "kubernetes"


@pytest.mark.parametrize(("cloud_str", "expected"), CONTRACT_CPU_VECTORS, ids=repr)
def test_spec_vectors_two_cpus(
    py_impl: ModuleType, monkeypatch: pytest.MonkeyPatch, cloud_str: Any, expected: int
) -> None:
    """contract §2.3 vectors with os.cpu_count() == 2 (pure-Python twin, os.cpu_count patched)."""
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    got = py_impl.get_parallel_threads(cloud_str)
    assert type(got) is int
    assert got == expected


@pytest.mark.parametrize(
    ("cpus", "cloud_str", "expected"),
    [
        (1, None, 4),
        (1, "kubernetes", 16),
        (None, None, 4),
        (None, "Kubernetes", 16),
        (5, None, 4),
        (6, None, 5),
        (192, None, 191),
        (192, "KUBERNETES", 764),
        (192, "kubernetes ", 191),
    ],
)
def test_cpu_counts(
    py_impl: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    cpus: Optional[int],
    cloud_str: Optional[str],
    expected: int,
) -> None:
    """os.cpu_count() of 1, None (counts as 1), 5, 6 and 192 give the documented threads."""
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert py_impl.get_parallel_threads(cloud_str) == expected


@pytest.mark.reference
@pytest.mark.parametrize("cpus", [1, 2, None, 5, 192])
@pytest.mark.parametrize("cloud_str", [c for c, _ in MULTIPLIERS] + [c for c, _ in NO_LOWER])
def test_patched_cpu_counts_match_reference(
    py_impl: ModuleType,
    sky: Any,
    outcome: Outcome,
    monkeypatch: pytest.MonkeyPatch,
    cpus: Optional[int],
    cloud_str: Any,
) -> None:
    """With os.cpu_count patched, the twin returns or raises exactly what SkyPilot does."""
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    got = outcome(py_impl.get_parallel_threads, cloud_str)
    want = outcome(sky.subprocess.get_parallel_threads, cloud_str)
    assert (got, type(got[-1])) == (want, type(want[-1]))


@pytest.mark.parametrize(("cloud_str", "multiplier"), MULTIPLIERS, ids=repr)
def test_formula_with_real_cpu_count(impl: ModuleType, cloud_str: Any, multiplier: int) -> None:
    """Both implementations follow max(4, os.cpu_count() - 1) * m on this host."""
    got = impl.get_parallel_threads(cloud_str)
    assert type(got) is int
    assert got == _formula(os.cpu_count(), multiplier)


def test_default_and_keyword(impl: ModuleType) -> None:
    """cloud_str defaults to None and is accepted as a keyword."""
    expected = _formula(os.cpu_count(), 1)
    assert impl.get_parallel_threads() == expected
    assert impl.get_parallel_threads(cloud_str="kubernetes") == expected * 4


def test_lower_is_called_on_non_str(impl: ModuleType) -> None:
    """A truthy non-str object is asked for lower(), as the reference asks it."""
    assert impl.get_parallel_threads(Lowerable()) == _formula(os.cpu_count(), 4)


@pytest.mark.parametrize(("cloud_str", "message"), NO_LOWER, ids=repr)
def test_truthy_non_str_raises_attribute_error(
    impl: ModuleType, outcome: Outcome, cloud_str: Any, message: str
) -> None:
    """A truthy cloud_str without lower() raises the reference's AttributeError."""
    assert outcome(impl.get_parallel_threads, cloud_str) == ("err", AttributeError, message)


def test_container_aware_is_keyword_only(impl: ModuleType) -> None:
    """container_aware cannot be passed positionally."""
    with pytest.raises(TypeError):
        impl.get_parallel_threads(None, True)


@pytest.mark.parametrize(("cloud_str", "multiplier"), [(None, 1), ("Kubernetes", 4)])
def test_container_aware(impl: ModuleType, cloud_str: Optional[str], multiplier: int) -> None:
    """container_aware=True gives an int of at least 4 * m, a multiple of m, at most the host's."""
    try:
        importlib.import_module("skyfast.limits")
    except ImportError:
        pytest.skip("skyfast.limits is not available")
    got = impl.get_parallel_threads(cloud_str, container_aware=True)
    assert type(got) is int
    assert got >= 4 * multiplier
    assert got % multiplier == 0
    assert got <= _formula(os.cpu_count(), multiplier)


def test_container_aware_false_is_the_default(impl: ModuleType) -> None:
    """container_aware=False changes nothing (NEW keywords keep EXACT results)."""
    assert impl.get_parallel_threads("kubernetes", container_aware=False) == (
        impl.get_parallel_threads("kubernetes")
    )


CLOUD_STRS = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["kubernetes", "Kubernetes", "KUBERNETES", "k8s", "aws", "gcp", ""]),
    st.tuples(st.sampled_from(["", " ", "\t"]), st.sampled_from(["", " ", "\n"])).map(
        lambda pad: pad[0] + "kubernetes" + pad[1]
    ),
    st.lists(st.booleans(), min_size=10, max_size=10).map(
        lambda up: "".join(c.upper() if u else c for c, u in zip("kubernetes", up))
    ),
    st.sampled_from([KELVIN_K + "ubernetes", "\u0130", "kubernetes\u0301", "\U0001f600"]),
    st.binary(max_size=12),
    st.integers(),
    st.floats(),
    st.booleans(),
)


@given(cloud_str=CLOUD_STRS)
@example(cloud_str=KELVIN_K + "UBERNETES")
@example(cloud_str="kubernetes ")
@example(cloud_str=b"kubernetes")
@example(cloud_str=0)
@example(cloud_str=1)
def test_matches_python_twin(
    impl: ModuleType, py_impl: ModuleType, outcome: Outcome, cloud_str: Any
) -> None:
    """The compiled core and the pure-Python twin agree on every cloud_str, errors included."""
    got = outcome(impl.get_parallel_threads, cloud_str)
    want = outcome(py_impl.get_parallel_threads, cloud_str)
    assert (got, type(got[-1])) == (want, type(want[-1]))


@pytest.mark.reference
@given(cloud_str=CLOUD_STRS)
@example(cloud_str=KELVIN_K + "ubernetes")
@example(cloud_str="KUBERNETES")
@example(cloud_str=float("nan"))
@example(cloud_str=b"KUBERNETES")
def test_matches_reference(impl: ModuleType, sky: Any, outcome: Outcome, cloud_str: Any) -> None:
    """EXACT: the same thread count or exception as SkyPilot on this host."""
    got = outcome(impl.get_parallel_threads, cloud_str)
    want = outcome(sky.subprocess.get_parallel_threads, cloud_str)
    assert (got, type(got[-1])) == (want, type(want[-1]))


# os.cpu_count patched to each value: (threads, threads on Kubernetes) as SkyPilot 0.14.1
# computes them -- a float count gives float threads (max(4, 8.0 - 1) is 7.0).
PATCHED_CPU_COUNTS = [(64, (63, 252)), (None, (4, 16)), (8.0, (7.0, 28.0))]


@pytest.mark.reference
@pytest.mark.parametrize("cache_ttl", [0, 60], ids=["cache-off", "cache-on"])
def test_patched_cpu_count_is_asked_on_every_call(
    impl: ModuleType,
    sky: Any,
    outcome: Outcome,
    monkeypatch: pytest.MonkeyPatch,
    cache_ttl: float,
) -> None:
    """A patched os.cpu_count is honoured on every call, right after calls with the real one.

    Each patched value is checked after a call that used (and, cache on, cached) the real
    os.cpu_count: both implementations return the value and type SkyPilot does, never a
    cached count or the kernel's own (the compiled core used to ask sysconf directly).
    """
    real = _formula(os.cpu_count(), 1)
    impl.set_cache_ttl(cache_ttl)
    try:
        for cpus, (threads, k8s_threads) in PATCHED_CPU_COUNTS:
            assert impl.get_parallel_threads() == real  # the real one (cached when on)
            assert impl.get_parallel_threads("kubernetes") == real * 4
            with monkeypatch.context() as patch:
                patch.setattr(os, "cpu_count", lambda cpus=cpus: cpus)
                for cloud_str, expected in ((None, threads), ("kubernetes", k8s_threads)):
                    for _ in range(2):  # a second call sees the patched count too
                        got = outcome(impl.get_parallel_threads, cloud_str)
                        want = outcome(sky.subprocess.get_parallel_threads, cloud_str)
                        assert (got, type(got[-1])) == (want, type(want[-1])), (cpus, cloud_str)
                        assert (got, type(got[-1])) == (("ok", expected), type(expected))
            got = impl.get_parallel_threads()  # os.cpu_count restored: the real count again
            assert (got, type(got)) == (real, int)
    finally:
        impl.set_cache_ttl(0)
