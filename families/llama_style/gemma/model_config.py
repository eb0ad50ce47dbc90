"""Gemma's graph config, translated from a Hugging Face `GemmaConfig`."""

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
    Refusal,
)

from ..rotary_config import (
    FULL_ROTARY_REFUSALS,
    PARTIAL_ROTARY_KEYS,
    ROPE_REFUSALS,
    ROPE_THETA_KEYS,
    RotaryDecoderConfig,
    activation_refusal,
    is_false,
)


@dataclass(kw_only=True)
class GemmaConfig(RotaryDecoderConfig):
    DEFAULT_ENCODING: ClassVar[SupportedEncoding] = "float32"
    # Verified: float32 on CPU (see docs/LLAMA_STYLE.md).
    SUPPORTED_ENCODINGS: ClassVar[set[SupportedEncoding]] = {"float32"}

    # Hugging Face's GemmaConfig defaults are the defaults here.
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("vocab_size", VOCAB, default=256000, type=int),
        Field("max_positions", POSITIONS, default=8192, type=int),
        Field("hidden_size", HIDDEN, default=3072, type=int),
        Field("num_layers", LAYERS, default=28, type=int),
        Field("num_heads", HEADS, default=16, type=int),
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
        Field("rope_theta", ROPE_THETA_KEYS, default=10000.0, type=float),
        Field("partial_rotary_factor", PARTIAL_ROTARY_KEYS, default=1.0, type=float),
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
