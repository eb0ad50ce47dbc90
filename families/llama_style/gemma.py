"""Gemma (`GemmaForCausalLM`: gemma-2b, gemma-7b, gemma-1.1, CodeGemma): embeddings scaled by
sqrt(hidden), RMSNorm scaling by (1 + weight), its own head_dim, fewer KV heads (MQA/GQA), full
rotary, a gated GELU MLP. RMSNorm weights stay as stored (the graph adds Gemma's 1); the head is
tied to the embedding unless the config says otherwise."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import (
    HEAD_DIM,
    INTERMEDIATE,
    KV_HEADS,
    NORM_EPS,
    Field,
    Refusal,
    is_false,
    size_fields,
)
from common.decoder import DecoderPipelineModel

from .layers import RotaryDecoder
from .registration import LAYER, layer_with_bias, model_table, rotary_architecture
from .rotary_config import (
    FULL_ROTARY_REFUSALS,
    ROPE_REFUSALS,
    Layout,
    RotaryConfig,
    activation_refusal,
    rope_fields,
)


@dataclass(kw_only=True)
class GemmaConfig(RotaryConfig):
    # Hugging Face's GemmaConfig defaults are the defaults here.
    FIELDS = (
        *size_fields(
            vocab_size=256000, max_positions=8192, hidden_size=3072, num_layers=28, num_heads=16
        ),
        Field("num_kv_heads", KV_HEADS, default=16, type=int),
        Field("head_dim", HEAD_DIM, default=256, type=int),
        Field("intermediate_size", INTERMEDIATE, default=24576, type=int),
        # Gemma checkpoints name their activation in `hidden_activation` when `hidden_act`
        # still says the legacy "gelu"; the explicit one wins (see docs/LLAMA_STYLE.md).
        Field(
            "activation",
            ("hidden_activation", "hidden_act"),
            default="gelu_pytorch_tanh",
            type=str,
        ),
        Field("rms_norm_eps", NORM_EPS, default=1e-6, type=float),
        *rope_fields(partial_rotary_factor=1.0),
        Field("attention_bias", ("attention_bias",), default=False, type=bool),
        Field("tie_word_embeddings", ("tie_word_embeddings",), default=True, type=bool),
    )
    REFUSALS = (
        *ROPE_REFUSALS,
        activation_refusal("hidden_activation"),
        activation_refusal("hidden_act"),
        Refusal(
            "use_bidirectional_attention",
            is_false,
            "bidirectional (non-causal) attention is not a causal-LM decode",
        ),
        *FULL_ROTARY_REFUSALS,
    )

    rms_norm_eps: float
    attention_bias: bool

    @property
    def layout(self) -> Layout:
        return Layout(
            norm_eps=self.rms_norm_eps,
            norm="rms_plus_one",
            qkv_bias=self.attention_bias,
            out_bias=self.attention_bias,
            scale_embedding=True,
        )


GEMMA_TABLE = model_table(
    "embed_tokens.weight",
    f"{LAYER}input_layernorm.weight",
    f"{LAYER}post_attention_layernorm.weight",
    *layer_with_bias("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    *layer_with_bias("self_attn.o_proj"),
    *layer_with_bias("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"),
    "norm.weight",
    "lm_head.weight",
)


class GemmaModel(DecoderPipelineModel):
    model_config_cls = GemmaConfig
    graph_cls = RotaryDecoder
    graph_name = "gemma"


gemma_arch = rotary_architecture(
    "GemmaForCausalLM",
    [
        "google/gemma-2b",
        "google/gemma-7b",
        "google/gemma-1.1-2b-it",
        "google/codegemma-2b",
    ],
    GemmaModel,
    table="GEMMA_TABLE",
)
