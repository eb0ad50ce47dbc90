"""Encoders stored as hub fine-tunes often are, through `/v1/embeddings` and `max encode`,
within float32 tolerance of Hugging Face loading the same directory in float32:

- DistilBERT in float16, sharded with `model.safetensors.index.json`, in a hub cache:
  `max serve` by hub id (`HF_HUB_OFFLINE=1`);
- RoBERTa in bfloat16, sharded, in a hub cache: `max encode` by snapshot directory.

The checkpoints are the ones tests/bert_style/test_serve.py and test_encode_cli.py serve, so
their compiled graphs are reused.
"""

from __future__ import annotations

import numpy as np
import openai
import pytest

from tests.serving import running_server
from tests.user_checkpoints import cast_lines, hub_env, sharded_hub_cache

from .conftest import FAMILY, TEXTS, assert_close, hf_embeddings, hf_token_ids
from .test_encode_cli import PROMPT, max_encode, printed_embedding

pytestmark = pytest.mark.slow
HUB_FP16 = "someone/tiny-distilbert-fp16"
HUB_BF16 = "someone/tiny-roberta-bf16"


@pytest.fixture(scope="module")
def hub_cache(checkpoints, encoding, tmp_path_factory):
    if encoding != "float32":
        pytest.skip("the CLI checks run float32 on the CPU")
    return sharded_hub_cache(
        tmp_path_factory.mktemp("bert-user-checkpoints"),
        [
            (HUB_FP16, checkpoints["DistilBertModel"], "float16"),
            (HUB_BF16, checkpoints["RobertaModel"], "bfloat16"),
        ],
    )


def test_float16_shards_embedded_by_hub_id(hub_cache, tmp_path):
    log = tmp_path / "serve.log"
    env = hub_env(hub_cache["hf_home"])
    with running_server(HUB_FP16, FAMILY, "--max-batch-size", "8", log=log, env=env) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", timeout=300)
        model = client.models.list().data[0].id
        response = client.embeddings.create(model=model, input=TEXTS, encoding_format="float")
    assert model == HUB_FP16
    assert len(cast_lines(log.read_text())) == 1
    got = np.array([item.embedding for item in sorted(response.data, key=lambda d: d.index)])
    snapshot = hub_cache[HUB_FP16]
    assert_close(got, hf_embeddings(snapshot, hf_token_ids(snapshot, TEXTS)), "/v1/embeddings")


def test_bfloat16_shards_encoded_from_snapshot_directory(hub_cache):
    snapshot = hub_cache[HUB_BF16]
    done = max_encode(snapshot, PROMPT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(cast_lines(done.stderr)) == 1
    ref = hf_embeddings(snapshot, hf_token_ids(snapshot, [PROMPT]))[0]
    assert_close(printed_embedding(done.stdout), ref, "max encode")
