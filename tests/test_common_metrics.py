"""Logit comparison metrics used by the parity harness."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tooling.metrics import (
    BFLOAT16,
    FLOAT32,
    LogitMetrics,
    Thresholds,
    compare_logits,
    failures,
    first_divergence,
    passes,
    top2_margin,
)


def logits(seed: int = 0, shape: tuple[int, ...] = (2, 5, 32)) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 4


def test_identical_logits_are_perfect() -> None:
    ref = logits()
    m = compare_logits(ref, ref.copy())
    assert m == LogitMetrics(max_abs=0.0, rel=0.0, cosine=pytest.approx(1.0), kl=0.0)
    assert passes(m, FLOAT32)


def test_metrics_match_hand_computation() -> None:
    ref = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    test = np.array([[1.0, 2.0, 3.5], [0.0, 1.0, 0.0]])
    m = compare_logits(ref, test)
    assert m.max_abs == pytest.approx(1.0)
    assert m.rel == pytest.approx(1.0 / 3.0)
    # Row 2: ref is all zero and test is not, so cosine is 0 (the minimum row).
    assert m.cosine == pytest.approx(0.0)
    p = np.full(3, 1 / 3)
    q = np.exp([0.0, 1.0, 0.0]) / np.exp([0.0, 1.0, 0.0]).sum()
    assert m.kl == pytest.approx(float(np.sum(p * np.log(p / q))))


def test_worst_row_dominates() -> None:
    ref = logits(shape=(4, 16))
    test = ref.copy()
    test[2] = -test[2]
    m = compare_logits(ref, test)
    assert m.cosine == pytest.approx(-1.0)
    assert not passes(m, BFLOAT16)
    assert any("cosine" in line for line in failures(m, BFLOAT16))


@settings(max_examples=30, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 4), st.integers(2, 16)),
        elements=st.floats(-30, 30, width=32),
    ),
    st.floats(0.0, 1.0),
)
def test_kl_is_nonnegative_and_finite(ref: np.ndarray, noise: float) -> None:
    test = ref + noise * np.sin(np.arange(ref.size, dtype=np.float32)).reshape(ref.shape)
    m = compare_logits(ref, test)
    assert 0.0 <= m.kl < np.inf
    assert -1.0 - 1e-9 <= m.cosine <= 1.0 + 1e-9


def test_large_logits_do_not_overflow() -> None:
    ref = np.array([[1e4, 0.0, -1e4]], dtype=np.float32)
    m = compare_logits(ref, ref + np.float32(1e-3))
    assert np.isfinite(m.kl) and m.kl < 1e-9


def test_masked_minus_inf_entries_compare_equal() -> None:
    ref = np.array([[0.0, 1.0, -np.inf]])
    m = compare_logits(ref, ref.copy())
    assert m.max_abs == 0.0 and m.kl == 0.0


def test_nan_fails_every_threshold() -> None:
    ref = logits(shape=(1, 8))
    test = ref.copy()
    test[0, 3] = np.nan
    m = compare_logits(ref, test)
    assert not passes(m, Thresholds(max_rel=np.inf, min_cosine=-np.inf, max_kl=np.inf))


def test_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"reference \(2, 5, 32\), test \(2, 5, 31\)"):
        compare_logits(logits(), logits(shape=(2, 5, 31)))


def test_small_float32_noise_passes_float32_thresholds() -> None:
    ref = logits().astype(np.float64)
    rng = np.random.default_rng(1)
    test = ref + rng.standard_normal(ref.shape) * 1e-6
    assert passes(compare_logits(ref, test), FLOAT32)
    assert not passes(compare_logits(ref, ref + rng.standard_normal(ref.shape) * 0.1), FLOAT32)


def test_bfloat16_rounding_passes_bfloat16_thresholds() -> None:
    ref = logits(shape=(8, 64))
    # Keep 8 mantissa bits, as a bfloat16 cast does.
    bf16 = (ref.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    assert passes(compare_logits(ref, bf16), BFLOAT16)


@pytest.mark.parametrize(
    ("ref", "test", "expected"),
    [
        ([1, 2, 3], [1, 2, 3], None),
        ([1, 2, 3], [1, 5, 3], 1),
        ([1, 2, 3], [1, 2], 2),
        ([], [], None),
        ([7], [8], 0),
    ],
)
def test_first_divergence(ref: list[int], test: list[int], expected: int | None) -> None:
    assert first_divergence(ref, test) == expected


def test_top2_margin() -> None:
    x = np.array([[[1.0, 5.0, 3.0], [2.0, 2.0, 0.0]]])
    np.testing.assert_allclose(top2_margin(x), [[2.0, 0.0]])
    with pytest.raises(ValueError, match="at least 2"):
        top2_margin(np.zeros((3, 1)))
