"""Gemma as a MAX graph: embeddings scaled by sqrt(hidden), RMSNorm scaling by (1 + weight),
attention with its own head_dim and fewer KV heads (MQA/GQA), full rotary, and a gated GELU MLP.
Weight names follow the checkpoint's (`layers.0.self_attn.q_proj...`).
"""

from __future__ import annotations

import math

from max.graph import TensorValue, ops
from max.nn.embedding import Embedding
from max.nn.kv_cache import PagedCacheValues
from max.nn.layer import LayerList, Module
from max.nn.linear import Linear
from max.nn.norm import RMSNorm

from ..layers import ACTIVATIONS, RotaryDecoder, rotary_attention
from .model_config import GemmaConfig


def rms_norm(config: GemmaConfig) -> RMSNorm:
    # Gemma scales by (1 + weight), in float32 before casting back (as Hugging Face does).
    return RMSNorm(
        config.hidden_size,
        config.dtype,
        eps=config.rms_norm_eps,
        weight_offset=1.0,
        multiply_before_cast=True,
    )


class GemmaAttention(Module):
    def __init__(self, config: GemmaConfig, layer: int) -> None:
        super().__init__()
        self.config = config
        self.layer = layer
        device, hidden, bias = config.devices[0], config.hidden_size, config.attention_bias
        q_dim = config.num_heads * config.head_dim
        kv_dim = config.num_kv_heads * config.head_dim
        self.q_proj = Linear(hidden, q_dim, config.dtype, device, has_bias=bias)
        self.k_proj = Linear(hidden, kv_dim, config.dtype, device, has_bias=bias)
        self.v_proj = Linear(hidden, kv_dim, config.dtype, device, has_bias=bias)
        self.o_proj = Linear(q_dim, hidden, config.dtype, device, has_bias=bias)

    def __call__(
        self,
        x: TensorValue,
        rope: tuple[TensorValue, TensorValue],
        kv_collection: PagedCacheValues,
        input_row_offsets: TensorValue,
    ) -> TensorValue:
        head_dim = self.config.head_dim
        attn = rotary_attention(
            self.config,
            self.layer,
            q=self.q_proj(x).reshape((-1, self.config.num_heads, head_dim)),
            k=self.k_proj(x).reshape((-1, self.config.num_kv_heads, head_dim)),
            v=self.v_proj(x).reshape((-1, self.config.num_kv_heads, head_dim)),
            rope=rope,
            kv_collection=kv_collection,
            input_row_offsets=input_row_offsets,
        )
        return self.o_proj(attn)


class GemmaMLP(Module):
    """down(act(gate(x)) * up(x)), no biases."""

    def __init__(self, config: GemmaConfig) -> None:
        super().__init__()
        device, hidden, inner = config.devices[0], config.hidden_size, config.intermediate_size
        self.gate_proj = Linear(hidden, inner, config.dtype, device)
        self.up_proj = Linear(hidden, inner, config.dtype, device)
        self.down_proj = Linear(inner, hidden, config.dtype, device)
        self.act = ACTIVATIONS[config.activation]

    def __call__(self, x: TensorValue) -> TensorValue:
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


class GemmaDecoderLayer(Module):
    def __init__(self, config: GemmaConfig, layer: int) -> None:
        super().__init__()
        self.input_layernorm = rms_norm(config)
        self.self_attn = GemmaAttention(config, layer)
        self.post_attention_layernorm = rms_norm(config)
        self.mlp = GemmaMLP(config)

    def __call__(
        self,
        x: TensorValue,
        rope: tuple[TensorValue, TensorValue],
        kv_collection: PagedCacheValues,
        input_row_offsets: TensorValue,
    ) -> TensorValue:
        h = x + self.self_attn(self.input_layernorm(x), rope, kv_collection, input_row_offsets)
        return h + self.mlp(self.post_attention_layernorm(h))


class Gemma(RotaryDecoder):
    """`GemmaForCausalLM`: scaled embedding, blocks, final RMSNorm, (tied) LM head."""

    def __init__(self, config: GemmaConfig) -> None:
        super().__init__(config)
        device = config.devices[0]
        self.embed_tokens = Embedding(config.vocab_size, config.hidden_size, config.dtype, device)
        self.layers = LayerList([GemmaDecoderLayer(config, i) for i in range(config.num_layers)])
        self.norm = rms_norm(config)
        self.lm_head = Linear(config.hidden_size, config.vocab_size, config.dtype, device)
        if config.tie_word_embeddings:
            self.lm_head.set_shared_weight("weight", self.embed_tokens.weight)

    def __call__(
        self,
        tokens: TensorValue,
        positions: TensorValue,
        kv_collection: PagedCacheValues,
        return_n_logits: TensorValue,
        input_row_offsets: TensorValue,
    ) -> tuple[TensorValue, ...]:
        rope = self.rope(positions)
        # The scale is rounded to the activation dtype first, as Hugging Face rounds it.
        scale = ops.constant(
            math.sqrt(self.config.hidden_size), self.config.dtype, device=self.config.devices[0]
        )
        h = self.embed_tokens(tokens) * scale
        for layer in self.layers:
            h = layer(h, rope, kv_collection, input_row_offsets)
        return self._postprocess_logits(h, input_row_offsets, return_n_logits)
