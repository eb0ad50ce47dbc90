"""Every registered architecture on MAX against Hugging Face's AutoModel with the same
sentence-transformers pooling, on one batch of texts of different lengths (CPU, float32)."""

from __future__ import annotations

import numpy as np
import pytest

from common.pooling import write_pooling_files

from .conftest import (
    ARCH_NAMES,
    TEXTS,
    assert_close,
    assert_unit_norm,
    build_checkpoint,
    hf_embeddings,
    hf_token_ids,
    sentence_transformers_embeddings,
    skip_unverified_encoding,
)

# Every pooling mode at once (concatenated in this order), normalized, on non-default knobs.
KNOBS = {"hidden_act": "gelu_new", "layer_norm_eps": 1e-5}
ALL_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens")


@pytest.fixture(scope="session")
def knobs_checkpoint(tmp_path_factory):
    path = build_checkpoint("RobertaModel", tmp_path_factory.mktemp("knobs") / "roberta", **KNOBS)
    write_pooling_files(path, ALL_MODES, normalize=True, hidden_size=64)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCH_NAMES)
def test_ragged_batch_matches_hugging_face(architecture, checkpoints, max_embedder, encoding):
    skip_unverified_encoding(architecture)
    path = checkpoints[architecture]
    ids = hf_token_ids(path, TEXTS)
    assert len({len(i) for i in ids}) == len(ids), "texts must differ in length"
    got = np.stack(max_embedder(path)(ids))
    assert_close(got, hf_embeddings(path, ids), f"{architecture}, mean pooling")
    # Independently: sentence-transformers builds mean pooling for a directory without modules.
    st = sentence_transformers_embeddings(path, TEXTS)
    assert_close(got, st, f"{architecture} vs sentence-transformers")


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCH_NAMES)
def test_padding_does_not_leak(architecture, checkpoints, max_embedder, encoding):
    """A text alone and the same text beside longer ones embed alike."""
    skip_unverified_encoding(architecture)
    path = checkpoints[architecture]
    ids = hf_token_ids(path, TEXTS)
    embed = max_embedder(path)
    batched = embed(ids)
    for row in (0, 1):
        assert_close(embed([ids[row]]), batched[row][None], f"{architecture} text {row} alone")


@pytest.mark.slow
def test_every_pooling_mode_normalized(knobs_checkpoint, max_embedder, encoding):
    skip_unverified_encoding("RobertaModel")
    ids = hf_token_ids(knobs_checkpoint, TEXTS)
    got = np.stack(max_embedder(knobs_checkpoint)(ids))
    assert got.shape == (len(TEXTS), 64 * len(ALL_MODES))
    assert_unit_norm(got)
    assert_close(got, hf_embeddings(knobs_checkpoint, ids), "cls+max+mean+mean_sqrt_len, L2")
    # Independently: sentence-transformers reads the same modules.json and pooling files.
    st = sentence_transformers_embeddings(knobs_checkpoint, TEXTS)
    assert_close(got, st, "cls+max+mean+mean_sqrt_len, L2 vs sentence-transformers")


@pytest.mark.slow
def test_unpooled_token_vectors(checkpoints, max_embedder, encoding):
    """`--no-pool-embeddings`: each text's own token vectors, padding cut off."""
    skip_unverified_encoding("DistilBertModel")
    path = checkpoints["DistilBertModel"]
    ids = hf_token_ids(path, TEXTS)
    got = max_embedder(path, pool_embeddings=False)(ids)
    ref = hf_embeddings(path, ids, pooled=False)
    for row, (g, r) in enumerate(zip(got, ref, strict=True)):
        assert_close(g, r, f"DistilBertModel tokens of text {row}")
