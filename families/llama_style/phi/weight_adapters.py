"""Phi checkpoint tensors to graph weights, as a table.

The graph keeps the checkpoint's names without the `model.` prefix; every tensor maps as is.
Phi's LM head has a bias, which stays when the head weight is tied to the embedding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from max.graph.weights import WeightData, Weights

from common.mapping import MappingTable, Row
from common.max_weights import adapt_checkpoint

_LAYER = "layers.{layer}."
PHI_TABLE = MappingTable(
    rows=(
        Row("embed_tokens.weight", "embed_tokens.weight"),
        *(
            Row(f"{_LAYER}{name}.{part}", f"{_LAYER}{name}.{part}")
            for name in (
                "input_layernorm",
                "self_attn.q_proj",
                "self_attn.k_proj",
                "self_attn.v_proj",
                "self_attn.q_layernorm",
                "self_attn.k_layernorm",
                "self_attn.dense",
                "mlp.fc1",
                "mlp.fc2",
            )
            for part in ("weight", "bias")
        ),
        Row("final_layernorm.weight", "final_layernorm.weight"),
        Row("final_layernorm.bias", "final_layernorm.bias"),
        Row("lm_head.weight", "lm_head.weight"),
        Row("lm_head.bias", "lm_head.bias"),
    ),
    strip_prefixes=("model.",),
    ignore=(f"{_LAYER}self_attn.rotary_emb.inv_freq",),
    optional_targets=("lm_head.weight",),
)


def convert_safetensor_state_dict(
    state_dict: Mapping[str, Weights],
    huggingface_config: Any = None,
    pipeline_config: Any = None,
    **_: Any,
) -> dict[str, WeightData]:
    weights = adapt_checkpoint(state_dict, PHI_TABLE, pipeline_config=pipeline_config)
    if getattr(huggingface_config, "tie_word_embeddings", False):
        # A tied head weight is embed_tokens; Hugging Face ignores a stored copy, and so do we.
        weights.pop("lm_head.weight", None)
    return weights
