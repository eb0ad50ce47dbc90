"""StarCoder2 as a MAX graph: pre-LayerNorm blocks with bias, GQA attention with full rotary,
and a two-layer MLP with bias. Weight names follow the checkpoint's
(`layers.0.self_attn.q_proj...`). Served sequences fit the sliding window (see the config), so
attention is plain causal attention.
"""

from __future__ import annotations

from max.graph import TensorValue
from max.nn.embedding import Embedding
from max.nn.kv_cache import PagedCacheValues
from max.nn.layer import LayerList, Module
from max.nn.linear import Linear
from max.nn.norm import LayerNorm

from ..layers import ACTIVATIONS, RotaryDecoder, rotary_attention
from .model_config import Starcoder2Config


def layer_norm(config: Starcoder2Config) -> LayerNorm:
    return LayerNorm(config.hidden_size, config.devices, config.dtype, eps=config.norm_epsilon)


class Starcoder2Attention(Module):
    def __init__(self, config: Starcoder2Config, layer: int) -> None:
        super().__init__()
        self.config = config
        self.layer = layer
        device, hidden, bias = config.devices[0], config.hidden_size, config.use_bias
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


class Starcoder2MLP(Module):
    def __init__(self, config: Starcoder2Config) -> None:
        super().__init__()
        device, hidden, inner = config.devices[0], config.hidden_size, config.intermediate_size
        self.c_fc = Linear(hidden, inner, config.dtype, device, has_bias=config.use_bias)
        self.c_proj = Linear(inner, hidden, config.dtype, device, has_bias=config.use_bias)
        self.act = ACTIVATIONS[config.activation]

    def __call__(self, x: TensorValue) -> TensorValue:
        return self.c_proj(self.act(self.c_fc(x)))


class Starcoder2DecoderLayer(Module):
    def __init__(self, config: Starcoder2Config, layer: int) -> None:
        super().__init__()
        self.input_layernorm = layer_norm(config)
        self.self_attn = Starcoder2Attention(config, layer)
        self.post_attention_layernorm = layer_norm(config)
        self.mlp = Starcoder2MLP(config)

    def __call__(
        self,
        x: TensorValue,
        rope: tuple[TensorValue, TensorValue],
        kv_collection: PagedCacheValues,
        input_row_offsets: TensorValue,
    ) -> TensorValue:
        h = x + self.self_attn(self.input_layernorm(x), rope, kv_collection, input_row_offsets)
        return h + self.mlp(self.post_attention_layernorm(h))


class Starcoder2(RotaryDecoder):
    """`Starcoder2ForCausalLM`: embedding, blocks, final LayerNorm, (tied) LM head."""

    def __init__(self, config: Starcoder2Config) -> None:
        super().__init__(config)
        device = config.devices[0]
        self.embed_tokens = Embedding(config.vocab_size, config.hidden_size, config.dtype, device)
        self.layers = LayerList(
            [Starcoder2DecoderLayer(config, i) for i in range(config.num_layers)]
        )
        self.norm = layer_norm(config)
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
