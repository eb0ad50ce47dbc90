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
    inverse_frequencies,
    rotary_dim_of,
    rotary_tables,
    rotate_numpy,
)

torch.set_num_threads(1)

HEAD_DIM = 16
MAX_POSITIONS = 300


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


@pytest.mark.parametrize(("rotary_pct", "theta"), [(0.25, 10000.0), (1.0, 500.0), (0.5, 1e6)])
def test_table_matches_hugging_face(rotary_pct, theta):
    dim = rotary_dim_of(HEAD_DIM, rotary_pct)
    positions = np.arange(MAX_POSITIONS, dtype=np.int64)
    hf_cos, hf_sin = hf_cos_sin(rotary_pct, theta, positions)
    cos, sin = rotary_tables(dim, MAX_POSITIONS, theta)
    assert cos.shape == (MAX_POSITIONS, dim // 2) and cos.dtype == np.float32
    # Hugging Face repeats the half table: cat(freqs, freqs).
    np.testing.assert_allclose(np.concatenate([cos, cos], -1), hf_cos, rtol=0, atol=2e-6)
    np.testing.assert_allclose(np.concatenate([sin, sin], -1), hf_sin, rtol=0, atol=2e-6)


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


@pytest.mark.parametrize("rotary_pct", [0.25, 1.0])
def test_rotation_matches_hugging_face(rotary_pct):
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
    np.testing.assert_allclose(ours, ref[0].permute(1, 0, 2).numpy(), rtol=0, atol=1e-5)


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
    np.testing.assert_allclose(out.to_numpy(), expected, rtol=0, atol=1e-6)

