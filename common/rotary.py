"""Rotary position embeddings (RoPE) as Hugging Face computes them, for graphs given positions.

The cos/sin table is built once in numpy the way Hugging Face's default rope does it (float32
inverse frequencies, float32 angles `position * inv_freq`, then cos and sin) and enters the graph
as a constant. The decoders hand it to MAX's fused rope kernel (`RotaryTable.freqs_cis`, used
by `common.attention.paged_causal_attention`), which rotates q and the cached k at each token's
position in its sequence, counting cached tokens, so prefill, decode and prefix-cache hits all
rotate alike. `RotaryTable.__call__` and `apply_rotary` are the same rotation written as graph
ops over a gathered table, the reference the tests and tools/gpu_ablate.py compare against.

Rotation is Hugging Face's `rotate_half` ("NeoX style"): within the first `rotary_dim` channels
of a head, channel i pairs with channel i + rotary_dim/2; channels past `rotary_dim` pass
through (partial rotary, as GPT-NeoX's `rotary_pct` and Phi's `partial_rotary_factor` set it).
MAX's split-and-store kernel rotates whole heads instead (channel i with i + head_dim/2):
`RotaryTable.head_freqs_cis` gives the pass-through channels angle zero, and
`head_channel_order` is the order of q's and k's channels, set at load, in which its pairs
are Hugging Face's.
"""

from __future__ import annotations

import numpy as np
from max.dtype import DType
from max.graph import DeviceRef, TensorValue, ops


def rotary_dim_of(head_dim: int, partial_rotary_factor: float) -> int:
    """Channels of a head that rotate; Hugging Face truncates `head_dim * factor` to an int."""
    dim = int(head_dim * partial_rotary_factor)
    if dim <= 0 or dim % 2 or dim > head_dim:
        raise ValueError(
            f"partial_rotary_factor {partial_rotary_factor} of head_dim {head_dim} gives "
            f"{dim} rotary channels; expected an even number in [2, {head_dim}]"
        )
    return dim


def inverse_frequencies(rotary_dim: int, theta: float) -> np.ndarray:
    """[rotary_dim // 2] float32: 1 / theta ** (2i / rotary_dim), computed in float32 as HF does."""
    exponents = np.arange(0, rotary_dim, 2, dtype=np.int64).astype(np.float32) / np.float32(
        rotary_dim
    )
    return (np.float32(1.0) / np.power(np.float32(theta), exponents)).astype(np.float32)


def rotary_tables(
    rotary_dim: int, max_positions: int, theta: float
) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin, each [max_positions, rotary_dim // 2] float32, row p for position p.

    The angle is rounded to float32 as Hugging Face rounds it; cos and sin of that float32
    angle are then taken in float64, so each entry is the correctly rounded value.
    """
    positions = np.arange(max_positions, dtype=np.float32)
    angles = np.outer(positions, inverse_frequencies(rotary_dim, theta)).astype(np.float32)
    wide = angles.astype(np.float64)
    return np.cos(wide).astype(np.float32), np.sin(wide).astype(np.float32)


def rotate_numpy(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Reference rotation of x [..., tokens, heads, head_dim] by per-token cos/sin [tokens, r/2]."""
    half = cos.shape[-1]
    c, s = cos[:, None, :], sin[:, None, :]
    x1, x2, rest = x[..., :half], x[..., half : 2 * half], x[..., 2 * half :]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s, rest], axis=-1)


def head_rotary_tables(
    rotary_dim: int, head_dim: int, max_positions: int, theta: float
) -> tuple[np.ndarray, np.ndarray]:
    """`rotary_tables` over whole heads, each [max_positions, head_dim // 2]: the rotary
    frequencies, then angle zero (cos 1, sin 0) for the channels that pass through."""
    cos_table, sin_table = rotary_tables(rotary_dim, max_positions, theta)
    still = (max_positions, (head_dim - rotary_dim) // 2)
    return (
        np.concatenate([cos_table, np.ones(still, np.float32)], axis=1),
        np.concatenate([sin_table, np.zeros(still, np.float32)], axis=1),
    )


def head_channel_order(head_dim: int, rotary_dim: int) -> np.ndarray:
    """Which of a head's channels goes where so that pairs (i, i + head_dim / 2) are Hugging
    Face's rotary pairs (i, i + rotary_dim / 2), followed by the channels that pass through:
    [rotary first half, pass-through first half, rotary second half, pass-through second half].
    q.k is the same when q and k are reordered alike; the identity when rotary_dim = head_dim."""
    half, rotary_half = head_dim // 2, rotary_dim // 2
    still = np.arange(rotary_dim, head_dim)
    return np.concatenate(
        [
            np.arange(rotary_half),
            still[: half - rotary_half],
            np.arange(rotary_half, rotary_dim),
            still[half - rotary_half :],
        ]
    )


class RotaryTable:
    """A model's cos/sin table as a graph constant, gathered per token by position."""

    def __init__(
        self, rotary_dim: int, max_positions: int, theta: float, device: DeviceRef
    ) -> None:
        self.rotary_dim = rotary_dim
        self.max_positions = max_positions
        self.theta = theta
        self.device = device

    def freqs_cis(self) -> TensorValue:
        """The table as MAX's rope kernels take it: [max_positions, rotary_dim] float32 on the
        model's device, row p holding (cos, sin) of each frequency side by side. A kernel given
        a float32 table rotates in float32 whatever the activations' dtype."""
        return self._pairs(*rotary_tables(self.rotary_dim, self.max_positions, self.theta))

    def head_freqs_cis(self, head_dim: int) -> TensorValue:
        """The table over whole heads, [max_positions, head_dim], as MAX's split-and-store
        kernel takes it (it pairs channel i with i + head_dim / 2): the rotary frequencies
        first, then angle zero (cos 1, sin 0, exactly the identity) for the channels that pass
        through. Those pairs match Hugging Face's only with q's and k's channels in
        `head_channel_order`."""
        return self._pairs(
            *head_rotary_tables(self.rotary_dim, head_dim, self.max_positions, self.theta)
        )

    def _pairs(self, cos_table: np.ndarray, sin_table: np.ndarray) -> TensorValue:
        """cos and sin [positions, n] as one [positions, 2n] float32 constant on the model's
        device, each frequency's cos and sin side by side."""
        pairs = np.stack([cos_table, sin_table], axis=-1).reshape(self.max_positions, -1)
        return ops.constant(pairs, DType.float32, device=DeviceRef.CPU()).to(self.device)

    def __call__(
        self, positions: TensorValue, dtype: DType = DType.float32
    ) -> tuple[TensorValue, TensorValue]:
        """Per-token cos and sin [tokens, 1, rotary_dim // 2] in `dtype`, broadcast over heads.

        `apply_rotary` rotates in this dtype; float32 keeps the angle's precision at large
        positions, which bfloat16 loses.
        """
        cos_table, sin_table = rotary_tables(self.rotary_dim, self.max_positions, self.theta)
        out = []
        for table in (cos_table, sin_table):
            constant = ops.constant(table, DType.float32, device=DeviceRef.CPU()).to(self.device)
            rows = ops.gather(constant, positions, axis=0)
            out.append(ops.unsqueeze(rows.cast(dtype), 1))
        return out[0], out[1]


def apply_rotary(x: TensorValue, cos: TensorValue, sin: TensorValue) -> TensorValue:
    """Rotates the first 2 * cos.shape[-1] channels of x [tokens, heads, head_dim], NeoX style,
    computing in cos's dtype and returning x's."""
    half = int(cos.shape[-1])
    head_dim = int(x.shape[-1])
    wide = x.cast(cos.dtype) if x.dtype != cos.dtype else x
    x1 = wide[:, :, :half]
    x2 = wide[:, :, half : 2 * half]
    rotated = [x1 * cos - x2 * sin, x2 * cos + x1 * sin]
    if 2 * half < head_dim:
        rotated.append(wide[:, :, 2 * half :])
    out = ops.concat(rotated, axis=-1)
    return out.cast(x.dtype) if out.dtype != x.dtype else out
