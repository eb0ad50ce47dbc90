"""Rotary decoders over a centered residual stream (`common.centering`): the blocks' LayerNorms
run as RMSNorms that only normalize, each norm's gain and bias folded at load into the
projections it feeds, and the two writers of each block (the attention's output projection
and the MLP's last) centered over their output channels. The graph subtracts each token's mean
from its embedding; the final norm stays a LayerNorm.

A parallel block's two norms (GPT-NeoX) then normalize the same input the same way, so the
graph runs one: the attention's gain goes into the q/k/v projection, the MLP's into its first.

Which layouts (`RotaryConfig.centered_residual`): LayerNorms, and projections fed by them that
have biases to take the norms' (GPT-NeoX, Phi, Starcoder2 as Hugging Face configures them).
"""

from __future__ import annotations

from collections.abc import Mapping

from max.graph.weights import WeightData

from common.centering import center_output, fold_norm

from .rotary_config import RotaryConfig


def norms_and_inputs(config: RotaryConfig, layer: int) -> list[tuple[str, list[str]]]:
    """A block's norms (graph names, less `.weight`) and the projections each one feeds."""
    layout = config.layout
    block = f"layers.{layer}."
    attention = f"{block}{layout.attention}."
    parts = ("query_key_value",) if layout.fused_qkv else ("q_proj", "k_proj", "v_proj")
    qkv = [attention + part for part in parts]
    mlp_in = [f"{block}mlp.{layout.mlp[0]}"]
    if layout.one_norm:
        return [(f"{block}input_layernorm", qkv + mlp_in)]
    return [(f"{block}input_layernorm", qkv), (f"{block}post_attention_layernorm", mlp_in)]


def stream_writers(config: RotaryConfig, layer: int) -> list[str]:
    layout = config.layout
    block = f"layers.{layer}."
    return [f"{block}{layout.attention}.{layout.out_proj}", f"{block}mlp.{layout.mlp[-1]}"]


def folded_norm_weights(config: RotaryConfig) -> list[str]:
    """The checkpoint's norm weights the centered graph does not bind: every block norm's bias,
    and the second norm's gain where a parallel block runs one norm."""
    names = []
    for layer in range(config.num_layers):
        norms = norms_and_inputs(config, layer)
        names += [f"{norm}.bias" for norm, _ in norms]
        if config.mlp_reads_attention_norm and len(norms) == 2:
            names.append(f"{norms[1][0]}.weight")
    return names


def center_residual(
    config: RotaryConfig, weights: Mapping[str, WeightData]
) -> dict[str, WeightData]:
    """The checked weights (named as the LayerNorm graph names them) for the centered graph."""
    out = dict(weights)
    for layer in range(config.num_layers):
        norms = norms_and_inputs(config, layer)
        for norm, inputs in norms:
            fold_norm(out, bias=f"{norm}.bias", into=inputs, gain=f"{norm}.weight")
        if config.mlp_reads_attention_norm and len(norms) == 2:
            del out[f"{norms[1][0]}.weight"]
        for projection in stream_writers(config, layer):
            center_output(out, projection)
    return out
