"""`common.centering`'s load-time folds, in numpy: over a mean-zero input, a LayerNorm and the
projection it feeds equal a bare RMS normalization and the folded projection; a centered
projection writes mean-zero outputs. (The graphs that rely on them are checked against Hugging
Face by the families' parity tests.)"""

from __future__ import annotations

import numpy as np
import pytest
from max.graph.weights import WeightData

from common.centering import center_output, fold_norm, values

EPS = 1e-5
HIDDEN, OUT, TOKENS = 48, 40, 7


def layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(x.var(-1, keepdims=True) + EPS) * gain + bias


def rms_normalized(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + EPS)


def as_weights(arrays: dict[str, np.ndarray]) -> dict[str, WeightData]:
    return {k: WeightData.from_numpy(v.astype(np.float32), k) for k, v in arrays.items()}


@pytest.fixture
def block() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "norm.weight": rng.uniform(0.5, 1.5, HIDDEN),
        "norm.bias": rng.normal(0, 0.5, HIDDEN),
        "a.weight": rng.normal(0, 0.2, (OUT, HIDDEN)),
        "a.bias": rng.normal(0, 0.1, OUT),
        "b.weight": rng.normal(0, 0.2, (OUT, HIDDEN)),
        "b.bias": rng.normal(0, 0.1, OUT),
    }


def centered_input() -> np.ndarray:
    x = np.random.default_rng(1).normal(0, 2.0, (TOKENS, HIDDEN))
    return x - x.mean(-1, keepdims=True)


def projections(weights, names, x) -> list[np.ndarray]:
    return [x @ values(weights[f"{n}.weight"]).T + values(weights[f"{n}.bias"]) for n in names]


# float32 storage of the folded weights: a few ulps of outputs of order one.
TOLERANCE = 1e-5


@pytest.mark.parametrize("gain", [True, False])
def test_folded_norm_over_a_centered_input_is_the_layer_norm(block, gain):
    x = centered_input()
    stored = as_weights(block)
    normed = layer_norm(x, values(stored["norm.weight"]), values(stored["norm.bias"]))
    want = projections(stored, "ab", normed)

    folded = dict(stored)
    fold_norm(folded, bias="norm.bias", into="ab", gain="norm.weight" if gain else None)
    assert "norm.bias" not in folded
    n = rms_normalized(x) * values(folded["norm.weight"])
    if gain:
        assert np.array_equal(values(folded["norm.weight"]), np.ones(HIDDEN))
    for got, expected in zip(projections(folded, "ab", n), want, strict=True):
        np.testing.assert_allclose(got, expected, atol=TOLERANCE)

    # The wrong case: the bias dropped instead of folded differs by far more.
    dropped = dict(stored)
    dropped.pop("norm.bias")
    n = rms_normalized(x) * values(dropped["norm.weight"])
    assert np.abs(projections(dropped, "a", n)[0] - want[0]).max() > 100 * TOLERANCE


def test_a_centered_projection_writes_mean_zero_outputs(block):
    weights = as_weights(block)
    center_output(weights, "a")
    x = np.random.default_rng(2).normal(0, 1.0, (TOKENS, HIDDEN))
    (out,) = projections(weights, "a", x)
    np.testing.assert_allclose(out.mean(-1), 0.0, atol=TOLERANCE)
    (before,) = projections(as_weights(block), "a", x)
    # Centering removes each token's mean and nothing else.
    np.testing.assert_allclose(out, before - before.mean(-1, keepdims=True), atol=TOLERANCE)
    assert np.abs(before.mean(-1)).max() > 100 * TOLERANCE
