"""StableLM as a MAX graph: LayerNorms with bias, GQA attention with partial rotary, optional
q/k biases and per-head q/k LayerNorms, a gated MLP, and attention and MLP either one after the
other (the default) or side by side on one LayerNorm (`use_parallel_residual`). Weight names
follow the checkpoint's (`layers.0.self_attn.q_proj...`).
"""

from __future__ import annotations

from max.graph import TensorValue, ops
from max.nn.embedding import Embedding
from max.nn.kv_cache import PagedCacheValues
from max.nn.layer import LayerList, Module
from max.nn.linear import Linear
from max.nn.norm import LayerNorm

from ..layers import ACTIVATIONS, RotaryDecoder, rotary_attention
from .model_config import StableLmConfig


def layer_norm(config: StableLmConfig, dim: int, *, use_bias: bool = True) -> LayerNorm:
    return LayerNorm(
        dim, config.devices, config.dtype, eps=config.layer_norm_eps, use_bias=use_bias
    )


class LayerNormPerHead(Module):
    """A bias-free LayerNorm of its own for each head of x [tokens, heads, head_dim]."""

    def __init__(self, config: StableLmConfig, num_heads: int) -> None:
        super().__init__()
        self.norms = LayerList(
            [layer_norm(config, config.head_dim, use_bias=False) for _ in range(num_heads)]
        )

    def __call__(self, x: TensorValue) -> TensorValue:
        heads = ops.split(x, [1] * len(self.norms), axis=1)
        return ops.concat([norm(h) for norm, h in zip(self.norms, heads, strict=True)], axis=1)


class StableLmAttention(Module):
    def __init__(self, config: StableLmConfig, layer: int) -> None:
        super().__init__()
        self.config = config
        self.layer = layer
        device, hidden, bias = config.devices[0], config.hidden_size, config.use_qkv_bias
        kv_dim = config.num_kv_heads * config.head_dim
        self.q_proj = Linear(hidden, hidden, config.dtype, device, has_bias=bias)
        self.k_proj = Linear(hidden, kv_dim, config.dtype, device, has_bias=bias)
        self.v_proj = Linear(hidden, kv_dim, config.dtype, device, has_bias=bias)
        self.o_proj = Linear(hidden, hidden, config.dtype, device)
        self.qk_layernorm = config.qk_layernorm
        if self.qk_layernorm:
            self.q_layernorm = LayerNormPerHead(config, config.num_heads)
            self.k_layernorm = LayerNormPerHead(config, config.num_kv_heads)

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
        return self.o_proj(attn)


class StableLmMLP(Module):
    """down(act(gate(x)) * up(x)), no biases."""

    def __init__(self, config: StableLmConfig) -> None:
        super().__init__()
        device, hidden, inner = config.devices[0], config.hidden_size, config.intermediate_size
        self.gate_proj = Linear(hidden, inner, config.dtype, device)
        self.up_proj = Linear(hidden, inner, config.dtype, device)
        self.down_proj = Linear(inner, hidden, config.dtype, device)
        self.act = ACTIVATIONS[config.activation]

    def __call__(self, x: TensorValue) -> TensorValue:
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


class StableLmDecoderLayer(Module):
    def __init__(self, config: StableLmConfig, layer: int) -> None:
        super().__init__()
        self.use_parallel_residual = config.use_parallel_residual
        self.input_layernorm = layer_norm(config, config.hidden_size)
        self.self_attn = StableLmAttention(config, layer)
        self.mlp = StableLmMLP(config)
        if not self.use_parallel_residual:
            self.post_attention_layernorm = layer_norm(config, config.hidden_size)

    def __call__(
        self,
        x: TensorValue,
        rope: tuple[TensorValue, TensorValue],
        kv_collection: PagedCacheValues,
        input_row_offsets: TensorValue,
    ) -> TensorValue:
        h = self.input_layernorm(x)
        attn = self.self_attn(h, rope, kv_collection, input_row_offsets)
        if self.use_parallel_residual:
            # One LayerNorm feeds both; summed in Hugging Face's order.
            return x + attn + self.mlp(h)
        h = x + attn
        return h + self.mlp(self.post_attention_layernorm(h))


class StableLm(RotaryDecoder):
    """`StableLmForCausalLM`: embedding, blocks, final LayerNorm, LM head."""

    def __init__(self, config: StableLmConfig) -> None:
        super().__init__(config)
        device = config.devices[0]
        self.embed_tokens = Embedding(config.vocab_size, config.hidden_size, config.dtype, device)
        self.layers = LayerList(
            [StableLmDecoderLayer(config, i) for i in range(config.num_layers)]
        )
        self.norm = layer_norm(config, config.hidden_size)
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
        h = self.embed_tokens(tokens)
        for layer in self.layers:
            h = layer(h, rope, kv_collection, input_row_offsets)
        return self._postprocess_logits(h, input_row_offsets, return_n_logits)
