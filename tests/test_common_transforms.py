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
    compose,
    fuse_qkv_contiguous,
    split_qkv_contiguous,
    split_qkv_contiguous_rule,
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


@PROPERTY
@given(heads=dims, kv_heads=dims, head_dim=dims, in_dim=in_dims, seed=st.integers(0, 2**16))
def test_contiguous_round_trips(
    heads: int, kv_heads: int, head_dim: int, in_dim: int | None, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    q_dim, kv_dim = heads * head_dim, kv_heads * head_dim
    w = rand(rng, q_dim + 2 * kv_dim, in_dim)
    np.testing.assert_array_equal(fuse_qkv_contiguous(*split_qkv_contiguous(w, q_dim, kv_dim)), w)
    parts = (rand(rng, q_dim, in_dim), rand(rng, kv_dim, in_dim), rand(rng, kv_dim, in_dim))
    assert_all_equal(split_qkv_contiguous(fuse_qkv_contiguous(*parts), q_dim, kv_dim), parts)


@PROPERTY
@given(heads=dims, kv_heads=dims, head_dim=dims, in_dim=in_dims, seed=st.integers(0, 2**16))
def test_rules_read_ctx_like_the_plain_functions(
    heads: int, kv_heads: int, head_dim: int, in_dim: int | None, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    ctx = {"num_heads": heads, "num_kv_heads": kv_heads, "head_dim": head_dim}
    contiguous = rand(rng, (heads + 2 * kv_heads) * head_dim, in_dim)
    assert_all_equal(
        split_qkv_contiguous_rule(contiguous, ctx),
        split_qkv_contiguous(contiguous, heads * head_dim, kv_heads * head_dim),
    )


def test_head_dim_falls_back_to_hidden_over_heads() -> None:
    w = np.arange(3 * 8 * 2).reshape(24, 2)
    q, k, v = split_qkv_contiguous_rule(w, {"num_heads": 2, "hidden_size": 8})
    assert q.shape == k.shape == v.shape == (8, 2)


def test_wrong_sizes_name_the_layout() -> None:
    with pytest.raises(ValueError, match=r"expected 12 for \[q 4 \| k 4 \| v 4\]"):
        split_qkv_contiguous(np.zeros((10, 3)), 4, 4)


def test_compose() -> None:
    w = np.arange(4 * 12, dtype=np.float32).reshape(4, 12)  # Conv1D [in 4, out 12]
    q, k, v = compose(transpose_conv1d, split_qkv_contiguous_rule)(
        w, {"num_heads": 2, "hidden_size": 4}
    )
    np.testing.assert_array_equal(np.concatenate([q, k, v]), w.T)


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


def seq_first(states: Any) -> np.ndarray:
    """[batch, seq, heads, head_dim] (Falcon's _split_heads layout) -> [batch, seq, heads*hd]."""
    array = states.numpy().astype(np.float64)
    return array.reshape(*array.shape[:2], -1)


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

    rule = compose(transpose_conv1d, split_qkv_contiguous_rule)
    ctx = {"num_heads": HEADS, "hidden_size": HIDDEN}
    weights = rule(attn.c_attn.weight, ctx)  # Conv1D [in, out]
    biases = rule(attn.c_attn.bias, ctx)
    for name, w, b in zip("qkv", weights, biases, strict=True):
        assert_close(project(x, w, b), heads_first(captured[name]))


def test_phi3_qkv_proj(torch: Any, captured: dict[str, Any]) -> None:
    from transformers import Phi3Config
    from transformers.models.phi3.modeling_phi3 import Phi3Attention

    kv_heads = 2
    config = Phi3Config(
        hidden_size=HIDDEN,
        num_attention_heads=HEADS,
        num_key_value_heads=kv_heads,
        num_hidden_layers=1,
        intermediate_size=24,
    )
    config._attn_implementation = "capture_qkv"
    attn = randomize(Phi3Attention(config, layer_idx=0), torch)
    x = torch.randn(BATCH, SEQ, HIDDEN, dtype=torch.float64)
    with torch.no_grad():
        attn(x, position_embeddings=neutral_rope(torch, attn.head_dim), attention_mask=None)

    ctx = {"num_heads": HEADS, "num_kv_heads": kv_heads, "head_dim": attn.head_dim}
    weights = split_qkv_contiguous_rule(attn.qkv_proj.weight, ctx)
    for name, w in zip("qkv", weights, strict=True):
        assert_close(project(x, w, None), heads_first(captured[name]))


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
