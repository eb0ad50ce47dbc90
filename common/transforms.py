"""Layout conversions between Hugging Face checkpoint tensors and per-projection graph weights.

Two forms of every conversion:
  - plain numpy functions with explicit keyword arguments (`split_qkv_contiguous(w, q_dim,
    kv_dim)`), each paired with its inverse, for tests and export;
  - `(array, ctx)` adapters (suffix `_rule`) that a `common.mapping.Row` names directly; they
    read head counts from `ctx` (keys below) and return one array or a tuple (q, k, v).

ctx keys read by the adapters: "num_heads", "num_kv_heads" (defaults to num_heads), "head_dim"
(defaults to hidden_size // num_heads), "hidden_size", "intermediate_size" (optional).

Weights are [out, in] like torch.nn.Linear; biases are 1-D [out]. Every split and fuse works on
the leading (out) axis, so it serves both. Results are C-contiguous because MAX takes weights
through DLPack, which wants a dense layout.

Inputs may be numpy arrays, torch tensors or MAX WeightData/Buffer. Results are numpy arrays,
except for dtypes numpy lacks (bfloat16, float8): those transforms only move elements, so they
run on the raw bits and hand back the input's kind (a MAX Buffer or torch tensor) with its dtype.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
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


def _contiguous(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(np.ascontiguousarray(a) for a in arrays)


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


# --- contiguous fused QKV: [q | k | v] along out (GPT-2 c_attn, Phi-3 qkv_proj) ----------------


@_element_moves
def split_qkv_contiguous(
    w: Any, q_dim: int, kv_dim: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[q_dim + 2*kv_dim, ...] -> q [q_dim, ...], k [kv_dim, ...], v [kv_dim, ...]."""
    array = as_numpy(w)
    _check_out(
        array, q_dim + 2 * kv_dim, "split_qkv_contiguous", f"[q {q_dim} | k {kv_dim} | v {kv_dim}]"
    )
    q, k, v = np.split(array, [q_dim, q_dim + kv_dim], axis=0)
    return _contiguous(q, k, v)


@_element_moves
def fuse_qkv_contiguous(q: Any, k: Any, v: Any) -> np.ndarray:
    """Inverse of split_qkv_contiguous."""
    q, k, v = as_numpy(q), as_numpy(k), as_numpy(v)
    if k.shape != v.shape:
        raise ValueError(f"fuse_qkv_contiguous: k shape {k.shape} != v shape {v.shape}")
    return np.concatenate([q, k, v], axis=0)


# --- per-head interleaved: [heads, 3, head_dim] along out (GPT-NeoX, BLOOM, Falcon-7B MHA) -----


@_element_moves
def split_qkv_interleaved(
    w: Any, num_heads: int, head_dim: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[heads*3*head_dim, ...] laid out per head as (q, k, v) -> q, k, v [heads*head_dim, ...]."""
    array = as_numpy(w)
    _check_out(
        array,
        3 * num_heads * head_dim,
        "split_qkv_interleaved",
        f"[{num_heads} heads, 3, {head_dim}]",
    )
    rest = array.shape[1:]
    per_head = array.reshape(num_heads, 3, head_dim, *rest)
    parts = (per_head[:, i].reshape(num_heads * head_dim, *rest) for i in range(3))
    return _contiguous(*parts)


@_element_moves
def fuse_qkv_interleaved(q: Any, k: Any, v: Any, num_heads: int) -> np.ndarray:
    """Inverse of split_qkv_interleaved."""
    parts = [as_numpy(x) for x in (q, k, v)]
    if not parts[0].shape == parts[1].shape == parts[2].shape:
        raise ValueError(
            "fuse_qkv_interleaved: q, k, v shapes differ: " + ", ".join(str(p.shape) for p in parts)
        )
    out = _out_dim(parts[0], "fuse_qkv_interleaved")
    if out % num_heads:
        raise ValueError(f"fuse_qkv_interleaved: out axis {out} not divisible by {num_heads} heads")
    head_dim = out // num_heads
    rest = parts[0].shape[1:]
    stacked = np.stack([p.reshape(num_heads, head_dim, *rest) for p in parts], axis=1)
    return stacked.reshape(3 * out, *rest)


# --- multi-query: [q (all heads) | k (one head) | v (one head)] (GPTBigCode, Falcon-7B) --------


@_element_moves
def split_qkv_multi_query(
    w: Any, num_heads: int, head_dim: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[(heads+2)*head_dim, ...] -> q [heads*head_dim, ...], k and v [head_dim, ...]."""
    array = as_numpy(w)
    _check_out(
        array,
        (num_heads + 2) * head_dim,
        "split_qkv_multi_query",
        f"[q {num_heads}x{head_dim} | k {head_dim} | v {head_dim}]",
    )
    return split_qkv_contiguous(array, num_heads * head_dim, head_dim)


@_element_moves
def fuse_qkv_multi_query(q: Any, k: Any, v: Any) -> np.ndarray:
    """Inverse of split_qkv_multi_query (a contiguous fuse with one k/v head)."""
    return fuse_qkv_contiguous(q, k, v)


# --- grouped fused: [kv_groups, q_per_kv + 2, head_dim] (Falcon new_decoder_architecture) ------


@_element_moves
def split_qkv_grouped(
    w: Any, num_heads: int, num_kv_heads: int, head_dim: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per kv group (q heads of the group, k, v) -> q [heads*hd, ...], k and v [kv*hd, ...]."""
    array = as_numpy(w)
    if num_heads % num_kv_heads:
        raise ValueError(
            f"split_qkv_grouped: num_heads {num_heads} not divisible by num_kv_heads {num_kv_heads}"
        )
    q_per_kv = num_heads // num_kv_heads
    _check_out(
        array,
        (num_heads + 2 * num_kv_heads) * head_dim,
        "split_qkv_grouped",
        f"[{num_kv_heads} groups, {q_per_kv} q + k + v, {head_dim}]",
    )
    rest = array.shape[1:]
    grouped = array.reshape(num_kv_heads, q_per_kv + 2, head_dim, *rest)
    q = grouped[:, :q_per_kv].reshape(num_heads * head_dim, *rest)
    k = grouped[:, q_per_kv].reshape(num_kv_heads * head_dim, *rest)
    v = grouped[:, q_per_kv + 1].reshape(num_kv_heads * head_dim, *rest)
    return _contiguous(q, k, v)


@_element_moves
def fuse_qkv_grouped(q: Any, k: Any, v: Any, num_kv_heads: int) -> np.ndarray:
    """Inverse of split_qkv_grouped."""
    q, k, v = as_numpy(q), as_numpy(k), as_numpy(v)
    if k.shape != v.shape:
        raise ValueError(f"fuse_qkv_grouped: k shape {k.shape} != v shape {v.shape}")
    kv_out = _out_dim(k, "fuse_qkv_grouped")
    if kv_out % num_kv_heads:
        raise ValueError(
            f"fuse_qkv_grouped: k out axis {kv_out} not divisible by {num_kv_heads} kv heads"
        )
    head_dim = kv_out // num_kv_heads
    q_out = _out_dim(q, "fuse_qkv_grouped")
    if q_out % (num_kv_heads * head_dim):
        raise ValueError(
            f"fuse_qkv_grouped: q out axis {q_out} is not a multiple of "
            f"{num_kv_heads} kv heads x head_dim {head_dim}"
        )
    rest = q.shape[1:]
    q_per_kv = q_out // (num_kv_heads * head_dim)
    grouped = np.concatenate(
        [
            q.reshape(num_kv_heads, q_per_kv, head_dim, *rest),
            k.reshape(num_kv_heads, 1, head_dim, *rest),
            v.reshape(num_kv_heads, 1, head_dim, *rest),
        ],
        axis=1,
    )
    return grouped.reshape(q_out + 2 * kv_out, *rest)


# --- fused gate/up MLP: [gate | up] (Phi-3 gate_up_proj) ---------------------------------------


@_element_moves
def split_gate_up(w: Any, intermediate_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """[2*intermediate, ...] -> gate, up [intermediate, ...] (gate first, as Phi-3's chunk(2))."""
    array = as_numpy(w)
    out = _out_dim(array, "split_gate_up")
    size = out // 2 if intermediate_size is None else intermediate_size
    _check_out(array, 2 * size, "split_gate_up", f"[gate {size} | up {size}]")
    gate, up = np.split(array, 2, axis=0)
    return _contiguous(gate, up)


@_element_moves
def fuse_gate_up(gate: Any, up: Any) -> np.ndarray:
    """Inverse of split_gate_up."""
    gate, up = as_numpy(gate), as_numpy(up)
    if gate.shape != up.shape:
        raise ValueError(f"fuse_gate_up: gate shape {gate.shape} != up shape {up.shape}")
    return np.concatenate([gate, up], axis=0)


# --- (array, ctx) adapters for mapping rows ----------------------------------------------------


def _require(ctx: Ctx, key: str, transform: str) -> int:
    if ctx.get(key) is None:
        raise ValueError(f"{transform} needs ctx[{key!r}]; ctx has {sorted(ctx)}")
    return int(ctx[key])


def _heads(ctx: Ctx, transform: str) -> tuple[int, int, int]:
    """(num_heads, num_kv_heads, head_dim) from ctx, with the usual Hugging Face fallbacks."""
    num_heads = _require(ctx, "num_heads", transform)
    num_kv_heads = int(ctx.get("num_kv_heads") or num_heads)
    if ctx.get("head_dim") is not None:
        head_dim = int(ctx["head_dim"])
    else:
        head_dim = _require(ctx, "hidden_size", transform) // num_heads
    return num_heads, num_kv_heads, head_dim


def split_qkv_contiguous_rule(w: Any, ctx: Ctx) -> tuple[np.ndarray, ...]:
    """Row adapter: [q | k | v] with num_heads / num_kv_heads / head_dim from ctx."""
    heads, kv_heads, head_dim = _heads(ctx, "split_qkv_contiguous_rule")
    return split_qkv_contiguous(w, heads * head_dim, kv_heads * head_dim)


def split_qkv_interleaved_rule(w: Any, ctx: Ctx) -> tuple[np.ndarray, ...]:
    """Row adapter: per-head (q, k, v) interleave, GPT-NeoX / BLOOM."""
    heads, _, head_dim = _heads(ctx, "split_qkv_interleaved_rule")
    return split_qkv_interleaved(w, heads, head_dim)


def split_qkv_multi_query_rule(w: Any, ctx: Ctx) -> tuple[np.ndarray, ...]:
    """Row adapter: [q | one k head | one v head], GPTBigCode multi_query."""
    heads, _, head_dim = _heads(ctx, "split_qkv_multi_query_rule")
    return split_qkv_multi_query(w, heads, head_dim)


def split_qkv_grouped_rule(w: Any, ctx: Ctx) -> tuple[np.ndarray, ...]:
    """Row adapter: Falcon new_decoder_architecture groups."""
    heads, kv_heads, head_dim = _heads(ctx, "split_qkv_grouped_rule")
    return split_qkv_grouped(w, heads, kv_heads, head_dim)


def split_gate_up_rule(w: Any, ctx: Ctx) -> tuple[np.ndarray, ...]:
    """Row adapter: [gate | up]; ctx["intermediate_size"] is checked when present."""
    size = ctx.get("intermediate_size")
    return split_gate_up(w, None if size is None else int(size))


def transpose_conv1d_rule(w: Any, ctx: Ctx) -> np.ndarray:
    """Row adapter: same as transpose_conv1d (which already takes ctx); named for symmetry."""
    return transpose_conv1d(w)


def compose(*transforms: Callable[[Any, Ctx], Any]) -> Callable[[Any, Ctx], Any]:
    """Chain row transforms left to right: compose(transpose_conv1d, split_qkv_contiguous_rule)."""

    def chained(array: Any, ctx: Ctx) -> Any:
        for transform in transforms:
            array = transform(array, ctx)
        return array

    chained.__name__ = " then ".join(getattr(t, "__name__", repr(t)) for t in transforms)
    return chained


def with_args(fn: Callable[..., Any], **ctx_keys: str) -> Callable[[Any, Ctx], Any]:
    """Plain fn as a row transform: with_args(split_gate_up, intermediate_size="ffn")."""

    def adapted(array: Any, ctx: Ctx) -> Any:
        kwargs = {arg: _require(ctx, key, fn.__name__) for arg, key in ctx_keys.items()}
        return fn(array, **kwargs)

    adapted.__name__ = fn.__name__
    return adapted


@_element_moves
def split_sizes(array: Any, sizes: Sequence[int]) -> tuple[np.ndarray, ...]:
    """Split along the out axis into consecutive blocks of the given sizes (generic fused rows)."""
    a = as_numpy(array)
    _check_out(a, sum(sizes), "split_sizes", f"blocks {list(sizes)}")
    return _contiguous(*np.split(a, np.cumsum(sizes)[:-1], axis=0))
