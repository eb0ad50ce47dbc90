"""Logit comparison for the parity harness (numpy only, so it runs beside any backend).

Metrics are taken over rows of [..., vocab] arrays in float64 and summarised by the worst row,
because one bad position is a bug even when the average looks fine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LogitMetrics:
    """Worst-case agreement between reference and test logits."""

    max_abs: float  # max |ref - test|
    rel: float  # max_abs / max |ref|
    cosine: float  # min over rows of cosine similarity
    kl: float  # max over rows of KL(softmax(ref) || softmax(test))

    def __str__(self) -> str:
        return (
            f"max_abs={self.max_abs:.3g} rel={self.rel:.3g} "
            f"cosine={self.cosine:.8f} kl={self.kl:.3g}"
        )


@dataclass(frozen=True)
class Thresholds:
    """Pass limits for LogitMetrics at one precision."""

    max_rel: float
    min_cosine: float
    max_kl: float


# float32 graph vs float32 reference: only summation-order noise is allowed. A float32 dot
# product of n terms rounds by ~sqrt(n) * u * sum|terms| (u = 2**-24; n * u at worst): ~1e-6 of
# the logit scale at n = 256, compounded over a few layers, so max_rel keeps a margin of 10x or
# more. A logit error of max_rel * scale bounds 1 - cosine by vocab * max_rel**2 / 2 (2.6e-6 at
# vocab 512) and KL by (max_rel * scale)**2 / 2 (1e-6 at a logit scale of 14).
FLOAT32 = Thresholds(max_rel=1e-4, min_cosine=0.99999, max_kl=1e-6)
# bfloat16 keeps ~3 significant digits (eps 2**-8), and the error compounds over layers.
BFLOAT16 = Thresholds(max_rel=5e-2, min_cosine=0.999, max_kl=1e-2)
# float16 has 3 more mantissa bits than bfloat16.
FLOAT16 = Thresholds(max_rel=1e-2, min_cosine=0.9999, max_kl=1e-3)


def _rows(logits: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(logits, dtype=np.float64)
    if array.ndim == 0:
        raise ValueError(f"{name}: expected logits shaped [..., vocab], found a scalar")
    return array.reshape(-1, array.shape[-1])


def _log_softmax(rows: np.ndarray) -> np.ndarray:
    top = np.max(rows, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)  # all -inf row: leave it -inf, not nan
    shifted = rows - top
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _kl_rows(ref: np.ndarray, test: np.ndarray) -> np.ndarray:
    log_p, log_q = _log_softmax(ref), _log_softmax(test)
    p = np.exp(log_p)
    with np.errstate(invalid="ignore"):
        terms = np.where(p > 0, p * (log_p - log_q), 0.0)
    # Rounding can push an exact match a hair below zero.
    return np.maximum(np.sum(terms, axis=-1), 0.0)


def _cosine_rows(ref: np.ndarray, test: np.ndarray) -> np.ndarray:
    dot = np.sum(ref * test, axis=-1)
    norms = np.linalg.norm(ref, axis=-1) * np.linalg.norm(test, axis=-1)
    both_zero = (np.linalg.norm(ref, axis=-1) == 0) & (np.linalg.norm(test, axis=-1) == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.where(norms > 0, dot / norms, 0.0)
    return np.where(both_zero, 1.0, cosine)


def compare_logits(ref: np.ndarray, test: np.ndarray) -> LogitMetrics:
    """Worst-row metrics of `test` against the reference; both shaped [..., vocab]."""
    ref_shape, test_shape = np.shape(ref), np.shape(test)
    if ref_shape != test_shape:
        raise ValueError(
            f"logit shapes differ: reference {tuple(ref_shape)}, test {tuple(test_shape)}"
        )
    r, t = _rows(ref, "reference"), _rows(test, "test")
    if r.size == 0:
        raise ValueError(f"logits are empty: shape {tuple(ref_shape)}")
    with np.errstate(invalid="ignore"):
        # Equal entries (including equal infinities from masking) differ by zero, not nan.
        diff = np.where(r == t, 0.0, np.abs(r - t))
    max_abs = float(np.max(diff))
    scale = float(np.max(np.abs(r)))
    if scale > 0:
        rel = max_abs / scale
    else:
        rel = 0.0 if max_abs == 0 else float("inf")
    finite = np.isfinite(r).all() and np.isfinite(t).all()
    cosine = float(np.min(_cosine_rows(r, t))) if finite else float("nan")
    return LogitMetrics(max_abs=max_abs, rel=rel, cosine=cosine, kl=float(np.max(_kl_rows(r, t))))


def first_divergence(ref_tokens: Sequence[int], test_tokens: Sequence[int]) -> int | None:
    """First index where the token streams differ (or where the shorter one ends); None if same."""
    for i, (a, b) in enumerate(zip(ref_tokens, test_tokens, strict=False)):
        if int(a) != int(b):
            return i
    if len(ref_tokens) != len(test_tokens):
        return min(len(ref_tokens), len(test_tokens))
    return None


def top2_margin(logits: np.ndarray) -> np.ndarray:
    """Per row top1 - top2; a greedy-token comparison is only meaningful where this is not tiny."""
    array = np.asarray(logits, dtype=np.float64)
    if array.ndim == 0 or array.shape[-1] < 2:
        raise ValueError(f"top2_margin needs a vocab axis of at least 2, found shape {array.shape}")
    top2 = np.partition(array, -2, axis=-1)[..., -2:]
    return top2[..., 1] - top2[..., 0]


def failures(metrics: LogitMetrics, thresholds: Thresholds) -> list[str]:
    """Which limits `metrics` breaks, as readable lines (empty when it passes); NaN always fails."""
    out = []
    if not metrics.rel <= thresholds.max_rel:
        out.append(f"rel {metrics.rel:.3g} > max_rel {thresholds.max_rel:g}")
    if not metrics.cosine >= thresholds.min_cosine:
        out.append(f"cosine {metrics.cosine:.8f} < min_cosine {thresholds.min_cosine:g}")
    if not metrics.kl <= thresholds.max_kl:
        out.append(f"kl {metrics.kl:.3g} > max_kl {thresholds.max_kl:g}")
    return out


def passes(m: LogitMetrics, t: Thresholds) -> bool:
    """True when every metric is within the thresholds."""
    return not failures(m, t)
