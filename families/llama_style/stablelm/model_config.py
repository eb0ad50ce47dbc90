"""StableLM's graph config, translated from a Hugging Face `StableLmConfig`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from max.pipelines.modeling.config_enums import SupportedEncoding

from common.config import (
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
class StableLmConfig(RotaryDecoderConfig):
    DEFAULT_ENCODING: ClassVar[SupportedEncoding] = "float32"
    # Verified: float32 on CPU (see docs/LLAMA_STYLE.md).
    SUPPORTED_ENCODINGS: ClassVar[set[SupportedEncoding]] = {"float32"}

    # Hugging Face's StableLmConfig defaults are the defaults here.
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("vocab_size", VOCAB, default=50304, type=int),
        Field("max_positions", POSITIONS, default=4096, type=int),
        Field("hidden_size", HIDDEN, default=2560, type=int),
        Field("num_layers", LAYERS, default=32, type=int),
        Field("num_heads", HEADS, default=32, type=int),
        Field("num_kv_heads", KV_HEADS, default=32, type=int),
        Field("head_dim", derive=lambda f: f["hidden_size"] // f["num_heads"]),
        Field("intermediate_size", INTERMEDIATE, default=6912, type=int),
        Field("activation", ("hidden_act",), default="silu", type=str),
        Field("layer_norm_eps", NORM_EPS, default=1e-5, type=float),
        Field("rope_theta", ROPE_THETA_KEYS, default=10000.0, type=float),
        Field("partial_rotary_factor", PARTIAL_ROTARY_KEYS, default=0.25, type=float),
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

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"config.json: hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_heads})"
            )
        super().__post_init__()
