"""The one graph every rotary decoder here runs, built from `max.nn`: blocks of rotary
attention over the paged KV cache and an MLP. What an architecture does differently (norm kind,
QKV layout, q/k norms, residual order, MLP kind, embedding scale) comes from its config's
`Layout`; module names are the checkpoint's, so weights keep their Hugging Face names."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple, TypeVar

import numpy as np
from max.graph import TensorValue, ops
from max.graph.weights import WeightData
from max.nn.embedding import Embedding
from max.nn.kv_cache import PagedCacheValues
from max.nn.layer import LayerList, Module
from max.nn.linear import Linear
from max.nn.norm import LayerNorm, RMSNorm

from common.attention import paged_causal_attention, split_store_attention
from common.decoder_graph import PositionedDecoder
from common.matmul import biased, product_alone
from common.max_weights import numpy_view, weight_from_numpy
from common.rotary import RotaryTable, head_channel_order

from .centering import center_residual, folded_norm_weights
from .rotary_config import ACTIVATIONS, RotaryConfig

M = TypeVar("M", bound=Module)


def named(parent: Module, name: str, child: M) -> M:
    """`child`, registered first under the checkpoint's `name` (weights are named by path)."""
    setattr(parent, name, child)
    return child


class Step(NamedTuple):
    """What every block reads in one forward pass besides its input."""

    freqs_cis: TensorValue  # the rotary table, as MAX's rope kernel takes it
    kv_collection: PagedCacheValues
    input_row_offsets: TensorValue


def rotary_attention(
    config: RotaryConfig, layer: int, q: TensorValue, k: TensorValue, v: TensorValue, step: Step
) -> TensorValue:
    """Attends q [tokens, heads, head_dim] to k, v [tokens, kv_heads, head_dim], rotating q
    and k first. Returns [tokens, heads * head_dim]. The one place the graph rotates."""
    return paged_causal_attention(
        config.kv_params,
        layer=layer,
        q=q,
        k=k,
        v=v,
        kv_collection=step.kv_collection,
        input_row_offsets=step.input_row_offsets,
        scale=config.attention_scale,
        freqs_cis=step.freqs_cis,
    )


def norm(config: RotaryConfig, dim: int, *, bias: bool = True) -> Module:
    """The architecture's norm over `dim` channels."""
    layout = config.layout
    if layout.norm == "rms_plus_one":
        # Gemma scales by (1 + weight), in float32 before casting back (as Hugging Face does).
        return RMSNorm(
            dim, config.dtype, eps=layout.norm_eps, weight_offset=1.0, multiply_before_cast=True
        )
    return LayerNorm(dim, config.devices, config.dtype, eps=layout.norm_eps, use_bias=bias)


def block_norm(config: RotaryConfig) -> Module:
    """A block's norm: over a centered stream an RMSNorm that only normalizes (its gain and
    bias are in the projections it feeds: `centering.py`), else the architecture's."""
    if config.centered_residual:
        return RMSNorm(
            config.hidden_size, config.dtype, config.layout.norm_eps, multiply_before_cast=False
        )
    return norm(config, config.hidden_size)


def linear(config: RotaryConfig, in_dim: int, out_dim: int, bias: bool) -> Linear:
    return Linear(in_dim, out_dim, config.dtype, config.devices[0], has_bias=bias)


class NormPerHead(Module):
    """A bias-free norm of its own for each head of x [tokens, heads, head_dim] (StableLM)."""

    def __init__(self, config: RotaryConfig, num_heads: int) -> None:
        super().__init__()
        self.norms = LayerList(
            [norm(config, config.head_dim, bias=False) for _ in range(num_heads)]
        )

    def __call__(self, x: TensorValue) -> TensorValue:
        heads = ops.split(x, [1] * len(self.norms), axis=1)
        return ops.concat([n(h) for n, h in zip(self.norms, heads, strict=True)], axis=1)


def qk_norm(config: RotaryConfig, num_heads: int) -> Module:
    if config.layout.qk_norm == "per_head":
        return NormPerHead(config, num_heads)
    return norm(config, config.head_dim)


class RotaryAttention(Module):
    """q, k, v projections (or one fused [q | k | v] projection) in one matmul, optional q/k
    norms, rotary attention over the paged cache, output projection."""

    def __init__(self, config: RotaryConfig, layer: int) -> None:
        super().__init__()
        self.config = config
        self.layer = layer
        layout = config.layout
        hidden, bias = config.hidden_size, layout.qkv_bias
        q_dim = config.num_heads * config.head_dim
        kv_dim = config.num_kv_heads * config.head_dim
        if layout.fused_qkv:
            self.query_key_value = linear(config, hidden, 3 * q_dim, bias)
        else:
            self.q_proj = linear(config, hidden, q_dim, bias)
            self.k_proj = linear(config, hidden, kv_dim, bias)
            self.v_proj = linear(config, hidden, kv_dim, bias)
        if layout.qk_norm is not None:
            self.q_layernorm = qk_norm(config, config.num_heads)
            self.k_layernorm = qk_norm(config, config.num_kv_heads)
        self.out = named(self, layout.out_proj, linear(config, q_dim, hidden, layout.out_bias))

    def __call__(self, x: TensorValue, step: Step) -> TensorValue:
        config = self.config
        if config.splits_and_stores:
            # One plain matmul, then MAX's kernel that splits q, k, v, rotates q and k and
            # stores k and v, as MAX 26.7's own Llama attention does.
            attn = split_store_attention(
                config.kv_params,
                layer=self.layer,
                qkv=self._project_qkv(x),
                num_heads=config.num_heads,
                kv_collection=step.kv_collection,
                input_row_offsets=step.input_row_offsets,
                scale=config.attention_scale,
                freqs_cis=step.freqs_cis,
            )
            return self.output(attn)
        # q/k norms must see k before it is stored: split in the graph, normed, then stored.
        heads, kv_heads, head_dim = config.num_heads, config.num_kv_heads, config.head_dim
        sizes = [heads * head_dim, kv_heads * head_dim, kv_heads * head_dim]
        q, k, v = ops.split(self._project_qkv(x), sizes, axis=1)
        q = q.reshape((-1, heads, head_dim))
        k = k.reshape((-1, kv_heads, head_dim))
        v = v.reshape((-1, kv_heads, head_dim))
        if config.layout.qk_norm is not None:
            q, k = self.q_layernorm(q), self.k_layernorm(k)
        return self.output(rotary_attention(config, self.layer, q, k, v, step))

    def output(self, attn: TensorValue) -> TensorValue:
        """The output projection, its matmul a kernel of its own (`common.matmul`): what the
        block adds to it (bias, residual) would otherwise join the matmul's epilogue."""
        return biased(self.out, product_alone(self.out, attn))

    def _project_qkv(self, x: TensorValue) -> TensorValue:
        """[tokens, q | k | v] with bias, from one fused projection (GPT-NeoX's per-head rows
        are reordered at load) or three joined here, as MAX's Llama joins them."""
        if self.config.layout.fused_qkv:
            return self.query_key_value(x)
        projections = (self.q_proj, self.k_proj, self.v_proj)
        wqkv = ops.concat([TensorValue(p.weight) for p in projections])
        qkv = x @ wqkv.T
        if self.config.layout.qkv_bias:
            qkv = qkv + ops.concat([TensorValue(p.bias) for p in projections])
        return qkv


class RotaryMLP(Module):
    """out(act(in(x))), or with three projections down(act(gate(x)) * up(x))."""

    def __init__(self, config: RotaryConfig) -> None:
        super().__init__()
        layout = config.layout
        hidden, inner, bias = config.hidden_size, config.intermediate_size, layout.mlp_bias
        *ins, out = layout.mlp
        self.projections = [named(self, name, linear(config, hidden, inner, bias)) for name in ins]
        self.projections.append(named(self, out, linear(config, inner, hidden, bias)))
        self.act = ACTIVATIONS[config.activation]

    def __call__(self, x: TensorValue) -> TensorValue:
        if len(self.projections) == 3:
            gate, up, down = self.projections
            return down(self.act(gate(x)) * up(x))
        fc_in, fc_out = self.projections
        # The first matmul alone, its bias and activation after it (`common.matmul`).
        return fc_out(self.act(biased(fc_in, product_alone(fc_in, x))))


class RotaryBlock(Module):
    """Pre-norm attention and MLP, one after the other or side by side on the block input."""

    def __init__(self, config: RotaryConfig, layer: int) -> None:
        super().__init__()
        self.layout = layout = config.layout
        self.mlp_reads_attention_norm = config.mlp_reads_attention_norm
        self.input_layernorm = block_norm(config)
        self.attention = named(self, layout.attention, RotaryAttention(config, layer))
        if not self.mlp_reads_attention_norm:
            self.post_attention_layernorm = block_norm(config)
        self.mlp = RotaryMLP(config)

    def __call__(self, x: TensorValue, step: Step) -> TensorValue:
        h = self.input_layernorm(x)
        attn = self.attention(h, step)
        if not self.layout.parallel_residual:
            h = x + attn
            return h + self.mlp(self.post_attention_layernorm(h))
        mlp = self.mlp(h if self.mlp_reads_attention_norm else self.post_attention_layernorm(x))
        # Summed in Hugging Face's order for the architecture.
        return x + attn + mlp if self.layout.residual_first else attn + mlp + x


class RotaryDecoder(PositionedDecoder):
    """The top module: embedding, blocks, final norm, LM head (tied when the config says so)."""

    def __init__(self, config: RotaryConfig) -> None:
        super().__init__()
        self.config = config
        # cos/sin rows for every position served (the rope kernel finds each token's row).
        self.rope = RotaryTable(
            config.rotary_dim, config.max_seq_len, config.rope_theta, config.devices[0]
        )
        self.return_logits = config.return_logits
        layout, hidden, device = config.layout, config.hidden_size, config.devices[0]
        embedding = Embedding(config.vocab_size, hidden, config.dtype, device)
        self.embedding = named(self, layout.embedding, embedding)
        self.layers = LayerList([RotaryBlock(config, i) for i in range(config.num_layers)])
        # `norm` and `lm_head` are the names LogitsPostprocessMixin reads.
        self.norm = named(self, layout.final_norm, norm(config, hidden))
        head = linear(config, hidden, config.vocab_size, layout.lm_head_bias)
        self.lm_head = named(self, layout.lm_head, head)
        if config.tie_word_embeddings:
            self.lm_head.set_shared_weight("weight", embedding.weight)

    def hidden_states(
        self,
        tokens: TensorValue,
        positions: TensorValue,
        kv_collection: PagedCacheValues,
        input_row_offsets: TensorValue,
    ) -> TensorValue:
        # Rotation positions come from the KV cache (cached tokens + index among the new ones),
        # which is what `positions` holds; the graph input stays for the shared decoder inputs.
        config = self.config
        if config.splits_and_stores:
            rotation = self.rope.head_freqs_cis(config.head_dim)
        else:
            rotation = self.rope.freqs_cis()
        step = Step(rotation, kv_collection, input_row_offsets)
        h = self.embedding(tokens)
        if config.layout.scale_embedding:
            # The scale is rounded to the activation dtype first, as Hugging Face rounds it.
            scale = math.sqrt(config.hidden_size)
            h = h * ops.constant(scale, config.dtype, device=config.devices[0])
        if config.centered_residual:
            h = h - ops.mean(h, axis=-1)
        for layer in self.layers:
            h = layer(h, step)
        return h

    def folded_vectors(self) -> list[str]:
        """Over a centered stream, the block norms' weights the graph does not bind
        (`centering.py`)."""
        config = self.config
        return folded_norm_weights(config) if config.centered_residual else []

    def graph_weights(self, checked: Mapping[str, WeightData]) -> Mapping[str, WeightData]:
        """Over a centered stream, the norms folded (`centering.py`); with partial rotary and
        the split-and-store kernel, each q and k head's channels in `head_channel_order` (rows
        of the projections and their biases)."""
        config = self.config
        if config.centered_residual:
            checked = center_residual(config, checked)
        if not config.splits_and_stores or config.rotary_dim == config.head_dim:
            return checked
        order = head_channel_order(config.head_dim, config.rotary_dim)
        out = dict(checked)
        for name, rows in qk_rows(config):
            array, dtype = numpy_view(out[name])
            tail = array.shape[1:]
            heads = array[:rows].reshape(-1, config.head_dim, *tail)[:, order]
            reordered = np.concatenate([heads.reshape(-1, *tail), array[rows:]])
            out[name] = weight_from_numpy(reordered, dtype, name)
        return out


def qk_rows(config: RotaryConfig) -> list[tuple[str, int]]:
    """Each graph weight holding q's or k's rows, head by head, and how many leading rows
    are theirs (a fused projection's v rows follow)."""
    q_rows = config.num_heads * config.head_dim
    k_rows = config.num_kv_heads * config.head_dim
    layout = config.layout
    parts = ("weight", "bias") if layout.qkv_bias else ("weight",)
    if layout.fused_qkv:
        projections = [("query_key_value", q_rows + k_rows)]
    else:
        projections = [("q_proj", q_rows), ("k_proj", k_rows)]
    return [
        (f"layers.{layer}.{layout.attention}.{projection}.{part}", rows)
        for layer in range(config.num_layers)
        for projection, rows in projections
        for part in parts
    ]
