"""`max serve` with this family on 127.0.0.1: /v1/embeddings through the OpenAI client returns,
per input, the sentence embedding Hugging Face + sentence-transformers pooling gives; a text
over the max length is truncated first, as sentence-transformers truncates."""

from __future__ import annotations

import numpy as np
import openai
import pytest
from transformers import AutoTokenizer

from tests.serving import running_server

from .conftest import (
    FAMILY,
    TEXTS,
    assert_close,
    hf_embeddings,
    hf_token_ids,
    sentence_transformers_embeddings,
)


@pytest.fixture(scope="module")
def served(checkpoints, tmp_path_factory):
    path = checkpoints["DistilBertModel"]
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with running_server(path, FAMILY, "--max-batch-size", "8", log=log) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", timeout=300)
        yield client, path


@pytest.mark.slow
def test_embeddings_endpoint_matches_hugging_face(served, encoding):
    if encoding != "float32":
        pytest.skip("the serving check runs float32 on the CPU")
    client, path = served
    model = client.models.list().data[0].id
    response = client.embeddings.create(model=model, input=TEXTS, encoding_format="float")
    got = np.array([item.embedding for item in sorted(response.data, key=lambda d: d.index)])
    assert_close(got, hf_embeddings(path, hf_token_ids(path, TEXTS)), "/v1/embeddings")


@pytest.mark.slow
def test_long_input_is_truncated_as_sentence_transformers_does(served, encoding):
    if encoding != "float32":
        pytest.skip("the serving check runs float32 on the CPU")
    client, path = served
    long_text = " ".join(["speak"] * 300)
    model = client.models.list().data[0].id
    response = client.embeddings.create(model=model, input=long_text, encoding_format="float")
    got = np.array(response.data[0].embedding)[None]
    ids = AutoTokenizer.from_pretrained(path)(long_text, truncation=True, max_length=128).input_ids
    assert len(ids) == 128
    assert_close(got, hf_embeddings(path, [ids]), "/v1/embeddings, truncated to 128 tokens")
    st = sentence_transformers_embeddings(path, [long_text])
    assert_close(got, st, "/v1/embeddings, truncated, vs sentence-transformers")
