"""Layout conversions between Hugging Face checkpoint tensors and per-projection graph weights.

Only what a family uses: GPT-2's Conv1D transpose, and GPT-NeoX's per-head fused QKV reordered
to [q | k | v] (as a plain function and as an `(array, ctx)` row adapter, suffix `_rule`, that
reads "num_heads" and "head_dim" from `ctx`).

Weights are [out, in] like torch.nn.Linear; biases are 1-D [out]. The reorder works on the
leading (out) axis, so it serves both. Results are C-contiguous because MAX takes weights
through DLPack, which wants a dense layout.

Inputs may be numpy arrays, torch tensors or MAX WeightData/Buffer. Results are numpy arrays,
except for dtypes numpy lacks (bfloat16, float8): those transforms only move elements, so they
run on the raw bits and hand back the input's kind (a MAX Buffer or torch tensor) with its dtype.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

Ctx = Mapping[str, Any]


def _same(array: np.ndarray) -> np.ndarray:
    return array


def _numpy_or_bits(array: Any) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """(numpy values, or raw bits where numpy lacks the dtype; a function restoring the kind)."""
    if isinstance(array, np.ndarray):
        return array, _same
    if hasattr(array, "detach"):  # torch.Tensor: from_dlpack refuses tensors that need grad
        tensor = array.detach().cpu()
        try:
            return tensor.numpy(), _same
        except TypeError:  # bfloat16 and float8 have no numpy dtype
            return _torch_bits(tensor)
    if hasattr(array, "__dlpack__"):
        try:
            return np.from_dlpack(array), _same
        except (RuntimeError, BufferError, TypeError):  # MAX: "Unsupported dtype in DLTensor"
            return _max_bits(array)
    return np.asarray(array), _same


def _torch_bits(tensor: Any) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    import torch

    signed = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
    original = tensor.dtype

    def restore(bits: np.ndarray) -> Any:
        return torch.from_numpy(np.ascontiguousarray(bits)).view(original)

    return tensor.view(signed[tensor.element_size()]).numpy(), restore


def _max_bits(array: Any) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    from max.driver import Buffer
    from max.dtype import DType

    # WeightData keeps its buffer in .data; a Buffer is its own data.
    buffer = array.data if hasattr(array, "data") and hasattr(array.data, "view") else array
    original = buffer.dtype
    unsigned = {1: DType.uint8, 2: DType.uint16, 4: DType.uint32, 8: DType.uint64}
    bits = np.from_dlpack(buffer.view(unsigned[original.size_in_bytes]))

    def restore(result: np.ndarray) -> Any:
        return Buffer.from_numpy(np.ascontiguousarray(result)).view(original)

    return bits, restore


def as_numpy(array: Any) -> np.ndarray:
    """numpy values of a numpy array, torch tensor, or DLPack object such as MAX WeightData."""
    values, restore = _numpy_or_bits(array)
    if restore is not _same:
        dtype = getattr(array, "dtype", "?")
        raise ValueError(
            f"as_numpy: dtype {dtype} has no numpy equivalent; found shape "
            f"{getattr(array, 'shape', '?')}"
        )
    return values


def _element_moves(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a pure element-moving transform on numpy; give results back in the input's kind."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        restores: list[Callable[[np.ndarray], Any]] = []

        def convert(arg: Any) -> Any:
            # Arrays are converted; sizes and ctx pass through.
            if not hasattr(arg, "shape") or isinstance(arg, np.generic):
                return arg
            values, back = _numpy_or_bits(arg)
            restores.append(back)
            return values

        args = tuple(convert(a) for a in args)
        kwargs = {key: convert(value) for key, value in kwargs.items()}
        result = fn(*args, **kwargs)
        restore = restores[0] if restores else None
        if restore is None or restore is _same:
            return result
        if isinstance(result, tuple):
            return tuple(restore(r) for r in result)
        return restore(result)

    return wrapper


def _out_dim(array: np.ndarray, name: str) -> int:
    if array.ndim not in (1, 2):
        raise ValueError(
            f"{name}: expected a 2-D weight [out, in] or 1-D bias [out], found shape {array.shape}"
        )
    return int(array.shape[0])


def _check_out(array: np.ndarray, expected: int, name: str, layout: str) -> None:
    found = _out_dim(array, name)
    if found != expected:
        raise ValueError(
            f"{name}: out axis of shape {array.shape} is {found}, expected {expected} for {layout}"
        )


# --- Conv1D (GPT-2 stores [in, out]) -----------------------------------------------------------


@_element_moves
def transpose_conv1d(weight: Any, ctx: Ctx | None = None) -> np.ndarray:
    """HF Conv1D [in, out] -> Linear [out, in]; its own inverse. Biases pass through unchanged."""
    array = as_numpy(weight)
    if array.ndim == 1:
        return array
    if array.ndim != 2:
        raise ValueError(f"transpose_conv1d: expected a 2-D weight, found shape {array.shape}")
    return np.ascontiguousarray(array.T)


# --- GPT-NeoX's fused QKV: rows per head as (q, k, v) -> [q | k | v] ----------------------------


@_element_moves
def per_head_qkv_to_contiguous(w: Any, num_heads: int, head_dim: int) -> np.ndarray:
    """[num_heads x (q, k, v) x head_dim, ...] (GPT-NeoX's `query_key_value`, weight or bias)
    -> [q | k | v] along out, each part [num_heads x head_dim]: the layout a contiguous split
    (and MAX's fused QKV kernels) take. A row permutation, so a projection through it computes
    the same numbers."""
    array = as_numpy(w)
    _check_out(
        array,
        3 * num_heads * head_dim,
        "per_head_qkv_to_contiguous",
        f"{num_heads} heads x (q, k, v) x {head_dim}",
    )
    per_head = array.reshape(num_heads, 3, head_dim, *array.shape[1:])
    return np.ascontiguousarray(per_head.swapaxes(0, 1).reshape(array.shape))


# --- (array, ctx) adapters for mapping rows ----------------------------------------------------


def _require(ctx: Ctx, key: str, transform: str) -> int:
    if ctx.get(key) is None:
        raise ValueError(f"{transform} needs ctx[{key!r}]; ctx has {sorted(ctx)}")
    return int(ctx[key])


def per_head_qkv_to_contiguous_rule(w: Any, ctx: Ctx) -> np.ndarray:
    """Row adapter: per_head_qkv_to_contiguous with ctx's "num_heads" and "head_dim" (the arch
    config's, `common.max_weights.TableAdapter`)."""
    transform = "per_head_qkv_to_contiguous_rule"
    return per_head_qkv_to_contiguous(
        w, _require(ctx, "num_heads", transform), _require(ctx, "head_dim", transform)
    )
