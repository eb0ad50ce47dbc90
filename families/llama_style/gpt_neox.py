"""GPT-NeoX (`GPTNeoXForCausalLM`: Pythia, GPT-NeoX-20B, RedPajama-INCITE, ...): one fused
`query_key_value` laid out per head as (q, k, v), partial rotary, LayerNorms with bias, attention
and MLP side by side (parallel residual, the default) or one after the other. Older saves
(Pythia) carry causal-mask and rotary buffers that are not weights."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import INTERMEDIATE, NORM_EPS, Field, size_fields
from common.decoder import DecoderPipelineModel
from common.mapping import MappingTable, Row
from common.transforms import per_head_qkv_to_contiguous_rule

from .layers import RotaryDecoder
from .registration import LAYER, layer_with_bias, rotary_architecture, same_names, with_bias
from .rotary_config import (
    ROPE_REFUSALS,
    Layout,
    RotaryConfig,
    activation_refusal,
    rope_fields,
)


@dataclass(kw_only=True)
class GPTNeoXConfig(RotaryConfig):
    HEADS_SPLIT_HIDDEN = True
    # Hugging Face's GPTNeoXConfig defaults are the defaults here.
    FIELDS = (
        *size_fields(
            vocab_size=50432, max_positions=2048, hidden_size=6144, num_layers=44, num_heads=64
        ),
        Field("num_kv_heads", derive=lambda f: f["num_heads"]),
        Field("head_dim", derive=lambda f: f["hidden_size"] // f["num_heads"]),
        Field("intermediate_size", INTERMEDIATE, default=24576, type=int),
        Field("activation", ("hidden_act",), default="gelu", type=str),
        Field("layer_norm_eps", NORM_EPS, default=1e-5, type=float),
        *rope_fields(partial_rotary_factor=0.25),
        Field("use_parallel_residual", ("use_parallel_residual",), default=True, type=bool),
        Field("attention_bias", ("attention_bias",), default=True, type=bool),
        Field("tie_word_embeddings", ("tie_word_embeddings",), default=False, type=bool),
    )
    REFUSALS = (*ROPE_REFUSALS, activation_refusal("hidden_act"))

    layer_norm_eps: float
    use_parallel_residual: bool
    attention_bias: bool

    @property
    def layout(self) -> Layout:
        return Layout(
            embedding="embed_in",
            attention="attention",
            out_proj="dense",
            mlp=("dense_h_to_4h", "dense_4h_to_h"),
            final_norm="final_layer_norm",
            lm_head="embed_out",
            norm_eps=self.layer_norm_eps,
            fused_qkv=True,
            qkv_bias=self.attention_bias,
            out_bias=self.attention_bias,
            mlp_bias=True,
            parallel_residual=self.use_parallel_residual,
        )


GPT_NEOX_TABLE = MappingTable(
    rows=(
        *same_names(
            "embed_in.weight",
            *layer_with_bias("input_layernorm", "post_attention_layernorm"),
            *layer_with_bias("attention.dense"),
            *layer_with_bias("mlp.dense_h_to_4h", "mlp.dense_4h_to_h"),
            *with_bias("final_layer_norm"),
            "embed_out.weight",
        ),
        # Stored per head as (q, k, v); the graph splits [q | k | v].
        *(
            Row(name, name, per_head_qkv_to_contiguous_rule)
            for name in layer_with_bias("attention.query_key_value")
        ),
    ),
    strip_prefixes=("gpt_neox.",),
    ignore=(
        f"{LAYER}attention.bias",
        f"{LAYER}attention.masked_bias",
        f"{LAYER}attention.rotary_emb.inv_freq",
    ),
    optional_targets=("embed_out.weight",),
)


class GPTNeoXModel(DecoderPipelineModel):
    model_config_cls = GPTNeoXConfig
    graph_cls = RotaryDecoder
    graph_name = "gpt_neox"


gpt_neox_arch = rotary_architecture(
    "GPTNeoXForCausalLM",
    [
        "EleutherAI/pythia-70m",
        "EleutherAI/pythia-410m",
        "EleutherAI/pythia-1.4b",
        "EleutherAI/gpt-neox-20b",
    ],
    GPTNeoXModel,
    table="GPT_NEOX_TABLE",
)
