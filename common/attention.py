"""Causal attention over MAX's paged KV cache, for projections a family has already made.

A family computes q, k, v its own way (fused or not); this stores k and v in the cache for
`layer`, rotates q and the stored k when given a rotary table (MAX's `fused_qk_ragged_rope`,
the path MAX's own Llama-family attention takes), and runs MAX's ragged flash-attention kernel,
which masks causally within each sequence of the batch and attends to what earlier steps
cached.
"""

from __future__ import annotations

from max.dtype import DType
from max.graph import DeviceRef, TensorValue, ops
from max.nn.attention.mask_config import MHAMaskVariant
from max.nn.kernels import (
    flash_attention_ragged,
    fused_qk_ragged_rope,
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
