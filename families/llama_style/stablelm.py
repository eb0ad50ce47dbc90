"""StableLM (`StableLmForCausalLM`: stablelm-3b-4e1t, stablelm-2-1_6b, stablelm-zephyr-3b, ...):
LayerNorms with bias, GQA attention with partial rotary, optional q/k biases and per-head q/k
LayerNorms, a gated MLP, and attention and MLP either one after the other (the default) or side
by side on one LayerNorm (`use_parallel_residual`)."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import INTERMEDIATE, KV_HEADS, NORM_EPS, Field, size_fields
from common.decoder import DecoderPipelineModel

from .layers import RotaryDecoder
from .registration import LAYER, layer_with_bias, model_table, rotary_architecture, with_bias
from .rotary_config import ROPE_REFUSALS, Layout, RotaryConfig, activation_refusal, rope_fields


@dataclass(kw_only=True)
class StableLmConfig(RotaryConfig):
    HEADS_SPLIT_HIDDEN = True
    # Hugging Face's StableLmConfig defaults are the defaults here.
    FIELDS = (
        *size_fields(
            vocab_size=50304, max_positions=4096, hidden_size=2560, num_layers=32, num_heads=32
        ),
        Field("num_kv_heads", KV_HEADS, default=32, type=int),
        Field("head_dim", derive=lambda f: f["hidden_size"] // f["num_heads"]),
        Field("intermediate_size", INTERMEDIATE, default=6912, type=int),
        Field("activation", ("hidden_act",), default="silu", type=str),
        Field("layer_norm_eps", NORM_EPS, default=1e-5, type=float),
        *rope_fields(partial_rotary_factor=0.25),
        Field("use_qkv_bias", ("use_qkv_bias",), default=False, type=bool),
        Field("qk_layernorm", ("qk_layernorm",), default=False, type=bool),
        Field("use_parallel_residual", ("use_parallel_residual",), default=False, type=bool),
        Field("tie_word_embeddings", ("tie_word_embeddings",), default=False, type=bool),
    )
    REFUSALS = (*ROPE_REFUSALS, activation_refusal("hidden_act"))

    layer_norm_eps: float
    use_qkv_bias: bool
    qk_layernorm: bool
    use_parallel_residual: bool

    @property
    def layout(self) -> Layout:
        return Layout(
            norm_eps=self.layer_norm_eps,
            qkv_bias=self.use_qkv_bias,
            qk_norm="per_head" if self.qk_layernorm else None,
            parallel_residual=self.use_parallel_residual,
            one_norm=self.use_parallel_residual,
            residual_first=True,
        )


STABLELM_TABLE = model_table(
    "embed_tokens.weight",
    *layer_with_bias("input_layernorm", "post_attention_layernorm"),
    *layer_with_bias("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    f"{LAYER}self_attn.o_proj.weight",
    f"{LAYER}self_attn.q_layernorm.norms.{{head}}.weight",
    f"{LAYER}self_attn.k_layernorm.norms.{{head}}.weight",
    *(f"{LAYER}mlp.{name}.weight" for name in ("gate_proj", "up_proj", "down_proj")),
    *with_bias("norm"),
    "lm_head.weight",
)


class StableLmModel(DecoderPipelineModel):
    model_config_cls = StableLmConfig
    graph_cls = RotaryDecoder
    graph_name = "stablelm"


stablelm_arch = rotary_architecture(
    "StableLmForCausalLM",
    [
        "stabilityai/stablelm-3b-4e1t",
        "stabilityai/stablelm-2-1_6b",
        "stabilityai/stablelm-zephyr-3b",
    ],
    StableLmModel,
    table="STABLELM_TABLE",
)
