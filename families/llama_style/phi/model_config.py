"""Phi's graph config, translated from a Hugging Face `PhiConfig`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from max.pipelines.modeling.config_enums import SupportedEncoding

from common.config import (
    HEAD_DIM,
    HEADS,
    HIDDEN,
    INTERMEDIATE,
    KV_HEADS,
    LAYERS,
    NORM_EPS,
    POSITIONS,
    VOCAB,
    Field,
)

from ..rotary_config import (
    PARTIAL_ROTARY_KEYS,
    ROPE_REFUSALS,
    ROPE_THETA_KEYS,
    RotaryDecoderConfig,
    activation_refusal,
)


@dataclass(kw_only=True)
class PhiConfig(RotaryDecoderConfig):
    DEFAULT_ENCODING: ClassVar[SupportedEncoding] = "float32"
    # Verified: float32 on CPU (see docs/LLAMA_STYLE.md).
    SUPPORTED_ENCODINGS: ClassVar[set[SupportedEncoding]] = {"float32"}

    # Hugging Face's PhiConfig defaults are the defaults here.
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("vocab_size", VOCAB, default=51200, type=int),
        Field("max_positions", POSITIONS, default=2048, type=int),
        Field("hidden_size", HIDDEN, default=2048, type=int),
        Field("num_layers", LAYERS, default=24, type=int),
        Field("num_heads", HEADS, default=32, type=int),
        Field("num_kv_heads", KV_HEADS, derive=lambda f: f["num_heads"], type=int),
        Field("head_dim", HEAD_DIM, derive=lambda f: f["hidden_size"] // f["num_heads"], type=int),
        Field("intermediate_size", INTERMEDIATE, default=8192, type=int),
        Field("activation", ("hidden_act",), default="gelu_new", type=str),
        Field("layer_norm_eps", NORM_EPS, default=1e-5, type=float),
        Field("rope_theta", ROPE_THETA_KEYS, default=10000.0, type=float),
        Field("partial_rotary_factor", PARTIAL_ROTARY_KEYS, default=0.5, type=float),
        Field("qk_layernorm", ("qk_layernorm",), default=False, type=bool),
        Field("tie_word_embeddings", ("tie_word_embeddings",), default=False, type=bool),
    )
    REFUSALS = (*ROPE_REFUSALS, activation_refusal("hidden_act"))

    layer_norm_eps: float
    qk_layernorm: bool

    def __post_init__(self) -> None:
        if self.qk_layernorm and self.head_dim * self.num_heads != self.hidden_size:
            # Hugging Face sizes the q/k LayerNorms hidden_size // heads, not head_dim.
            raise ValueError(
                f"config.json: qk_layernorm needs head_dim ({self.head_dim}) * "
                f"num_attention_heads ({self.num_heads}) == hidden_size ({self.hidden_size})"
            )
        super().__post_init__()
