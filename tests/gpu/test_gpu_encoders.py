"""Every registered encoder architecture on the GPU against Hugging Face on the same GPU.

Per architecture and encoding: pooled embeddings of a batch of texts of different lengths.
Hugging Face embeds in float32 (the oracle) and in MAX's dtype (the yardstick): MAX's largest
error against the oracle is at most ERROR_FACTOR times Hugging Face's own low-precision
error, or the format's rounding floor; every text's 1 - cosine is at most ERROR_FACTOR**2 times
Hugging Face's own (1 - cosine grows with the square of the error), or the floor's square.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest
import torch

from families.bert_style import ARCHITECTURES
from tests.bert_style.conftest import (
    TEXTS,
    build_checkpoint,
    hf_embeddings,
    hf_token_ids,
    load_embeddings_pipeline,
    run_embeddings,
)

from .conftest import DEVICE_MEMORY_SHARE, gpu_encodings
from .test_gpu_decoders import ERROR_FACTOR, FLOOR_EPS, tf32_matmuls

LISTED = {arch.name: arch.supported_encodings for arch in ARCHITECTURES}


def hf_gpu_embeddings(path, token_ids, dtype) -> np.ndarray:
    """Hugging Face AutoModel on the GPU in `dtype`, pooled as the checkpoint says."""
    return hf_embeddings(path, token_ids, dtype=dtype, device="cuda")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.mark.slow
@pytest.mark.parametrize("encoding", gpu_encodings())
@pytest.mark.parametrize("architecture", sorted(LISTED))
def test_encoder_matches_hugging_face_on_gpu(architecture, encoding, tmp_path, record):
    if encoding not in LISTED[architecture]:
        pytest.skip(f"{architecture}: {encoding} is not listed (docs/SUPPORT.md)")
    torch.backends.cuda.matmul.allow_tf32 = False
    path = build_checkpoint(architecture, tmp_path / architecture)
    ids = hf_token_ids(path, TEXTS)
    start = time.perf_counter()
    tokenizer, pipeline = load_embeddings_pipeline(
        path, device="gpu", encoding=encoding, device_memory_utilization=DEVICE_MEMORY_SHARE
    )
    load_s = time.perf_counter() - start
    got = np.stack(run_embeddings(tokenizer, pipeline, ids)).astype(np.float64)
    ref = hf_gpu_embeddings(path, ids, torch.float32)
    low_dtype = torch.float32 if encoding == "float32" else getattr(torch, encoding)
    with tf32_matmuls() if encoding == "float32" else contextlib.nullcontext():
        low = hf_gpu_embeddings(path, ids, low_dtype)
    max_err = float(np.abs(got - ref).max())
    hf_err = float(np.abs(low - ref).max())
    allowed = max(ERROR_FACTOR * hf_err, FLOOR_EPS[encoding] * float(np.abs(ref).max()))
    cos = cosines(got, ref)
    hf_cos = cosines(low, ref)
    gap_allowed = ERROR_FACTOR**2 * np.maximum(1.0 - hf_cos, FLOOR_EPS[encoding] ** 2)
    problems = []
    if not max_err <= allowed:  # NaN fails
        problems.append(f"max error {max_err:.4g} > allowed {allowed:.4g} (HF {hf_err:.4g})")
    for i in np.flatnonzero(~(1.0 - cos <= gap_allowed)):  # NaN fails
        problems.append(
            f"text {i}: cosine {cos[i]:.6f}, HF {encoding} {hf_cos[i]:.6f}: 1 - cosine over "
            f"{ERROR_FACTOR**2:g}x HF's"
        )
    record(
        family="bert_style",
        architecture=architecture,
        config="defaults",
        encoding=encoding,
        kv="none",
        ok=not problems,
        problems=problems,
        load_s=load_s,
        max_error=max_err,
        hf_same_dtype_error=hf_err,
        allowed_error=allowed,
        cosine_min=float(cos.min()),
        hf_same_dtype_cosine_min=float(hf_cos.min()),
        texts=[len(i) for i in ids],
    )
    del pipeline
    assert not problems, f"{architecture} {encoding}: " + "; ".join(problems)
