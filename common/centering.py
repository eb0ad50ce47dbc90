"""A residual stream kept centered, where pre-norm LayerNorms are RMSNorms.

LayerNorm(x) = g (x - mean x) / sqrt(var x + eps) + b. If every token's residual vector has
mean zero, that is g RMSNorm(x) + b (the same eps), and the norm's bias, and if wanted its
gain, go into the projection the norm feeds: W (g n + b) + c = (W diag g) n + (W b + c). The
stream starts centered when the graph subtracts each token's mean from its embedding, and stays
centered when every branch that writes into it ends in a projection whose output channels are
centered (the weight's rows and the bias, each less its mean over the output channels). A
final LayerNorm can stay one: it removes the mean anyway.

These are the load-time halves, over graph-named float weights, computed in float64;
families/gpt2/centering.py and families/llama_style/centering.py say which norms feed which
projections.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from max.dtype import DType
from max.graph.weights import WeightData


def values(weight: WeightData) -> np.ndarray:
    """The weight in float64."""
    if weight.dtype != DType.float32:
        weight = weight.astype(DType.float32)
    return np.from_dlpack(weight.data).astype(np.float64)


def stored(array: np.ndarray, name: str, like: WeightData) -> WeightData:
    """`array` as a weight named `name` in `like`'s dtype."""
    out = WeightData.from_numpy(np.ascontiguousarray(array, dtype=np.float32), name)
    return out if like.dtype == DType.float32 else out.astype(like.dtype)


def fold_norm(
    weights: dict[str, WeightData],
    *,
    bias: str,
    into: Iterable[str],
    gain: str | None = None,
) -> None:
    """Moves the norm bias `bias` (removed from `weights`) into the biases of the projections
    `into` (each `name.weight` [out, in], `name.bias` [out]); with `gain`, also the norm's gain,
    which then becomes ones: the norm only normalizes."""
    shift = values(weights.pop(bias))
    scale = values(weights[gain]) if gain is not None else None
    for projection in into:
        matrix = values(weights[f"{projection}.weight"])
        name = f"{projection}.bias"
        weights[name] = stored(values(weights[name]) + matrix @ shift, name, weights[name])
        if scale is not None:
            name = f"{projection}.weight"
            weights[name] = stored(matrix * scale, name, weights[name])
    if gain is not None:
        weights[gain] = stored(np.ones_like(scale), gain, weights[gain])


def center_output(weights: dict[str, WeightData], projection: str) -> None:
    """Centers the projection's output channels: its weight's rows and its bias, if any, less
    their mean over the output channels."""
    for part in ("weight", "bias"):
        name = f"{projection}.{part}"
        if name in weights:
            array = values(weights[name])
            weights[name] = stored(array - array.mean(axis=0), name, weights[name])
