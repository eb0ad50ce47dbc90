"""Layout transforms: round trips by property, and agreement with Hugging Face's own split code.

The oracle tests build the real Hugging Face attention/MLP module, let its forward pass split its
fused projection (we capture Q/K/V where HF hands them to the attention kernel, through a
registered attention function), and check our split of the same fused tensor gives the same
projections. RoPE is neutralised with cos=1, sin=0 so the captured Q/K are the raw projections.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.transforms import (
    as_numpy,
    per_head_qkv_to_contiguous,
    per_head_qkv_to_contiguous_rule,
    transpose_conv1d,
)

PROPERTY = settings(max_examples=40, deadline=None)

dims = st.integers(min_value=1, max_value=6)
# None: a 1-D bias [out]; an int: a 2-D weight [out, in].
in_dims = st.one_of(st.none(), st.integers(min_value=1, max_value=5))


def rand(rng: np.random.Generator, out: int, in_dim: int | None) -> np.ndarray:
    shape = (out,) if in_dim is None else (out, in_dim)
    return rng.standard_normal(shape).astype(np.float32)


def assert_all_equal(got: tuple[np.ndarray, ...], want: tuple[np.ndarray, ...]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
        assert g.flags.c_contiguous


# --- round-trip properties -----------------------------------------------------------------------


@PROPERTY
@given(out=dims, in_dim=st.integers(min_value=1, max_value=6), seed=st.integers(0, 2**16))
def test_transpose_conv1d_is_its_own_inverse(out: int, in_dim: int, seed: int) -> None:
    w = rand(np.random.default_rng(seed), in_dim, out)  # Conv1D stores [in, out]
    t = transpose_conv1d(w)
    assert t.shape == (out, in_dim) and t.flags.c_contiguous
    np.testing.assert_array_equal(transpose_conv1d(t), w)


def split_contiguous(w: np.ndarray, q_dim: int, kv_dim: int) -> list[np.ndarray]:
    """[q | k | v] along out, as the graph splits a fused projection's output."""
    return np.split(w, [q_dim, q_dim + kv_dim], axis=0)


@PROPERTY
@given(heads=dims, head_dim=dims, in_dim=in_dims, seed=st.integers(0, 2**16))
def test_per_head_rows_come_out_grouped_by_q_k_v(
    heads: int, head_dim: int, in_dim: int | None, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    w = rand(rng, 3 * heads * head_dim, in_dim)
    out = per_head_qkv_to_contiguous(w, heads, head_dim)
    assert out.shape == w.shape and out.flags.c_contiguous
    per_head = w.reshape(heads, 3, head_dim, *w.shape[1:])
    for part, rows in enumerate(split_contiguous(out, heads * head_dim, heads * head_dim)):
        np.testing.assert_array_equal(rows, per_head[:, part].reshape(rows.shape))
    ctx = {"num_heads": heads, "head_dim": head_dim}
    np.testing.assert_array_equal(per_head_qkv_to_contiguous_rule(w, ctx), out)


def test_wrong_sizes_name_the_layout() -> None:
    with pytest.raises(ValueError, match=r"expected 24 for 2 heads x \(q, k, v\) x 4"):
        per_head_qkv_to_contiguous(np.zeros((10, 3)), 2, 4)
    with pytest.raises(ValueError, match=r"needs ctx\['head_dim'\]"):
        per_head_qkv_to_contiguous_rule(np.zeros((24, 3)), {"num_heads": 2})


# --- Hugging Face as the oracle ------------------------------------------------------------------

HIDDEN, HEADS, HEAD_DIM = 16, 4, 4
BATCH, SEQ = 2, 3


@pytest.fixture(scope="module")
def torch() -> Any:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


@pytest.fixture(scope="module")
def captured(torch: Any) -> dict[str, Any]:
    """Registers an attention function that records the Q/K/V HF hands to the kernel."""
    transformers = pytest.importorskip("transformers")
    store: dict[str, Any] = {}

    def capture_qkv(module, query, key, value, attention_mask, **kwargs):  # noqa: ANN001
        store.update(q=query.detach(), k=key.detach(), v=value.detach())
        batch, heads, seq, head_dim = query.shape
        return torch.zeros(batch, seq, heads, head_dim, dtype=query.dtype), None

    transformers.AttentionInterface.register("capture_qkv", capture_qkv)
    return store


def randomize(module: Any, torch: Any, seed: int = 0) -> Any:
    """Fresh normal weights and biases so a wrong split cannot hide behind zero biases; float64,
    so Hugging Face's forward pass rounds no more than our float64 reference."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()
    return module.double().eval()


def project(x: Any, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """x @ W.T + b in float64: what a Linear with our split weight computes."""
    out = np.asarray(x, dtype=np.float64) @ weight.astype(np.float64).T
    return out if bias is None else out + bias


def heads_first(states: Any) -> np.ndarray:
    """[batch, heads, seq, head_dim] (HF's kernel layout) -> [batch, seq, heads * head_dim]."""
    array = states.numpy().astype(np.float64)
    batch, heads, seq, head_dim = array.shape
    return array.transpose(0, 2, 1, 3).reshape(batch, seq, heads * head_dim)


def neutral_rope(torch: Any, dims: int) -> tuple[Any, Any]:
    # cos=1, sin=0 makes rotary embedding the identity, so captured Q/K are raw projections.
    shape = (BATCH, SEQ, dims)
    return torch.ones(shape, dtype=torch.float64), torch.zeros(shape, dtype=torch.float64)


# Both sides compute in float64: a sum of n <= 24 products rounds by <= (n + 2) * eps64 * sum|terms|
# and sum|terms| <= n * max|term|, so 1e4 eps64 * max|output| holds it unless outputs cancel 1e3x;
# a wrong split is off by O(max|output|).
FLOAT64_ROUNDINGS = 1e4


def assert_close(ours: np.ndarray, hf: np.ndarray) -> None:
    atol = FLOAT64_ROUNDINGS * np.finfo(np.float64).eps * np.abs(hf).max()
    np.testing.assert_allclose(ours, hf, rtol=0, atol=atol)


def test_gpt2_c_attn(torch: Any, captured: dict[str, Any]) -> None:
    from transformers import GPT2Config
    from transformers.models.gpt2.modeling_gpt2 import GPT2Attention

    config = GPT2Config(n_embd=HIDDEN, n_head=HEADS, n_layer=1)
    config._attn_implementation = "capture_qkv"
    attn = randomize(GPT2Attention(config, layer_idx=0), torch)
    x = torch.randn(BATCH, SEQ, HIDDEN, dtype=torch.float64)
    with torch.no_grad():
        attn(x)

    weights = split_contiguous(transpose_conv1d(attn.c_attn.weight), HIDDEN, HIDDEN)
    biases = split_contiguous(as_numpy(attn.c_attn.bias), HIDDEN, HIDDEN)
    for name, w, b in zip("qkv", weights, biases, strict=True):
        assert_close(project(x, w, b), heads_first(captured[name]))


def test_gpt_neox_query_key_value(torch: Any, captured: dict[str, Any]) -> None:
    from transformers import GPTNeoXConfig
    from transformers.models.gpt_neox.modeling_gpt_neox import GPTNeoXAttention

    config = GPTNeoXConfig(
        hidden_size=HIDDEN, num_attention_heads=HEADS, num_hidden_layers=1, intermediate_size=24
    )
    config._attn_implementation = "capture_qkv"
    attn = randomize(GPTNeoXAttention(config, layer_idx=0), torch)
    x = torch.randn(BATCH, SEQ, HIDDEN, dtype=torch.float64)
    with torch.no_grad():
        attn(x, attention_mask=None, position_embeddings=neutral_rope(torch, HEAD_DIM))

    ctx = {"num_heads": HEADS, "head_dim": HEAD_DIM}
    weights = split_contiguous(
        per_head_qkv_to_contiguous_rule(attn.query_key_value.weight, ctx), HIDDEN, HIDDEN
    )
    biases = split_contiguous(
        per_head_qkv_to_contiguous_rule(attn.query_key_value.bias, ctx), HIDDEN, HIDDEN
    )
    for name, w, b in zip("qkv", weights, biases, strict=True):
        assert_close(project(x, w, b), heads_first(captured[name]))


# --- dtypes numpy lacks: moved as raw bits, handed back in the input's kind ----------------------


def test_max_bfloat16_buffer_keeps_its_dtype() -> None:
    driver = pytest.importorskip("max.driver")
    dtype = pytest.importorskip("max.dtype")
    bits = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(6, 4)
    weight = driver.Buffer.from_numpy(bits).view(dtype.DType.bfloat16)

    t = transpose_conv1d(weight)
    np.testing.assert_array_equal(np.from_dlpack(t.view(dtype.DType.uint16)), bits.T)
    with pytest.raises(ValueError, match="no numpy equivalent"):
        as_numpy(weight)
