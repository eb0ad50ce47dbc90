"""GPT-2's graph config, translated from a Hugging Face `GPT2Config`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from max.pipelines.modeling.config_enums import SupportedEncoding

from common.activations import activation_refusal, activation_table
from common.arch_config import TranslatedDecoderConfig
from common.config import NORM_EPS, Field, Refusal, is_false, size_fields

# The `activation_function` values the graph computes; any other is refused.
ACTIVATIONS = activation_table(
    "gelu_new",
    "gelu_pytorch_tanh",
    "gelu_fast",
    "gelu",
    "quick_gelu",
    "relu",
    "silu",
    "swish",
    "tanh",
    "sigmoid",
)
SUPPORTED_ACTIVATIONS = frozenset(ACTIVATIONS)


@dataclass(kw_only=True)
class GPT2Config(TranslatedDecoderConfig):
    DEFAULT_ENCODING: ClassVar[SupportedEncoding] = "float32"
    # Verified: float32 on the CPU (safetensors, and F16/F32 GGUF files), q4_k and q6_k on the
    # CPU with llama.cpp's Q4_K_M and Q6_K files (tests/gpt2/test_gguf.py). q4_0 files ran in
    # exploration but no test checks them yet. float16 is unlisted: it passed the GPU suite's
    # 16-wide heads on an H200, but the 124M shape (64-wide heads, as every published GPT-2)
    # failed to compile there in MAX's Hopper attention kernel (docs/GPT2.md). bfloat16 is
    # unlisted: the trained Shakespeare checkpoint's logits go wrong there once the prefix
    # cache is hit.
    SUPPORTED_ENCODINGS: ClassVar[set[SupportedEncoding]] = {"float32", "q4_k", "q6_k"}

    # Hugging Face's GPT2Config defaults are the defaults here.
    FIELDS: ClassVar[tuple[Field, ...]] = (
        *size_fields(
            vocab_size=50257, max_positions=1024, hidden_size=768, num_layers=12, num_heads=12
        ),
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
            is_false,
            "cross-attention to an encoder is not part of GPT2LMHeadModel decoding",
        ),
        activation_refusal("activation_function", ACTIVATIONS),
        Refusal(
            "n_embd",
            lambda v: v is None or v > 0,
            "the hidden size must be positive",
        ),
    )

    layer_norm_eps: float
    scale_attn_weights: bool
    scale_attn_by_inverse_layer_idx: bool

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"config.json: n_embd ({self.hidden_size}) must be divisible by "
                f"n_head ({self.num_heads})"
            )

    @property
    def centered_residual(self) -> bool:
        """Whether the blocks' norms are RMSNorms over a centered residual stream
        (`families/gpt2/centering.py`), which needs every weight in float: a matrix kept in a
        GGUF block format cannot be refolded at load, so such a file keeps the LayerNorms."""
        return not self.quantized

    def attention_scale(self, layer: int) -> float:
        """Softmax scale of a layer, as `scale_attn_weights` and the inverse-layer knob set it."""
        scale = 1.0 / math.sqrt(self.head_dim) if self.scale_attn_weights else 1.0
        if self.scale_attn_by_inverse_layer_idx:
            scale /= float(layer + 1)
        return scale
