"""GPT-NeoX as a MAX graph: fused per-head (q, k, v) projection, partial rotary, LayerNorms with
bias, and attention and MLP either side by side on the block input (parallel residual, the
default) or one after the other. Weight names follow the checkpoint's (`layers.0.attention...`).
"""

from __future__ import annotations

from max.graph import TensorValue, ops
from max.nn.embedding import Embedding
from max.nn.kv_cache import PagedCacheValues
from max.nn.layer import LayerList, Module
from max.nn.linear import Linear
from max.nn.norm import LayerNorm

from ..layers import ACTIVATIONS, RotaryDecoder, rotary_attention
from .model_config import GPTNeoXConfig


class GPTNeoXAttention(Module):
    """`query_key_value` rows are [heads, (q, k, v), head_dim]: split per head after projecting."""

    def __init__(self, config: GPTNeoXConfig, layer: int) -> None:
        super().__init__()
        self.config = config
        self.layer = layer
        device, hidden, bias = config.devices[0], config.hidden_size, config.attention_bias
        self.query_key_value = Linear(hidden, 3 * hidden, config.dtype, device, has_bias=bias)
        self.dense = Linear(hidden, hidden, config.dtype, device, has_bias=bias)

    def __call__(
        self,
        x: TensorValue,
        rope: tuple[TensorValue, TensorValue],
        kv_collection: PagedCacheValues,
        input_row_offsets: TensorValue,
    ) -> TensorValue:
        head_dim = self.config.head_dim
        qkv = self.query_key_value(x).reshape((-1, self.config.num_heads, 3 * head_dim))
        q, k, v = ops.split(qkv, [head_dim] * 3, axis=-1)
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


class GPTNeoXMLP(Module):
    def __init__(self, config: GPTNeoXConfig) -> None:
        super().__init__()
        device, hidden, inner = config.devices[0], config.hidden_size, config.intermediate_size
        self.dense_h_to_4h = Linear(hidden, inner, config.dtype, device, has_bias=True)
        self.dense_4h_to_h = Linear(inner, hidden, config.dtype, device, has_bias=True)
        self.act = ACTIVATIONS[config.activation]

    def __call__(self, x: TensorValue) -> TensorValue:
        return self.dense_4h_to_h(self.act(self.dense_h_to_4h(x)))


def layer_norm(config: GPTNeoXConfig) -> LayerNorm:
    return LayerNorm(config.hidden_size, config.devices, config.dtype, eps=config.layer_norm_eps)


class GPTNeoXLayer(Module):
    def __init__(self, config: GPTNeoXConfig, layer: int) -> None:
        super().__init__()
        self.use_parallel_residual = config.use_parallel_residual
        self.input_layernorm = layer_norm(config)
        self.post_attention_layernorm = layer_norm(config)
        self.attention = GPTNeoXAttention(config, layer)
        self.mlp = GPTNeoXMLP(config)

    def __call__(
        self,
        x: TensorValue,
        rope: tuple[TensorValue, TensorValue],
        kv_collection: PagedCacheValues,
        input_row_offsets: TensorValue,
    ) -> TensorValue:
        attn = self.attention(self.input_layernorm(x), rope, kv_collection, input_row_offsets)
        if self.use_parallel_residual:
            # x + attn(ln1(x)) + mlp(ln2(x)), summed in Hugging Face's order.
            return self.mlp(self.post_attention_layernorm(x)) + attn + x
        h = attn + x
        return self.mlp(self.post_attention_layernorm(h)) + h


class GPTNeoX(RotaryDecoder):
    """`GPTNeoXForCausalLM`: embedding, blocks, final LayerNorm, `embed_out` head."""

    def __init__(self, config: GPTNeoXConfig) -> None:
        super().__init__(config)
        device = config.devices[0]
        self.embed_in = Embedding(config.vocab_size, config.hidden_size, config.dtype, device)
        self.layers = LayerList([GPTNeoXLayer(config, i) for i in range(config.num_layers)])
        self.final_layer_norm = layer_norm(config)
        self.embed_out = Linear(config.hidden_size, config.vocab_size, config.dtype, device)
        if config.tie_word_embeddings:
            self.embed_out.set_shared_weight("weight", self.embed_in.weight)
        # Names LogitsPostprocessMixin reads.
        self.norm = self.final_layer_norm
        self.lm_head = self.embed_out

    def __call__(
        self,
        tokens: TensorValue,
        positions: TensorValue,
        kv_collection: PagedCacheValues,
        return_n_logits: TensorValue,
        input_row_offsets: TensorValue,
    ) -> tuple[TensorValue, ...]:
        rope = self.rope(positions)
        h = self.embed_in(tokens)
        for layer in self.layers:
            h = layer(h, rope, kv_collection, input_row_offsets)
        return self._postprocess_logits(h, input_row_offsets, return_n_logits)
