"""Phi (`PhiForCausalLM`: phi-1, phi-1.5, phi-2): one LayerNorm per block feeding attention and
MLP side by side (`x + attn(ln(x)) + mlp(ln(x))`), q/k/v projections with bias, an optional
LayerNorm of each q and k head, partial rotary, and an LM head whose bias stays when tied."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import HEAD_DIM, INTERMEDIATE, KV_HEADS, NORM_EPS, Field, size_fields
from common.decoder import DecoderPipelineModel

from .layers import RotaryDecoder
from .registration import layer_with_bias, model_table, rotary_architecture, with_bias
from .rotary_config import (
    ROPE_REFUSALS,
    Layout,
    RotaryConfig,
    activation_refusal,
    rope_fields,
)


@dataclass(kw_only=True)
class PhiConfig(RotaryConfig):
    # Hugging Face's PhiConfig defaults are the defaults here.
    FIELDS = (
        *size_fields(
            vocab_size=51200, max_positions=2048, hidden_size=2048, num_layers=24, num_heads=32
        ),
        Field("num_kv_heads", KV_HEADS, derive=lambda f: f["num_heads"], type=int),
        Field("head_dim", HEAD_DIM, derive=lambda f: f["hidden_size"] // f["num_heads"], type=int),
        Field("intermediate_size", INTERMEDIATE, default=8192, type=int),
        Field("activation", ("hidden_act",), default="gelu_new", type=str),
        Field("layer_norm_eps", NORM_EPS, default=1e-5, type=float),
        *rope_fields(partial_rotary_factor=0.5),
        Field("qk_layernorm", ("qk_layernorm",), default=False, type=bool),
        Field("tie_word_embeddings", ("tie_word_embeddings",), default=False, type=bool),
    )
    REFUSALS = (*ROPE_REFUSALS, activation_refusal("hidden_act"))

    layer_norm_eps: float
    qk_layernorm: bool

    def check(self) -> None:
        if self.qk_layernorm and self.head_dim * self.num_heads != self.hidden_size:
            # Hugging Face sizes the q/k LayerNorms hidden_size // heads, not head_dim.
            raise ValueError(
                f"config.json: qk_layernorm needs head_dim ({self.head_dim}) * "
                f"num_attention_heads ({self.num_heads}) == hidden_size ({self.hidden_size})"
            )

    @property
    def layout(self) -> Layout:
        return Layout(
            out_proj="dense",
            mlp=("fc1", "fc2"),
            final_norm="final_layernorm",
            norm_eps=self.layer_norm_eps,
            qkv_bias=True,
            out_bias=True,
            mlp_bias=True,
            lm_head_bias=True,
            qk_norm="shared" if self.qk_layernorm else None,
            parallel_residual=True,
            one_norm=True,
        )


PHI_TABLE = model_table(
    "embed_tokens.weight",
    *layer_with_bias("input_layernorm"),
    *layer_with_bias("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    *layer_with_bias("self_attn.q_layernorm", "self_attn.k_layernorm", "self_attn.dense"),
    *layer_with_bias("mlp.fc1", "mlp.fc2"),
    *with_bias("final_layernorm", "lm_head"),
)


class PhiModel(DecoderPipelineModel):
    model_config_cls = PhiConfig
    graph_cls = RotaryDecoder
    graph_name = "phi"


phi_arch = rotary_architecture(
    "PhiForCausalLM",
    ["microsoft/phi-1", "microsoft/phi-1_5", "microsoft/phi-2"],
    PhiModel,
    table="PHI_TABLE",
)
