"""GPT-2 over a centered residual stream, where a block's LayerNorms are RMSNorms.

LayerNorm(x) = g (x - mean x) / sqrt(var x + eps) + b. If every token's residual vector has
mean zero, that is RMSNorm(x) with weight g, plus b; and b goes into the next projection's
bias, W (g n + b) + c = W (g n) + (W b + c). The stream starts centered (the graph subtracts
the mean of each token's embedding sum) and stays centered when both branches of a block end
in mean-zero vectors: each c_proj's weight columns and bias centered over the output channels.
`ln_f` stays a LayerNorm and reads the same stream (a LayerNorm removes the mean anyway).

Only float weights are folded: a matrix kept in a GGUF block format cannot be changed at load,
so a file with one keeps the LayerNorm graph (`GPT2Config.centered_residual`).
`python tools/centered_residual_check.py` checks the algebra against Hugging Face's block.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from max.dtype import DType
from max.graph.weights import WeightData

# A block's LayerNorm biases, which the fold moves into the projection each norm feeds.
NORM_BIAS_INTO = (
    ("ln_1.bias", "attn.c_attn"),
    ("ln_2.bias", "mlp.c_fc"),
)
# The projections that write into the residual stream.
STREAM_WRITERS = ("attn.c_proj", "mlp.c_proj")


def _values(weight: WeightData) -> np.ndarray:
    if weight.dtype != DType.float32:
        weight = weight.astype(DType.float32)
    return np.from_dlpack(weight.data).astype(np.float64)


def _weight(values: np.ndarray, name: str, like: WeightData) -> WeightData:
    out = WeightData.from_numpy(np.ascontiguousarray(values, dtype=np.float32), name)
    return out if like.dtype == DType.float32 else out.astype(like.dtype)


def center_residual(weights: Mapping[str, WeightData], num_layers: int) -> dict[str, WeightData]:
    """`weights` (the LayerNorm graph's, checked and named as the graph names them) for the
    centered graph: each block's LayerNorm biases folded into c_attn's and c_fc's, and both
    c_proj's outputs centered. Computed in float64."""
    out = dict(weights)
    for layer in range(num_layers):
        block = f"h.{layer}."
        for norm_bias, projection in NORM_BIAS_INTO:
            shift = _values(out.pop(block + norm_bias))
            matrix = _values(out[f"{block}{projection}.weight"])
            name = f"{block}{projection}.bias"
            out[name] = _weight(_values(out[name]) + matrix @ shift, name, out[name])
        for projection in STREAM_WRITERS:
            for part in ("weight", "bias"):
                name = f"{block}{projection}.{part}"
                stored = _values(out[name])
                out[name] = _weight(stored - stored.mean(axis=0), name, out[name])
    return out
