"""StableLM checkpoint tensors to graph weights, as a table.

The graph keeps the checkpoint's names without the `model.` prefix; every tensor maps as is,
the per-head q/k LayerNorms (`q_layernorm.norms.{head}.weight`) included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from max.graph.weights import WeightData, Weights

from common.mapping import MappingTable, Row
from common.max_weights import adapt_checkpoint

_LAYER = "layers.{layer}."
STABLELM_TABLE = MappingTable(
    rows=(
        Row("embed_tokens.weight", "embed_tokens.weight"),
        *(
            Row(f"{_LAYER}{name}.{part}", f"{_LAYER}{name}.{part}")
            for name in (
                "input_layernorm",
                "post_attention_layernorm",
                "self_attn.q_proj",
                "self_attn.k_proj",
                "self_attn.v_proj",
            )
            for part in ("weight", "bias")
        ),
        Row(f"{_LAYER}self_attn.o_proj.weight", f"{_LAYER}self_attn.o_proj.weight"),
        *(
            Row(
                f"{_LAYER}self_attn.{qk}_layernorm.norms.{{head}}.weight",
                f"{_LAYER}self_attn.{qk}_layernorm.norms.{{head}}.weight",
            )
            for qk in ("q", "k")
        ),
        *(
            Row(f"{_LAYER}mlp.{name}.weight", f"{_LAYER}mlp.{name}.weight")
            for name in ("gate_proj", "up_proj", "down_proj")
        ),
        Row("norm.weight", "norm.weight"),
        Row("norm.bias", "norm.bias"),
        Row("lm_head.weight", "lm_head.weight"),
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
    weights = adapt_checkpoint(state_dict, STABLELM_TABLE, pipeline_config=pipeline_config)
    if getattr(huggingface_config, "tie_word_embeddings", False):
        # A tied head is embed_tokens; Hugging Face ignores a stored copy, and so do we.
        weights.pop("lm_head.weight", None)
    return weights
