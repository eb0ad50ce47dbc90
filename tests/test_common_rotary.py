"""common.rotary against Hugging Face's rotary code: the cos/sin table, the rotation, and the
graph version of both gathering by position."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from max.dtype import DType
from transformers import GPTNeoXConfig
from transformers.models.gpt_neox.modeling_gpt_neox import (
    GPTNeoXRotaryEmbedding,
    apply_rotary_pos_emb,
)

from common.rotary import (
    RotaryTable,
    apply_rotary,
    head_channel_order,
    head_rotary_tables,
    inverse_frequencies,
    rotary_dim_of,
    rotary_tables,
    rotate_numpy,
)

torch.set_num_threads(1)

HEAD_DIM = 16
MAX_POSITIONS = 300
EPS32 = float(np.finfo(np.float32).eps)


def hf_cos_sin(
    rotary_pct: float, theta: float, positions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Hugging Face's [tokens, rotary_dim] cos and sin (halves repeated) for the positions."""
    config = GPTNeoXConfig(
        hidden_size=4 * HEAD_DIM,
        num_attention_heads=4,
        rotary_pct=rotary_pct,
        rotary_emb_base=theta,
        max_position_embeddings=MAX_POSITIONS,
    )
    rope = GPTNeoXRotaryEmbedding(config)
    x = torch.zeros(1, dtype=torch.float32)
    cos, sin = rope(x, torch.from_numpy(positions)[None])
    return cos[0].numpy(), sin[0].numpy()


def exact_tables(rotary_dim: int, theta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 cos, sin and angles [MAX_POSITIONS, rotary_dim // 2]: the table float32 rounds."""
    inv_freq = 1.0 / theta ** (np.arange(0, rotary_dim, 2, dtype=np.float64) / rotary_dim)
    angles = np.outer(np.arange(MAX_POSITIONS, dtype=np.float64), inv_freq)
    return np.cos(angles), np.sin(angles), angles


def table_bound(angles: np.ndarray, theta: float) -> np.ndarray:
    """How far a float32 cos/sin table computed as Hugging Face does may be from the exact one."""
    # |d cos| <= |d angle| + cos rounding; |d angle| <= angle * (ln(theta) + 5) * u (u = eps32/2:
    # theta**e amplifies e's rounding by ln(theta), pow 2u, 1/x u, position * inv_freq u);
    # float32 cos/sin (ours correctly rounded, torch's within an ulp or two) add <= 4 eps32.
    return (angles * (np.log(theta) + 5) / 2 + 4) * EPS32


def assert_within_bound(got: np.ndarray, exact: np.ndarray, bound: np.ndarray, what: str) -> None:
    excess = np.abs(got.astype(np.float64) - exact) / bound
    worst = np.unravel_index(np.argmax(excess), excess.shape)
    assert excess.max() <= 1.0, (
        f"{what}: |error| is {excess.max():.3g}x the float32 rounding bound at {worst} "
        f"(got {got[worst]!r}, exact {exact[worst]!r})"
    )


@pytest.mark.parametrize(("rotary_pct", "theta"), [(0.25, 10000.0), (1.0, 500.0), (0.5, 1e6)])
def test_table_matches_hugging_face(rotary_pct, theta):
    """Ours and Hugging Face's float32 tables are each within rounding of the exact table."""
    dim = rotary_dim_of(HEAD_DIM, rotary_pct)
    positions = np.arange(MAX_POSITIONS, dtype=np.int64)
    hf_cos, hf_sin = hf_cos_sin(rotary_pct, theta, positions)
    cos, sin = rotary_tables(dim, MAX_POSITIONS, theta)
    assert cos.shape == (MAX_POSITIONS, dim // 2) and cos.dtype == np.float32
    exact_cos, exact_sin, angles = exact_tables(dim, theta)
    bound = table_bound(angles, theta)
    assert_within_bound(cos, exact_cos, bound, "our cos")
    assert_within_bound(sin, exact_sin, bound, "our sin")
    # Hugging Face repeats the half table: cat(freqs, freqs).
    both = np.tile(bound, 2)
    assert_within_bound(hf_cos, np.tile(exact_cos, 2), both, "Hugging Face's cos")
    assert_within_bound(hf_sin, np.tile(exact_sin, 2), both, "Hugging Face's sin")


@pytest.mark.parametrize(
    ("wrong", "make"),
    [
        ("theta 0.1% high", lambda dim, theta: rotary_tables(dim, MAX_POSITIONS, theta * 1.001)),
        (
            "one position late",
            lambda dim, theta: tuple(t[1:] for t in rotary_tables(dim, MAX_POSITIONS + 1, theta)),
        ),
    ],
)
@pytest.mark.parametrize(("rotary_pct", "theta"), [(0.25, 10000.0), (1.0, 500.0), (0.5, 1e6)])
def test_rounding_bound_rejects_a_wrong_table(rotary_pct, theta, wrong, make):
    dim = rotary_dim_of(HEAD_DIM, rotary_pct)
    cos, sin = make(dim, theta)
    exact_cos, exact_sin, angles = exact_tables(dim, theta)
    bound = table_bound(angles, theta)
    for got, exact in ((cos, exact_cos), (sin, exact_sin)):
        with pytest.raises(AssertionError, match="rounding bound"):
            assert_within_bound(got, exact, bound, wrong)


def test_inverse_frequencies_are_float32_powers():
    inv = inverse_frequencies(8, 10000.0)
    assert inv.dtype == np.float32
    np.testing.assert_allclose(inv, [1.0, 0.1, 0.01, 0.001], rtol=1e-6)


@pytest.mark.parametrize(("factor", "expected"), [(0.25, 4), (1.0, 16), (0.4, 6)])
def test_rotary_dim_truncates_like_hugging_face(factor, expected):
    assert rotary_dim_of(HEAD_DIM, factor) == expected


@pytest.mark.parametrize("factor", [0.0, 0.05, 1.5])
def test_rotary_dim_refuses_odd_or_out_of_range(factor):
    with pytest.raises(ValueError, match="partial_rotary_factor"):
        rotary_dim_of(HEAD_DIM, factor)


def rotation_scale(x: np.ndarray, half: int) -> np.ndarray:
    """|x1| + |x2| per output channel (0 past the rotary ones): a rotation's errors scale by it."""
    pair = np.abs(x[..., :half]) + np.abs(x[..., half : 2 * half])
    return np.concatenate([pair, pair, np.zeros_like(x[..., 2 * half :])], axis=-1)


@pytest.mark.parametrize("rotary_pct", [0.25, 1.0])
def test_rotation_matches_hugging_face(rotary_pct):
    """Ours and Hugging Face's rotations are each within float32 rounding of the exact one."""
    rng = np.random.default_rng(0)
    positions = np.array([0, 1, 2, 7, 150, 299], dtype=np.int64)
    q = rng.standard_normal((len(positions), 3, HEAD_DIM)).astype(np.float32)
    dim = rotary_dim_of(HEAD_DIM, rotary_pct)
    cos, sin = rotary_tables(dim, MAX_POSITIONS, 10000.0)
    ours = rotate_numpy(q, cos[positions], sin[positions])

    hf_cos, hf_sin = hf_cos_sin(rotary_pct, 10000.0, positions)
    # HF wants [batch, heads, tokens, head_dim] and cos/sin [batch, tokens, rotary_dim].
    q_t = torch.from_numpy(q).permute(1, 0, 2)[None]
    ref, _ = apply_rotary_pos_emb(
        q_t, q_t, torch.from_numpy(hf_cos)[None], torch.from_numpy(hf_sin)[None]
    )
    theirs = ref[0].permute(1, 0, 2).numpy()

    exact_cos, exact_sin, angles = exact_tables(dim, 10000.0)
    exact = rotate_numpy(q.astype(np.float64), exact_cos[positions], exact_sin[positions])
    # x1*c - x2*s: the tables' error times |x1| + |x2|, plus u for each product and the sum.
    row_bound = table_bound(angles[positions], 10000.0).max(-1)[:, None, None] + EPS32
    bound = rotation_scale(q, dim // 2) * row_bound + np.finfo(np.float64).tiny
    assert_within_bound(ours, exact, bound, "our rotation")
    assert_within_bound(theirs, exact, bound, "Hugging Face's rotation")


def test_graph_rotation_matches_numpy_reference():
    """RotaryTable + apply_rotary in a MAX graph equal the numpy reference (one small graph)."""
    from max.driver import CPU, Buffer
    from max.engine import InferenceSession
    from max.graph import DeviceRef, Graph, TensorType

    heads, dim = 3, rotary_dim_of(HEAD_DIM, 0.25)
    device = DeviceRef.CPU()
    table = RotaryTable(dim, MAX_POSITIONS, 10000.0, device)
    with Graph(
        "rotary",
        input_types=[
            TensorType(DType.float32, ["tokens", heads, HEAD_DIM], device=device),
            TensorType(DType.int64, ["tokens"], device=device),
        ],
    ) as graph:
        x, positions = (v.tensor for v in graph.inputs)
        cos, sin = table(positions, DType.float32)
        graph.output(apply_rotary(x, cos, sin))
    model = InferenceSession(devices=[CPU()]).load(graph)

    rng = np.random.default_rng(1)
    positions_np = np.array([0, 5, 6, 150, 299], dtype=np.int64)
    x_np = rng.standard_normal((len(positions_np), heads, HEAD_DIM)).astype(np.float32)
    (out,) = model.execute(Buffer.from_numpy(x_np), Buffer.from_numpy(positions_np))
    cos_np, sin_np = rotary_tables(dim, MAX_POSITIONS, 10000.0)
    expected = rotate_numpy(x_np, cos_np[positions_np], sin_np[positions_np])
    # Same table on both sides: each rounds x1*c, x2*s and their sum (u each), FMA or not.
    bound = 2 * EPS32 * rotation_scale(x_np, dim // 2) + np.finfo(np.float64).tiny
    assert_within_bound(out.to_numpy(), expected.astype(np.float64), bound, "graph rotation")


def whole_head_rotation(x: np.ndarray, order: np.ndarray, rotary_dim: int) -> np.ndarray:
    """x's heads rotated as MAX's split-and-store kernel rotates them (channel i with
    i + head_dim / 2, by `head_rotary_tables`), in channel `order`, then put back in place."""
    cos, sin = head_rotary_tables(rotary_dim, x.shape[-1], MAX_POSITIONS, 10000.0)
    positions = np.arange(x.shape[0]) * 37 % MAX_POSITIONS
    rotated = rotate_numpy(x[..., order], cos[positions], sin[positions])
    back = np.empty_like(rotated)
    back[..., order] = rotated
    return back


@pytest.mark.parametrize("rotary_dim", [2, 4, 8, 16])
def test_whole_heads_in_head_channel_order_rotate_as_hugging_face(rotary_dim):
    # Bit for bit: the same products on the same channels, and x * 1 - y * 0 = x elsewhere.
    x = np.random.default_rng(rotary_dim).standard_normal((9, 3, HEAD_DIM)).astype(np.float32)
    cos, sin = rotary_tables(rotary_dim, MAX_POSITIONS, 10000.0)
    positions = np.arange(9) * 37 % MAX_POSITIONS
    expected = rotate_numpy(x, cos[positions], sin[positions])
    order = head_channel_order(HEAD_DIM, rotary_dim)
    assert sorted(order) == list(range(HEAD_DIM))
    np.testing.assert_array_equal(whole_head_rotation(x, order, rotary_dim), expected)
    if rotary_dim < HEAD_DIM:
        # The wrong case: the channels left in place pair the wrong channels.
        in_place = whole_head_rotation(x, np.arange(HEAD_DIM), rotary_dim)
        assert np.abs(in_place - expected).max() > 0.1
