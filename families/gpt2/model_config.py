"""GPT-2's graph config, translated from a Hugging Face `GPT2Config`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from max.pipelines.modeling.config_enums import SupportedEncoding

from common.arch_config import TranslatedDecoderConfig
from common.config import HEADS, HIDDEN, LAYERS, NORM_EPS, POSITIONS, VOCAB, Field, Refusal

# Kept in step with `gpt2.ACTIVATIONS` (tests check both name the same set).
SUPPORTED_ACTIVATIONS = frozenset(
    {"gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu", "quick_gelu", "relu", "silu",
     "swish", "tanh", "sigmoid"}
)


def _is_false(value: object) -> bool:
    return not value


@dataclass(kw_only=True)
class GPT2Config(TranslatedDecoderConfig):
    DEFAULT_ENCODING: ClassVar[SupportedEncoding] = "float32"
    # Verified: float32 on the CPU (safetensors, and F16/F32 GGUF files), and q4_k on the CPU
    # with llama.cpp's Q4_K_M files (tests/gpt2/test_gguf.py). q4_0 and q6_k files ran in
    # exploration but no test checks them yet. bfloat16 is unlisted: on an H200 the trained
    # Shakespeare checkpoint's logits go wrong once the prefix cache is hit (docs/GPT2.md).
    SUPPORTED_ENCODINGS: ClassVar[set[SupportedEncoding]] = {"float32", "q4_k"}

    # Hugging Face's GPT2Config defaults are the defaults here.
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("vocab_size", VOCAB, default=50257, type=int),
        Field("max_positions", POSITIONS, default=1024, type=int),
        Field("hidden_size", HIDDEN, default=768, type=int),
        Field("num_layers", LAYERS, default=12, type=int),
        Field("num_heads", HEADS, default=12, type=int),
        Field("num_kv_heads", derive=lambda f: f["num_heads"]),
        Field("head_dim", derive=lambda f: f["hidden_size"] // f["num_heads"]),
        Field("intermediate_size", ("n_inner",), derive=lambda f: 4 * f["hidden_size"], type=int),
        Field("activation", ("activation_function",), default="gelu_new", type=str),
        Field("layer_norm_eps", NORM_EPS, default=1e-5, type=float),
        Field("scale_attn_weights", ("scale_attn_weights",), default=True, type=bool),
        Field(
            "scale_attn_by_inverse_layer_idx",
            ("scale_attn_by_inverse_layer_idx",),
            default=False,
            type=bool,
        ),
        Field("tie_word_embeddings", ("tie_word_embeddings",), default=True, type=bool),
    )
    REFUSALS: ClassVar[tuple[Refusal, ...]] = (
        Refusal(
            "add_cross_attention",
            _is_false,
            "cross-attention to an encoder is not part of GPT2LMHeadModel decoding",
        ),
        Refusal(
            "activation_function",
            lambda v: v is None or v in SUPPORTED_ACTIVATIONS,
            f"supported activations: {', '.join(sorted(SUPPORTED_ACTIVATIONS))}",
        ),
        Refusal(
            "n_embd",
            lambda v: v is None or v > 0,
            "the hidden size must be positive",
        ),
    )

    vocab_size: int
    max_positions: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    activation: str
    layer_norm_eps: float
    scale_attn_weights: bool
    scale_attn_by_inverse_layer_idx: bool

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"config.json: n_embd ({self.hidden_size}) must be divisible by "
                f"n_head ({self.num_heads})"
            )

    def attention_scale(self, layer: int) -> float:
        """Softmax scale of a layer, as `scale_attn_weights` and the inverse-layer knob set it."""
        scale = 1.0 / math.sqrt(self.head_dim) if self.scale_attn_weights else 1.0
        if self.scale_attn_by_inverse_layer_idx:
            scale /= float(layer + 1)
        return scale
