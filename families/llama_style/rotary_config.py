"""What the rotary decoders' configs share: the fields every graph here reads, the rope keys
and their refusals, and the activation names the graphs implement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.arch_config import TranslatedDecoderConfig
from common.config import ROPE_THETA, ConfigError, Refusal
from common.rotary import rotary_dim_of

# Kept in step with `layers.ACTIVATIONS` (tests check both name the same set).
SUPPORTED_ACTIVATIONS = frozenset(
    {"gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish"}
)

# transformers 5 keeps rope settings under rope_parameters; older config.json files use these.
ROPE_THETA_KEYS = (*ROPE_THETA, "rotary_emb_base")
PARTIAL_ROTARY_KEYS = (
    "rope_parameters.partial_rotary_factor",
    "partial_rotary_factor",
    "rotary_pct",
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
    return Refusal(
        key,
        lambda v: v is None or v in SUPPORTED_ACTIVATIONS,
        f"supported activations: {', '.join(sorted(SUPPORTED_ACTIVATIONS))}",
    )


def is_false(value: object) -> bool:
    return not value


@dataclass(kw_only=True)
class RotaryDecoderConfig(TranslatedDecoderConfig):
    """Fields every rotary decoder here translates; a subclass adds its own knobs."""

    vocab_size: int
    max_positions: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    activation: str
    rope_theta: float
    partial_rotary_factor: float

    def __post_init__(self) -> None:
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(
                f"config.json: num_attention_heads ({self.num_heads}) must be a multiple of "
                f"num_key_value_heads ({self.num_kv_heads})"
            )
        try:
            rotary_dim_of(self.head_dim, self.partial_rotary_factor)
        except ValueError as exc:
            raise ConfigError(f"config.json: {exc}") from exc

    @property
    def rotary_dim(self) -> int:
        return rotary_dim_of(self.head_dim, self.partial_rotary_factor)

    @property
    def attention_scale(self) -> float:
        return self.head_dim**-0.5
