"""Graph pieces every rotary decoder here shares: activations, rotary attention over the paged
KV cache, and the decoder module's inputs and tracing (tokens, positions, KV cache)."""

from __future__ import annotations

from collections.abc import Callable

from max.graph import TensorValue, ops
from max.nn.kv_cache import PagedCacheValues

from common.attention import paged_causal_attention
from common.decoder_graph import PositionedDecoder
from common.rotary import RotaryTable, apply_rotary

from .rotary_config import RotaryDecoderConfig

# Hugging Face activation names to the MAX op that computes the same function.
ACTIVATIONS: dict[str, Callable[[TensorValue], TensorValue]] = {
    "gelu": lambda x: ops.gelu(x),
    "gelu_new": lambda x: ops.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: ops.gelu(x, approximate="tanh"),
    "gelu_fast": lambda x: ops.gelu(x, approximate="tanh"),
    "relu": ops.relu,
    "silu": ops.silu,
    "swish": ops.silu,
}


def rotary_table(config: RotaryDecoderConfig) -> RotaryTable:
    """The model's cos/sin table, as long as the longest sequence it will serve."""
    return RotaryTable(
        config.rotary_dim, config.max_seq_len, config.rope_theta, config.devices[0]
    )


def rotary_attention(
    config: RotaryDecoderConfig,
    layer: int,
    *,
    q: TensorValue,
    k: TensorValue,
    v: TensorValue,
    rope: tuple[TensorValue, TensorValue],
    kv_collection: PagedCacheValues,
    input_row_offsets: TensorValue,
    sliding_window: int | None = None,
) -> TensorValue:
    """Rotates q [tokens, heads, head_dim] and k [tokens, kv_heads, head_dim], then attends.

    With `sliding_window` W, a token sees itself and the W - 1 tokens before it (Hugging Face's
    sliding-window mask). Returns [tokens, heads * head_dim].
    """
    cos, sin = rope
    return paged_causal_attention(
        config.kv_params,
        layer=layer,
        q=apply_rotary(q, cos, sin),
        k=apply_rotary(k, cos, sin),
        v=v,
        kv_collection=kv_collection,
        input_row_offsets=input_row_offsets,
        scale=config.attention_scale,
        sliding_window=sliding_window,
    )


class RotaryDecoder(PositionedDecoder):
    """Base of each architecture's top module: its inputs, tracing, and the rope table.

    A subclass builds its layers in `__init__` (after `super().__init__(config)`), sets `norm`
    and `lm_head` for the logits, and implements `__call__(tokens, positions, kv_collection,
    return_n_logits, input_row_offsets)`.
    """

    def __init__(self, config: RotaryDecoderConfig) -> None:
        super().__init__()
        self.config = config
        self.rope = rotary_table(config)
        self.return_logits = config.return_logits
