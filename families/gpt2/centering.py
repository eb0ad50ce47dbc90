"""GPT-2 over a centered residual stream, where a block's LayerNorms are RMSNorms.

The algebra is `common.centering`'s. Here: the graph subtracts the mean of each token's
embedding sum; a block's LayerNorms are RMSNorms with their own weights, their biases folded
into c_attn's and c_fc's; both c_proj's outputs are centered; `ln_f` stays a LayerNorm.

Only float weights are folded: a matrix kept in a GGUF block format cannot be changed at load,
so a file with one keeps the LayerNorm graph (`GPT2Config.centered_residual`).
`python tools/centered_residual_check.py` checks the algebra against Hugging Face's block.
"""

from __future__ import annotations

from collections.abc import Mapping

from max.graph.weights import WeightData

from common.centering import center_output, fold_norm

# A block's LayerNorm biases, which the fold moves into the projection each norm feeds.
NORM_BIAS_INTO = (
    ("ln_1.bias", "attn.c_attn"),
    ("ln_2.bias", "mlp.c_fc"),
)
# The projections that write into the residual stream.
STREAM_WRITERS = ("attn.c_proj", "mlp.c_proj")


def center_residual(weights: Mapping[str, WeightData], num_layers: int) -> dict[str, WeightData]:
    """`weights` (the LayerNorm graph's, checked and named as the graph names them) for the
    centered graph: each block's LayerNorm biases folded into c_attn's and c_fc's, and both
    c_proj's outputs centered (`common.centering`)."""
    out = dict(weights)
    for layer in range(num_layers):
        block = f"h.{layer}."
        for norm_bias, projection in NORM_BIAS_INTO:
            fold_norm(out, bias=block + norm_bias, into=[block + projection])
        for projection in STREAM_WRITERS:
            center_output(out, block + projection)
    return out
