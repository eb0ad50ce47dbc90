"""GPT-2 as a MAX graph: learned positions, attention over the paged KV cache from one q/k/v
projection (split, and k and v stored, by one MAX kernel), pre-norm blocks with a two-layer
MLP. Weight names follow the checkpoint's (`h.0.attn...`).

With float weights the residual stream is kept centered and the blocks' LayerNorms run as
RMSNorms, their biases folded into the next projection's at load (`centering.py`). A matrix
the weight file stores in a GGUF block format (`config.quantized`) is kept so and multiplied
by MAX's quantized matmul, and the blocks keep their LayerNorms.
"""

from __future__ import annotations

from collections.abc import Mapping

from max.graph import TensorValue, ops
from max.graph.weights import WeightData
from max.nn.embedding import Embedding
from max.nn.kv_cache import PagedCacheValues
from max.nn.layer import LayerList, Module
from max.nn.linear import Linear
from max.nn.norm import LayerNorm, RMSNorm

from common.attention import identity_rotation, split_store_attention
from common.decoder_graph import PositionedDecoder
from common.gguf import stored_as
from common.matmul import biased, product, product_alone

from .centering import NORM_BIAS_INTO, center_residual
from .model_config import ACTIVATIONS, GPT2Config


class GPT2Attention(Module):
    """Causal self-attention with one `c_attn` projection of q, k and v (bias included)."""

    def __init__(self, config: GPT2Config, layer: int) -> None:
        super().__init__()
        self.kv_params = config.kv_params
        self.num_heads = config.num_heads
        self.layer = layer
        self.scale = config.attention_scale(layer)
        device = config.devices[0]
        hidden = config.hidden_size
        q = config.quantized
        self.c_attn = stored_as(
            Linear(hidden, 3 * hidden, config.dtype, device, has_bias=True),
            q.get(f"h.{layer}.attn.c_attn.weight"),
        )
        self.c_proj = stored_as(
            Linear(hidden, hidden, config.dtype, device, has_bias=True),
            q.get(f"h.{layer}.attn.c_proj.weight"),
        )

    def __call__(
        self,
        x: TensorValue,
        kv_collection: PagedCacheValues,
        input_row_offsets: TensorValue,
        rotation: TensorValue,
    ) -> TensorValue:
        """The attention's output through c_proj's matrix, without c_proj's bias (`GPT2Block`
        adds it). `rotation`: the identity rotary table the split-and-store kernel takes
        (`common.attention.identity_rotation`)."""
        # One matmul, then MAX's kernel that splits q, k, v and stores k and v. (MAX's
        # fused_qkv_ragged_matmul, which stores from the matmul itself, took 3x a plain matmul's
        # time at 128 tokens on an H200: docs/BENCHMARKS.md.)
        attn = split_store_attention(
            self.kv_params,
            layer=self.layer,
            qkv=self.project_qkv(x),
            num_heads=self.num_heads,
            kv_collection=kv_collection,
            input_row_offsets=input_row_offsets,
            scale=self.scale,
            freqs_cis=rotation,
        )
        return product(self.c_proj, attn)

    def project_qkv(self, x: TensorValue) -> TensorValue:
        """q, k and v side by side, c_attn's bias included. c_attn's rows are [q; k; v]
        (Conv1D transposed at load), float or in a GGUF block format."""
        return self.c_attn(x)

    @property
    def output_bias(self) -> TensorValue:
        """c_proj's bias, which `__call__` leaves out for the block to add."""
        return TensorValue(self.c_proj.bias)


class GPT2MLP(Module):
    """Two layers, `c_fc` then `c_proj`, with the checkpoint's activation between."""

    def __init__(self, config: GPT2Config, layer: int) -> None:
        super().__init__()
        device = config.devices[0]
        hidden, inner, q = config.hidden_size, config.intermediate_size, config.quantized
        self.c_fc = stored_as(
            Linear(hidden, inner, config.dtype, device, has_bias=True),
            q.get(f"h.{layer}.mlp.c_fc.weight"),
        )
        self.c_proj = stored_as(
            Linear(inner, hidden, config.dtype, device, has_bias=True),
            q.get(f"h.{layer}.mlp.c_proj.weight"),
        )
        self.act = ACTIVATIONS[config.activation]

    def __call__(self, x: TensorValue) -> TensorValue:
        # c_fc's bias and activation after its plain matmul, not in its epilogue
        # (`common.matmul`).
        h = biased(self.c_fc, product_alone(self.c_fc, x))
        return self.c_proj(self.act(h))


def layer_norm(config: GPT2Config) -> LayerNorm:
    return LayerNorm(config.hidden_size, config.devices, config.dtype, eps=config.layer_norm_eps)


def block_norm(config: GPT2Config) -> LayerNorm | RMSNorm:
    """A block's norm: over a centered stream, RMSNorm with the LayerNorm's weight (its bias is
    in the next projection's); else the LayerNorm."""
    if config.centered_residual:
        return RMSNorm(
            config.hidden_size, config.dtype, config.layer_norm_eps, multiply_before_cast=False
        )
    return layer_norm(config)


class GPT2Block(Module):
    def __init__(self, config: GPT2Config, layer: int) -> None:
        super().__init__()
        self.ln_1 = block_norm(config)
        self.attn = GPT2Attention(config, layer)
        self.ln_2 = block_norm(config)
        self.mlp = GPT2MLP(config, layer)

    def __call__(
        self,
        x: TensorValue,
        kv_collection: PagedCacheValues,
        input_row_offsets: TensorValue,
        rotation: TensorValue,
    ) -> TensorValue:
        # h = x + attention + c_proj's bias, added where it is read (LayerNorm 2's input and
        # the block's output) rather than materialized: MAX folds an add that follows a matmul
        # into the matmul's epilogue, and c_proj's with the residual took twice a plain
        # matmul's time on an H200 (docs/BENCHMARKS.md). Same sum, reassociated.
        a = self.attn(self.ln_1(x), kv_collection, input_row_offsets, rotation)
        bias = self.attn.output_bias
        return x + (a + (self.mlp(self.ln_2((x + bias) + a)) + bias))


class GPT2(PositionedDecoder):
    """`GPT2LMHeadModel`: token plus position embedding, blocks, final norm, LM head."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.config = config
        device = config.devices[0]
        q = config.quantized
        self.wte = stored_as(
            Embedding(config.vocab_size, config.hidden_size, config.dtype, device),
            q.get("wte.weight"),
        )
        self.wpe = stored_as(
            Embedding(config.max_positions, config.hidden_size, config.dtype, device),
            q.get("wpe.weight"),
        )
        self.h = LayerList([GPT2Block(config, i) for i in range(config.num_layers)])
        self.ln_f = layer_norm(config)
        self.lm_head = stored_as(
            Linear(config.hidden_size, config.vocab_size, config.dtype, device),
            q.get("lm_head.weight"),
        )
        if config.tie_word_embeddings:
            self.lm_head.set_shared_weight("weight", self.wte.weight)
        # Names LogitsPostprocessMixin reads.
        self.norm = self.ln_f
        self.return_logits = config.return_logits

    def hidden_states(
        self,
        tokens: TensorValue,
        positions: TensorValue,
        kv_collection: PagedCacheValues,
        input_row_offsets: TensorValue,
    ) -> TensorValue:
        h = self.wte(tokens) + self.wpe(positions)
        config = self.config
        if config.centered_residual:
            h = h - ops.mean(h, axis=-1)
        rotation = identity_rotation(config.max_positions, config.head_dim, h.device)
        for block in self.h:
            h = block(h, kv_collection, input_row_offsets, rotation)
        return h

    def folded_vectors(self) -> list[str]:
        """Over a centered stream, the blocks' LayerNorm biases (`centering.py`)."""
        config = self.config
        if not config.centered_residual:
            return []
        return [
            f"h.{layer}.{norm_bias}"
            for layer in range(config.num_layers)
            for norm_bias, _ in NORM_BIAS_INTO
        ]

    def graph_weights(self, checked: Mapping[str, WeightData]) -> Mapping[str, WeightData]:
        if self.config.centered_residual:
            return center_residual(checked, self.config.num_layers)
        return checked
