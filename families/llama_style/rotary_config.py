"""What the rotary decoders' configs share: the fields every graph here reads, the rope keys
and refusals, the activations the graphs compute, and the `Layout` through which each
architecture tells the one graph (layers.py) what it does differently."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from common import activations as shared_activations
from common.activations import activation_table
from common.arch_config import TranslatedDecoderConfig
from common.config import ROPE_THETA, ConfigError, Field, Refusal
from common.rotary import rotary_dim_of

# The activations every graph here computes; any other is refused by name.
ACTIVATIONS = activation_table(
    "gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish"
)
SUPPORTED_ACTIVATIONS = frozenset(ACTIVATIONS)

# transformers 5 keeps rope settings under rope_parameters; older config.json files use these.
ROPE_THETA_KEYS = (*ROPE_THETA, "rotary_emb_base")
PARTIAL_ROTARY_KEYS = (
    "rope_parameters.partial_rotary_factor",
    "partial_rotary_factor",
    "rotary_pct",
)


def rope_fields(*, partial_rotary_factor: float) -> tuple[Field, ...]:
    """rope_theta (10000 in every Hugging Face config here) and the rotated share of a head."""
    return (
        Field("rope_theta", ROPE_THETA_KEYS, default=10000.0, type=float),
        Field(
            "partial_rotary_factor", PARTIAL_ROTARY_KEYS, default=partial_rotary_factor, type=float
        ),
    )


def _is_default_rope_type(value: Any) -> bool:
    return value is None or value == "default"


def _is_unscaled_rope(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, Mapping):
        return _is_default_rope_type(value.get("rope_type", value.get("type")))
    return False


_ROPE_REASON = (
    "only the default (unscaled) rotary embedding is implemented; linear, dynamic, yarn, "
    "llama3 and longrope scaling are not"
)
ROPE_REFUSALS: tuple[Refusal, ...] = (
    Refusal("rope_parameters.rope_type", _is_default_rope_type, _ROPE_REASON),
    Refusal("rope_scaling", _is_unscaled_rope, _ROPE_REASON),
)


# For architectures whose attention rotates every channel (Hugging Face would fail otherwise).
FULL_ROTARY_REFUSALS: tuple[Refusal, ...] = tuple(
    Refusal(
        key,
        lambda v: v is None or v == 1.0,
        "this architecture rotates every channel of a head; partial rotary is not implemented",
    )
    for key in ("rope_parameters.partial_rotary_factor", "partial_rotary_factor")
)


def activation_refusal(key: str) -> Refusal:
    """Refuses, by config key, an activation the graphs do not compute."""
    return shared_activations.activation_refusal(key, ACTIVATIONS)


@dataclass(frozen=True, kw_only=True)
class Layout:
    """What one architecture's graph does differently. Module names are the checkpoint's (less
    its prefix), so the mapping tables keep Hugging Face's names."""

    embedding: str = "embed_tokens"
    attention: str = "self_attn"
    out_proj: str = "o_proj"
    # Two names: out(act(in(x))); three: down(act(gate(x)) * up(x)).
    mlp: tuple[str, ...] = ("gate_proj", "up_proj", "down_proj")
    final_norm: str = "norm"
    lm_head: str = "lm_head"

    norm_eps: float
    # LayerNorm with bias, or Gemma's RMSNorm scaling by (1 + weight) in float32.
    norm: Literal["layer", "rms_plus_one"] = "layer"
    # One `query_key_value` projection, rows [q | k | v] (GPT-NeoX, reordered at load).
    fused_qkv: bool = False
    qkv_bias: bool = False
    out_bias: bool = False
    mlp_bias: bool = False
    lm_head_bias: bool = False
    # LayerNorm of q and k heads: one for all (Phi), or one per head without bias (StableLM);
    # k is then normed before it is stored, so not by the split-and-store kernel
    # (`splits_and_stores`). Only architectures with separate projections have them.
    qk_norm: Literal["shared", "per_head"] | None = None
    # Attention and MLP side by side on the block input, rather than one after the other.
    parallel_residual: bool = False
    # Parallel blocks whose MLP reads the attention's norm (no post-attention norm).
    one_norm: bool = False
    # Parallel sums in Hugging Face's order: x + attn + mlp (StableLM) or attn + mlp + x.
    residual_first: bool = False
    # Embeddings times sqrt(hidden_size), rounded to the activation dtype (Gemma).
    scale_embedding: bool = False

    def __post_init__(self) -> None:
        if self.fused_qkv and self.qk_norm is not None:
            raise ValueError("Layout: qk_norm needs separate q, k, v projections, not fused_qkv")


@dataclass(kw_only=True)
class RotaryConfig(TranslatedDecoderConfig):
    """Fields every rotary decoder here translates; a subclass adds its own, says what its
    graph does differently (`layout`) and may add checks (`check`). Every architecture keeps
    the base's encodings: verified in float32 on the CPU only (docs/LLAMA_STYLE.md)."""

    # head_dim is hidden_size // num_heads, so a remainder is refused.
    HEADS_SPLIT_HIDDEN: ClassVar[bool] = False

    rope_theta: float
    partial_rotary_factor: float

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.HEADS_SPLIT_HIDDEN and self.hidden_size % self.num_heads:
            raise ValueError(
                f"config.json: hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_heads})"
            )
        self.check()
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(
                f"config.json: num_attention_heads ({self.num_heads}) must be a multiple of "
                f"num_key_value_heads ({self.num_kv_heads})"
            )
        try:
            rotary_dim_of(self.head_dim, self.partial_rotary_factor)
        except ValueError as exc:
            raise ConfigError(f"config.json: {exc}") from exc

    def check(self) -> None:
        """The architecture's own consistency checks, before the shared ones."""

    @property
    def rotary_dim(self) -> int:
        return rotary_dim_of(self.head_dim, self.partial_rotary_factor)

    @property
    def splits_and_stores(self) -> bool:
        """Whether attention is one q/k/v matmul and then MAX's kernel that splits, rotates
        whole heads and stores k and v (q and k channels reordered at load:
        `common.rotary.head_channel_order`). q/k norms must see k before it is stored, so a
        layout with them projects and stores separately."""
        return self.layout.qk_norm is None

    @property
    def centered_residual(self) -> bool:
        """Whether the blocks run over a centered residual stream, their LayerNorms as RMSNorms
        whose gains and biases are folded into the projections they feed (`centering.py`):
        LayerNorms, and biases on the q/k/v projections and on an MLP of two projections."""
        layout = self.layout
        return (
            layout.norm == "layer" and layout.qkv_bias and layout.mlp_bias and len(layout.mlp) == 2
        )

    @property
    def mlp_reads_attention_norm(self) -> bool:
        """Whether a block's MLP reads its attention's norm: parallel blocks with one norm (Phi,
        StableLM), and every parallel block over a centered stream, whose two norms then only
        normalize the same input."""
        layout = self.layout
        return layout.one_norm or (layout.parallel_residual and self.centered_residual)

    @property
    def attention_scale(self) -> float:
        return self.head_dim**-0.5

    @property
    def lm_head_weight(self) -> str:
        return f"{self.layout.lm_head}.weight"

    @property
    def layout(self) -> Layout:
        raise NotImplementedError(f"{type(self).__name__} does not say its graph's Layout")
