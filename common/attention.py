"""Causal attention over MAX's paged KV cache.

Three entries. `paged_causal_attention` takes projections a family has already made (any layout,
quantized or not) and stores k and v in the cache for `layer`. `fused_qkv_attention` takes the
hidden states and one [q; k; v] float weight (rows: query heads, then key heads, then value
heads, each head's channels together; bias likewise) and lets MAX's `fused_qkv_ragged_matmul`
project and store k and v in one kernel. Both then rotate q and the stored k when given a
rotary table (MAX's `fused_qk_ragged_rope`). `split_store_attention` takes one flat [q; k; v]
projection already made and lets MAX's `rope_split_store_ragged` split it, rotate q and k and
store k and v in one kernel, as MAX 26.7's own Llama does (on an H200 a plain matmul and this
kernel took less than half of `fused_qkv_ragged_matmul`'s time at 128 tokens: docs/BENCHMARKS.md).
All run MAX's ragged flash-attention kernel, which masks causally within each sequence of the
batch and attends to what earlier steps cached.
"""

from __future__ import annotations

import numpy as np
from max.dtype import DType
from max.graph import DeviceRef, TensorValue, ops
from max.nn.attention.mask_config import MHAMaskVariant
from max.nn.kernels import (
    flash_attention_ragged,
    fused_qk_ragged_rope,
    fused_qkv_ragged_matmul,
    rope_split_store_ragged,
    store_k_cache_ragged,
    store_v_cache_ragged,
)
from max.nn.kv_cache import KVCacheParams, PagedCacheValues


def paged_causal_attention(
    kv_params: KVCacheParams,
    *,
    layer: int,
    q: TensorValue,
    k: TensorValue,
    v: TensorValue,
    kv_collection: PagedCacheValues,
    input_row_offsets: TensorValue,
    scale: float,
    sliding_window: int | None = None,
    freqs_cis: TensorValue | None = None,
) -> TensorValue:
    """Attends q [tokens, heads, head_dim] to k, v [tokens, kv_heads, head_dim] and the cache.

    With `freqs_cis` ([positions, rotary_dim], each frequency's cos and sin side by side; see
    `common.rotary.RotaryTable.freqs_cis`), q and the k just stored are rotated NeoX style
    (channel i with i + rotary_dim / 2) in the leading rotary_dim channels of each head, at
    each token's position in its sequence (tokens already cached, prefix-cache hits included,
    plus its index among the new ones). Returns [tokens, heads * head_dim].
    """
    layer_idx = ops.constant(layer, DType.uint32, device=DeviceRef.CPU())
    store_k_cache_ragged(kv_collection, k, input_row_offsets, layer_idx)
    store_v_cache_ragged(kv_collection, v, input_row_offsets, layer_idx)
    return _attend_to_cache(
        kv_params, layer_idx, q, kv_collection, input_row_offsets, scale, sliding_window, freqs_cis
    )


def fused_qkv_attention(
    kv_params: KVCacheParams,
    *,
    layer: int,
    x: TensorValue,
    wqkv: TensorValue,
    bias: TensorValue | None,
    num_heads: int,
    kv_collection: PagedCacheValues,
    input_row_offsets: TensorValue,
    scale: float,
    sliding_window: int | None = None,
    freqs_cis: TensorValue | None = None,
) -> TensorValue:
    """Attends x [tokens, hidden] through the fused projection `wqkv` [(num_heads + 2 *
    kv_heads) * head_dim, hidden] (and `bias`), k and v stored by the projection kernel;
    rotation and the rest as `paged_causal_attention`. Returns [tokens, heads * head_dim]."""
    layer_idx = ops.constant(layer, DType.uint32, device=DeviceRef.CPU())
    q = fused_qkv_ragged_matmul(
        kv_params,
        input=x,
        input_row_offsets=input_row_offsets,
        wqkv=wqkv,
        kv_collection=kv_collection,
        layer_idx=layer_idx,
        n_heads=num_heads,
        bias=bias,
    )
    q = q.reshape((-1, num_heads, kv_params.head_dim))
    return _attend_to_cache(
        kv_params, layer_idx, q, kv_collection, input_row_offsets, scale, sliding_window, freqs_cis
    )


def split_store_attention(
    kv_params: KVCacheParams,
    *,
    layer: int,
    qkv: TensorValue,
    num_heads: int,
    kv_collection: PagedCacheValues,
    input_row_offsets: TensorValue,
    scale: float,
    freqs_cis: TensorValue,
) -> TensorValue:
    """Attends a projection already made, flat: qkv [tokens, (num_heads + 2 * kv_heads) *
    head_dim], query heads then key heads then value heads. MAX's `rope_split_store_ragged`
    splits it, rotates q and k by `freqs_cis` (NeoX style over whole heads: channel i with
    i + head_dim / 2; for partial rotary see `common.rotary.head_channel_order`) and stores k
    and v in one kernel, as MAX 26.7's own Llama attention does after a plain matmul; a family
    without rotary embeddings passes `identity_rotation`. Returns [tokens, heads * head_dim]."""
    layer_idx = ops.constant(layer, DType.uint32, device=DeviceRef.CPU())
    q = rope_split_store_ragged(
        kv_params,
        qkv,
        input_row_offsets,
        freqs_cis,
        kv_collection,
        layer_idx,
        n_heads=num_heads,
        interleaved=False,
    )
    q = q.reshape((-1, num_heads, kv_params.head_dim))
    return _attend_to_cache(
        kv_params, layer_idx, q, kv_collection, input_row_offsets, scale, None, None
    )


def identity_rotation(max_positions: int, head_dim: int, device: DeviceRef) -> TensorValue:
    """A rotary table of angle zero, [max_positions, head_dim] of (cos 1, sin 0) pairs: rotating
    by it is exactly the identity (x * 1 - y * 0 = x), so `split_store_attention` splits and
    stores for a family whose attention does not rotate. (Any table the same at every position
    would leave q.k unchanged; this one also leaves q and k bit for bit. A table that varies
    with position, as a rotary one, fails tests/gpt2/test_parity.py.)"""
    pairs = np.tile(np.array([1.0, 0.0], dtype=np.float32), (max_positions, head_dim // 2))
    return ops.constant(pairs, DType.float32, device=DeviceRef.CPU()).to(device)


def _attend_to_cache(
    kv_params: KVCacheParams,
    layer_idx: TensorValue,
    q: TensorValue,
    kv_collection: PagedCacheValues,
    input_row_offsets: TensorValue,
    scale: float,
    sliding_window: int | None,
    freqs_cis: TensorValue | None,
) -> TensorValue:
    """q [tokens, heads, head_dim] (rotated with the k just stored, given `freqs_cis`)
    attending causally to this layer's cache."""
    if freqs_cis is not None:
        q = fused_qk_ragged_rope(
            kv_params, q, input_row_offsets, kv_collection, freqs_cis, layer_idx, interleaved=False
        )
    mask = (
        MHAMaskVariant.CAUSAL_MASK
        if sliding_window is None
        else MHAMaskVariant.SLIDING_WINDOW_CAUSAL_MASK
    )
    out = flash_attention_ragged(
        kv_params,
        input=q,
        kv_collection=kv_collection,
        layer_idx=layer_idx,
        input_row_offsets=input_row_offsets,
        mask_variant=mask,
        scale=scale,
        local_window_size=-1 if sliding_window is None else sliding_window,
    )
    return out.reshape((q.shape[0], -1))
