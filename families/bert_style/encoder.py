"""The BERT-style encoder as a MAX graph: token + position (+ token-type row 0) embeddings,
post-LayerNorm blocks of bidirectional attention and a two-layer MLP, then sentence pooling.

Inputs are a right-padded [batch, seq] token matrix and its 0/1 mask; padded keys get no
attention weight and padded tokens are never pooled. Weight names are canonical (see
`weight_adapters.py` for each architecture's checkpoint names).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
from max.dtype import DType
from max.graph import DeviceRef, TensorType, TensorValue, ops
from max.nn.embedding import Embedding
from max.nn.layer import LayerList, Module
from max.nn.linear import Linear
from max.nn.norm import LayerNorm

from common.pooling import pool_graph

from .model_config import ACTIVATIONS, EncoderConfig

# A padded key's additive score: the graph dtype's most negative finite value (Hugging Face's
# `torch.finfo(dtype).min`), so its softmax weight is exactly 0. float32's in float16 would be
# -inf, and 0 * -inf (every unpadded key) NaN.
LOWEST: Mapping[DType, float] = MappingProxyType(
    {
        DType.float32: float(np.finfo(np.float32).min),
        DType.float16: float(np.finfo(np.float16).min),
        DType.bfloat16: -3.3895313892515355e38,  # -(2 - 2**-7) * 2**127
    }
)


def additive_key_mask(mask: TensorValue, dtype: DType) -> TensorValue:
    """[batch, seq] 0/1 float mask -> [batch, 1, 1, seq] scores to add: 0 for a real key,
    LOWEST[dtype] for a padded one."""
    keys = ops.reshape(ops.cast(mask, dtype), [mask.shape[0], 1, 1, mask.shape[1]])
    return (1.0 - keys) * LOWEST[dtype]


def layer_norm(config: EncoderConfig, width: int) -> LayerNorm:
    return LayerNorm(width, [config.device], config.dtype, eps=config.layer_norm_eps)


def linear(config: EncoderConfig, in_dim: int, out_dim: int) -> Linear:
    return Linear(in_dim, out_dim, config.dtype, config.device, has_bias=True)


class EncoderEmbeddings(Module):
    """word + position (+ token type 0), LayerNorm, then (ELECTRA) a projection to hidden."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        width = config.embedding_size
        self.position_offset = config.position_offset
        self.word = Embedding(config.vocab_size, width, config.dtype, config.device)
        self.position = Embedding(config.max_positions, width, config.dtype, config.device)
        # A request carries no segment ids: every token is of type 0, as in HF's default.
        self.token_type = (
            Embedding(config.type_vocab_size, width, config.dtype, config.device)
            if config.type_vocab_size
            else None
        )
        self.norm = layer_norm(config, width)
        self.project = (
            linear(config, width, config.hidden_size) if width != config.hidden_size else None
        )

    def __call__(self, input_ids: TensorValue) -> TensorValue:
        device = input_ids.device
        positions = ops.range(0, input_ids.shape[1], dtype=DType.int64, device=DeviceRef.CPU())
        positions = (positions + self.position_offset).to(device)
        h = self.word(input_ids) + ops.unsqueeze(self.position(positions), 0)
        if self.token_type is not None:
            h = h + self.token_type(ops.constant(np.zeros(1, np.int64), DType.int64, device))
        h = self.norm(h)
        return self.project(h) if self.project is not None else h


class EncoderSelfAttention(Module):
    """Bidirectional multi-head attention with separate q, k, v and output projections."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.num_heads = config.num_heads
        self.head_dim = config.head_dim
        self.scale = 1.0 / float(np.sqrt(config.head_dim))
        self.q_proj = linear(config, hidden, hidden)
        self.k_proj = linear(config, hidden, hidden)
        self.v_proj = linear(config, hidden, hidden)
        self.o_proj = linear(config, hidden, hidden)

    def _heads(self, x: TensorValue) -> TensorValue:
        """[batch, seq, hidden] -> [batch, heads, seq, head_dim]."""
        x = ops.reshape(x, [x.shape[0], x.shape[1], self.num_heads, self.head_dim])
        return ops.permute(x, [0, 2, 1, 3])

    def __call__(self, x: TensorValue, additive_mask: TensorValue) -> TensorValue:
        q, k, v = (self._heads(proj(x)) for proj in (self.q_proj, self.k_proj, self.v_proj))
        scores = (q @ k.transpose(-1, -2)) * self.scale + additive_mask
        context = ops.permute(ops.softmax(scores) @ v, [0, 2, 1, 3])
        return self.o_proj(ops.reshape(context, [x.shape[0], x.shape[1], -1]))


class EncoderMLP(Module):
    """`up`, the checkpoint's activation, `down`."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.up = linear(config, config.hidden_size, config.intermediate_size)
        self.down = linear(config, config.intermediate_size, config.hidden_size)
        self.act = ACTIVATIONS[config.activation]

    def __call__(self, x: TensorValue) -> TensorValue:
        return self.down(self.act(self.up(x)))


class EncoderLayer(Module):
    """Post-LayerNorm block: norm(x + attention(x)), then norm(h + mlp(h))."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.attention = EncoderSelfAttention(config)
        self.attention_norm = layer_norm(config, config.hidden_size)
        self.mlp = EncoderMLP(config)
        self.mlp_norm = layer_norm(config, config.hidden_size)

    def __call__(self, x: TensorValue, additive_mask: TensorValue) -> TensorValue:
        h = self.attention_norm(x + self.attention(x, additive_mask))
        return self.mlp_norm(h + self.mlp(h))


class SentenceEncoder(Module):
    """Embeddings, layers, and the checkpoint's sentence pooling (or per-token vectors)."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = EncoderEmbeddings(config)
        self.layers = LayerList([EncoderLayer(config) for _ in range(config.num_layers)])

    def input_types(self) -> tuple[TensorType, TensorType]:
        """Right-padded token ids and their 0/1 float mask, both [batch, seq]."""
        device = self.config.device
        return (
            TensorType(DType.int64, shape=["batch_size", "seq_len"], device=device),
            TensorType(DType.float32, shape=["batch_size", "seq_len"], device=device),
        )

    def __call__(self, input_ids: TensorValue, mask: TensorValue) -> TensorValue:
        additive_mask = additive_key_mask(mask, self.config.dtype)
        h = self.embeddings(input_ids)
        for layer in self.layers:
            h = layer(h, additive_mask)
        # Pooled and returned in float32: a bfloat16 mean over the tokens was 4.4x HF bfloat16's
        # own error (RoBERTa, on the CPU), 1.1x in float32; and MAX's embeddings pipeline reads
        # the output with numpy, which has no bfloat16.
        h = ops.cast(h, DType.float32)
        return pool_graph(h, mask, self.config.pooling) if self.config.pool_embeddings else h
