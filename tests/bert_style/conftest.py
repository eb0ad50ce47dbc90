"""Tiny encoder checkpoints for every registered architecture, MAX embedding pipelines shared
across the session, and the Hugging Face reference (AutoModel + sentence-transformers pooling).

Each distinct graph costs minutes of compile on a cold cache, so checkpoints of one shape share
one graph: XLMRobertaModel's tiny checkpoint compiles to RobertaModel's graph.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from common.pooling import pool_numpy, read_pooling_spec
from families.bert_style import ARCHITECTURES
from tests.conftest import selected_device, selected_encoding
from tooling import checkpoints as tiny_checkpoints
from tooling.metrics import FLOAT32

torch.set_num_threads(1)
logger = logging.getLogger(__name__)

FAMILY = "families.bert_style"
ARCH_NAMES = [arch.name for arch in ARCHITECTURES]
SUPPORTED_ENCODINGS = {arch.name: arch.supported_encodings for arch in ARCHITECTURES}

# Different lengths in one batch (3 to 95 tokens with the tiny tokenizers).
TEXTS = [
    "Hi.",
    "The quick brown fox jumps over the lazy dog.",
    "First Citizen: Before we proceed any further, hear me speak. All: Speak, speak. "
    "First Citizen: You are all resolved rather to die than to famish? All: Resolved. "
    "resolved. First Citizen: First, you know Caius Marcius is chief enemy to the people.",
    "Numbers like 12, 345 and 6789 appear in text, as do dates such as 2024-05-17.",
]

def build_checkpoint(architecture: str, out_dir: Path, **overrides: Any) -> Path:
    return tiny_checkpoints.build_random_checkpoint(
        architecture, out_dir, config_overrides=overrides, seed=3
    )


def skip_unverified_encoding(architecture: str) -> None:
    """After the `encoding` fixture's skip (bfloat16 without a GPU): encodings not verified."""
    encoding = selected_encoding()
    if encoding not in SUPPORTED_ENCODINGS[architecture]:
        pytest.skip(f"{encoding} is not verified for {architecture} (docs/BERT_STYLE.md)")


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny checkpoint per registered architecture, Hugging Face defaults, no pooling files."""
    root = tmp_path_factory.mktemp("bert_style")
    return {name: build_checkpoint(name, root / name) for name in ARCH_NAMES}


def hf_token_ids(path: Path, texts: Sequence[str]) -> list[list[int]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    return [tokenizer(text).input_ids for text in texts]


def hf_embeddings(
    path: Path,
    token_ids: Sequence[Sequence[int]],
    *,
    pooled: bool = True,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
) -> Any:
    """Hugging Face AutoModel in `dtype` (float32 by default, whatever the checkpoint stores)
    over a right-padded batch, pooled as the checkpoint's sentence-transformers files say;
    unpooled: each text's [len, hidden] token vectors."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(path, dtype=dtype).to(device).eval()
    longest = max(len(ids) for ids in token_ids)
    pad = model.config.pad_token_id or 0
    tokens = torch.full((len(token_ids), longest), pad, dtype=torch.long)
    mask = torch.zeros((len(token_ids), longest), dtype=torch.long)
    for row, ids in enumerate(token_ids):
        tokens[row, : len(ids)] = torch.tensor(ids)
        mask[row, : len(ids)] = 1
    with torch.no_grad():
        out = model(input_ids=tokens.to(device), attention_mask=mask.to(device))
    hidden = out.last_hidden_state.double().cpu().numpy()
    if not pooled:
        return [hidden[row, : len(ids)] for row, ids in enumerate(token_ids)]
    return pool_numpy(hidden, mask.numpy(), read_pooling_spec(path))


def load_embeddings_pipeline(
    path: Path, *, device: str | None = None, encoding: str | None = None, **overrides: Any
) -> tuple[Any, Any]:
    """(tokenizer, EmbeddingsPipeline) for the checkpoint through this family's registration,
    on the session's device and encoding unless given."""
    from max.pipelines import PIPELINE_REGISTRY, PipelineConfig
    from max.pipelines.lib import PipelineArgs
    from max.pipelines.modeling.types import PipelineTask

    args = PipelineArgs.from_flat_kwargs(
        model_path=str(path),
        custom_architectures=[FAMILY],
        device_specs=device or selected_device(),
        quantization_encoding=encoding or selected_encoding(),
        max_batch_size=8,
        **overrides,
    )
    return PIPELINE_REGISTRY.retrieve(
        PipelineConfig.from_args(args), task=PipelineTask.EMBEDDINGS_GENERATION
    )


def run_embeddings(tokenizer: Any, pipeline: Any, prompts: Sequence[Any]) -> list[np.ndarray]:
    """One batch through the pipeline; a prompt is a text or a list of token ids."""
    from max.pipelines.modeling.types import (
        EmbeddingsGenerationInputs,
        RequestID,
        TextGenerationRequest,
    )

    async def contexts() -> list[Any]:
        return [
            await tokenizer.new_context(
                TextGenerationRequest(request_id=RequestID(), prompt=prompt, model_name="test")
            )
            for prompt in prompts
        ]

    batch = asyncio.run(contexts())
    out = pipeline.execute(EmbeddingsGenerationInputs([{c.request_id: c for c in batch}]))
    return [np.asarray(out[c.request_id].embeddings) for c in batch]


@pytest.fixture(scope="session")
def max_embedder() -> Callable[..., Callable[[Sequence[Any]], list[np.ndarray]]]:
    """`max_embedder(path, **overrides)(prompts)`: one compiled pipeline per distinct setup."""
    cache: dict[tuple[Any, ...], tuple[Any, Any]] = {}

    def get(path: Path, **overrides: Any) -> Callable[[Sequence[Any]], list[np.ndarray]]:
        key = (str(path), tuple(sorted(overrides.items())))
        if key not in cache:
            cache[key] = load_embeddings_pipeline(path, **overrides)
        tokenizer, pipeline = cache[key]
        return lambda prompts: run_embeddings(tokenizer, pipeline, prompts)

    return get


def sentence_transformers_embeddings(path: Path, texts: Sequence[str]) -> np.ndarray:
    """sentence-transformers itself on the checkpoint directory: its own tokenizer call,
    truncation, pooling and normalization (mean pooling where there is no modules.json)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    return model.encode(list(texts), convert_to_numpy=True, batch_size=len(texts))


def assert_close(got: np.ndarray, ref: np.ndarray, what: str) -> None:
    """float32 parity as tooling.metrics.FLOAT32 states it: per row cosine >= min_cosine, and
    max |diff| <= max_rel of the largest |ref| (float32 rounding scales with the values)."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, f"{what}: shape {got.shape}, expected {ref.shape}"
    rows_g, rows_r = got.reshape(-1, got.shape[-1]), ref.reshape(-1, ref.shape[-1])
    cosine = np.sum(rows_g * rows_r, -1) / (
        np.linalg.norm(rows_g, axis=-1) * np.linalg.norm(rows_r, axis=-1)
    )
    max_abs = float(np.max(np.abs(got - ref)))
    limit = FLOAT32.max_rel * float(np.max(np.abs(ref)))
    logger.info(
        "%s: min cosine %.8f, max |diff| %.3g (limit %.3g)", what, cosine.min(), max_abs, limit
    )
    assert cosine.min() >= FLOAT32.min_cosine and max_abs <= limit, (
        f"{what}: min cosine {cosine.min():.8f} (limit {FLOAT32.min_cosine}), "
        f"max |diff| {max_abs:.3g} (limit {limit:.3g})"
    )


def assert_unit_norm(embeddings: np.ndarray) -> None:
    """L2-normalized float32 rows: norm 1 within the normalization's own rounding."""
    width = np.shape(embeddings)[-1]
    # The float32 sum of `width` squares rounds by <= width * u, sqrt and divide by u each, and
    # the norm halves the first: |norm - 1| <= (width / 2 + 2) * u = (width / 4 + 1) * eps32.
    atol = (width / 4 + 1) * float(np.finfo(np.float32).eps)
    norms = np.linalg.norm(np.asarray(embeddings, np.float64), axis=-1)
    np.testing.assert_allclose(norms, 1.0, rtol=0, atol=atol)
