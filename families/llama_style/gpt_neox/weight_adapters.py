"""GPT-NeoX checkpoint tensors to graph weights, as a table.

The graph keeps the checkpoint's names without the `gpt_neox.` prefix. `query_key_value` stays
fused: its rows are laid out per head as (q, k, v), which the graph splits after projecting.
Older saves (Pythia) carry causal-mask and rotary buffers that are not weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from max.graph.weights import WeightData, Weights

from common.mapping import MappingTable, Row
from common.max_weights import adapt_checkpoint

_LAYER = "layers.{layer}."
GPT_NEOX_TABLE = MappingTable(
    rows=(
        Row("embed_in.weight", "embed_in.weight"),
        *(
            Row(f"{_LAYER}{name}.{part}", f"{_LAYER}{name}.{part}")
            for name in (
                "input_layernorm",
                "post_attention_layernorm",
                "attention.query_key_value",
                "attention.dense",
                "mlp.dense_h_to_4h",
                "mlp.dense_4h_to_h",
            )
            for part in ("weight", "bias")
        ),
        Row("final_layer_norm.weight", "final_layer_norm.weight"),
        Row("final_layer_norm.bias", "final_layer_norm.bias"),
        Row("embed_out.weight", "embed_out.weight"),
    ),
    strip_prefixes=("gpt_neox.",),
    ignore=(
        f"{_LAYER}attention.bias",
        f"{_LAYER}attention.masked_bias",
        f"{_LAYER}attention.rotary_emb.inv_freq",
    ),
    optional_targets=("embed_out.weight",),
)


def convert_safetensor_state_dict(
    state_dict: Mapping[str, Weights],
    huggingface_config: Any = None,
    pipeline_config: Any = None,
    **_: Any,
) -> dict[str, WeightData]:
    weights = adapt_checkpoint(state_dict, GPT_NEOX_TABLE, pipeline_config=pipeline_config)
    if getattr(huggingface_config, "tie_word_embeddings", False):
        # A tied head is embed_in; Hugging Face ignores a stored copy, and so do we.
        weights.pop("embed_out.weight", None)
    return weights
