"""Phi as a MAX graph: one LayerNorm per block feeding attention and MLP side by side
(`x + attn(ln(x)) + mlp(ln(x))`), q/k/v projections with bias, optional LayerNorm of each q and k
head, partial rotary, and an LM head with bias. Weight names follow the checkpoint's.
"""

from __future__ import annotations

from max.graph import TensorValue
from max.nn.embedding import Embedding
from max.nn.kv_cache import PagedCacheValues
from max.nn.layer import LayerList, Module
from max.nn.linear import Linear
from max.nn.norm import LayerNorm

from ..layers import ACTIVATIONS, RotaryDecoder, rotary_attention
from .model_config import PhiConfig


def layer_norm(config: PhiConfig, dim: int) -> LayerNorm:
    return LayerNorm(dim, config.devices, config.dtype, eps=config.layer_norm_eps)


class PhiAttention(Module):
    def __init__(self, config: PhiConfig, layer: int) -> None:
        super().__init__()
        self.config = config
        self.layer = layer
        device, hidden = config.devices[0], config.hidden_size
        q_dim = config.num_heads * config.head_dim
        kv_dim = config.num_kv_heads * config.head_dim
        self.q_proj = Linear(hidden, q_dim, config.dtype, device, has_bias=True)
        self.k_proj = Linear(hidden, kv_dim, config.dtype, device, has_bias=True)
        self.v_proj = Linear(hidden, kv_dim, config.dtype, device, has_bias=True)
        self.dense = Linear(q_dim, hidden, config.dtype, device, has_bias=True)
        self.qk_layernorm = config.qk_layernorm
        if self.qk_layernorm:
            self.q_layernorm = layer_norm(config, config.head_dim)
            self.k_layernorm = layer_norm(config, config.head_dim)

    def __call__(
        self,
        x: TensorValue,
        rope: tuple[TensorValue, TensorValue],
        kv_collection: PagedCacheValues,
        input_row_offsets: TensorValue,
    ) -> TensorValue:
        head_dim = self.config.head_dim
        q = self.q_proj(x).reshape((-1, self.config.num_heads, head_dim))
        k = self.k_proj(x).reshape((-1, self.config.num_kv_heads, head_dim))
        v = self.v_proj(x).reshape((-1, self.config.num_kv_heads, head_dim))
        if self.qk_layernorm:
            q, k = self.q_layernorm(q), self.k_layernorm(k)
        attn = rotary_attention(
            self.config,
            self.layer,
            q=q,
            k=k,
            v=v,
            rope=rope,
            kv_collection=kv_collection,
            input_row_offsets=input_row_offsets,
        )
        return self.dense(attn)


class PhiMLP(Module):
    def __init__(self, config: PhiConfig) -> None:
        super().__init__()
        device, hidden, inner = config.devices[0], config.hidden_size, config.intermediate_size
        self.fc1 = Linear(hidden, inner, config.dtype, device, has_bias=True)
        self.fc2 = Linear(inner, hidden, config.dtype, device, has_bias=True)
        self.act = ACTIVATIONS[config.activation]

    def __call__(self, x: TensorValue) -> TensorValue:
        return self.fc2(self.act(self.fc1(x)))


class PhiDecoderLayer(Module):
    def __init__(self, config: PhiConfig, layer: int) -> None:
        super().__init__()
        self.input_layernorm = layer_norm(config, config.hidden_size)
        self.self_attn = PhiAttention(config, layer)
        self.mlp = PhiMLP(config)

    def __call__(
        self,
        x: TensorValue,
        rope: tuple[TensorValue, TensorValue],
        kv_collection: PagedCacheValues,
        input_row_offsets: TensorValue,
    ) -> TensorValue:
        h = self.input_layernorm(x)
        # Summed in Hugging Face's order: attn + mlp + residual.
        return self.self_attn(h, rope, kv_collection, input_row_offsets) + self.mlp(h) + x


class Phi(RotaryDecoder):
    """`PhiForCausalLM`: embedding, blocks, final LayerNorm, LM head with bias."""

    def __init__(self, config: PhiConfig) -> None:
        super().__init__(config)
        device = config.devices[0]
        self.embed_tokens = Embedding(config.vocab_size, config.hidden_size, config.dtype, device)
        self.layers = LayerList([PhiDecoderLayer(config, i) for i in range(config.num_layers)])
        self.final_layernorm = layer_norm(config, config.hidden_size)
        self.lm_head = Linear(
            config.hidden_size, config.vocab_size, config.dtype, device, has_bias=True
        )
        if config.tie_word_embeddings:
            self.lm_head.set_shared_weight("weight", self.embed_tokens.weight)
        # The name LogitsPostprocessMixin reads.
        self.norm = self.final_layernorm

    def __call__(
        self,
        tokens: TensorValue,
        positions: TensorValue,
        kv_collection: PagedCacheValues,
        return_n_logits: TensorValue,
        input_row_offsets: TensorValue,
    ) -> tuple[TensorValue, ...]:
        rope = self.rope(positions)
        h = self.embed_tokens(tokens)
        for layer in self.layers:
            h = layer(h, rope, kv_collection, input_row_offsets)
        return self._postprocess_logits(h, input_row_offsets, return_n_logits)
