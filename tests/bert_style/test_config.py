"""What needs no compile: config translation and refusals, the weight tables against the graph's
own weight names and shapes, the sequence-length bound, and batching."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from safetensors.numpy import load_file

from common.config import ConfigError, load_config_json
from common.mapping import apply_mapping
from common.pooling import write_pooling_files
from families.bert_style import ARCHITECTURES
from families.bert_style.arch import electra_arch
from families.bert_style.batch_processor import pad_batch
from families.bert_style.encoder import ACTIVATIONS, SentenceEncoder
from families.bert_style.model_config import (
    SUPPORTED_ACTIVATIONS,
    BertEncoderConfig,
    DistilBertEncoderConfig,
    RobertaEncoderConfig,
)
from families.bert_style.weight_adapters import BERT_TABLE, DISTILBERT_TABLE

from .conftest import build_checkpoint

ALL_ARCHS = {arch.name: arch for arch in [*ARCHITECTURES, electra_arch]}
TABLES = {"DistilBertModel": DISTILBERT_TABLE}

# What differs per architecture, as the translated config must say.
EXPECTED = {
    "RobertaModel": {"position_offset": 2, "type_vocab_size": 1, "embedding_size": 64},
    "XLMRobertaModel": {"position_offset": 2, "type_vocab_size": 1, "embedding_size": 64},
    "DistilBertModel": {"position_offset": 0, "type_vocab_size": 0, "embedding_size": 64},
    "ElectraModel": {"position_offset": 0, "type_vocab_size": 2, "embedding_size": 32},
    "BertModel": {"position_offset": 0, "type_vocab_size": 2, "embedding_size": 64},
}
CONFIG_CLASSES = {name: arch.config for name, arch in ALL_ARCHS.items()}
CONFIG_CLASSES["BertModel"] = BertEncoderConfig


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("tiny_configs")
    return {name: build_checkpoint(name, root / name) for name in EXPECTED}


@pytest.mark.parametrize("architecture", list(EXPECTED))
def test_translated_config_says_what_differs(architecture, tiny):
    config = CONFIG_CLASSES[architecture].from_hf(load_config_json(tiny[architecture]))
    found = {key: getattr(config, key) for key in EXPECTED[architecture]}
    assert found == EXPECTED[architecture]
    assert (config.hidden_size, config.num_layers, config.num_heads) == (64, 2, 4)
    assert config.max_tokens == 128


@pytest.mark.parametrize("architecture", list(EXPECTED))
def test_weight_table_feeds_exactly_the_graph(architecture, tiny):
    path = tiny[architecture]
    config = CONFIG_CLASSES[architecture].from_hf(load_config_json(path))
    expected = {
        name: (tuple(int(d) for d in weight.shape), weight.dtype)
        for name, weight in SentenceEncoder(config).raw_state_dict().items()
    }
    checkpoint = load_file(path / "model.safetensors")
    table = TABLES.get(architecture, BERT_TABLE)
    mapped = apply_mapping(checkpoint, table, expected=expected, source=str(path))
    assert set(mapped) == set(expected)


def test_prefixed_checkpoint_names_map(tiny):
    """Checkpoints saved from a task model carry the base model's prefix."""
    checkpoint = load_file(tiny["RobertaModel"] / "model.safetensors")
    prefixed = {f"roberta.{name}": value for name, value in checkpoint.items()}
    assert set(apply_mapping(prefixed, BERT_TABLE)) == set(apply_mapping(checkpoint, BERT_TABLE))


def test_activation_table_matches_refusals():
    assert set(ACTIVATIONS) == SUPPORTED_ACTIVATIONS


def test_every_refusal_is_reported_at_once():
    hf = {
        "vocab_size": 100,
        "position_embedding_type": "relative_key",
        "is_decoder": True,
        "hidden_act": "swish",
    }
    with pytest.raises(ConfigError) as err:
        RobertaEncoderConfig.from_hf(hf)
    text = str(err.value)
    for key in ("position_embedding_type", "is_decoder", "hidden_act"):
        assert key in text


def test_distilbert_refusals():
    with pytest.raises(ConfigError, match="sinusoidal_pos_embds"):
        DistilBertEncoderConfig.from_hf({"sinusoidal_pos_embds": True})
    with pytest.raises(ConfigError, match="activation"):
        DistilBertEncoderConfig.from_hf({"activation": "silu"})


def test_hidden_size_must_divide_into_heads():
    with pytest.raises(ConfigError, match="divisible"):
        RobertaEncoderConfig.from_hf({"hidden_size": 65, "num_attention_heads": 4})


def _model_config(path, max_length=None):
    return SimpleNamespace(model_path=str(path), max_length=max_length,
                           huggingface_model_revision=None)


def test_max_length_is_the_position_table_or_sentence_transformers_limit(tiny, tmp_path):
    path = tiny["RobertaModel"]
    hf = load_config_json(path)
    assert RobertaEncoderConfig.calculate_max_seq_len(hf, _model_config(path)) == 128
    assert RobertaEncoderConfig.calculate_max_seq_len(hf, _model_config(path, 64)) == 64
    with pytest.raises(ConfigError, match="position limit"):
        RobertaEncoderConfig.calculate_max_seq_len(hf, _model_config(path, 129))
    limited = build_checkpoint("RobertaModel", tmp_path / "limited")
    write_pooling_files(limited, ["mean"], normalize=False, hidden_size=64, max_seq_length=32)
    assert RobertaEncoderConfig.calculate_max_seq_len(hf, _model_config(limited)) == 32
    assert RobertaEncoderConfig.calculate_max_seq_len(hf, _model_config(limited, 100)) == 100


def test_mask_comes_from_lengths_not_pad_ids():
    # RoBERTa's <s> is id 0 and its pad is 1: a mask from "token != pad" would be wrong here.
    tokens, mask = pad_batch([np.array([0, 5, 1, 2]), np.array([0, 2])], pad_token_id=1)
    assert tokens.tolist() == [[0, 5, 1, 2], [0, 2, 1, 1]]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]


def test_long_text_is_truncated_keeping_special_tokens(tiny):
    import asyncio

    from transformers import AutoTokenizer

    from families.bert_style.tokenizer import SentenceTokenizer

    path = tiny["DistilBertModel"]
    tokenizer = SentenceTokenizer(str(path), None, max_length=16)
    hf = AutoTokenizer.from_pretrained(path)
    text = " ".join(["speak"] * 40)
    ids = asyncio.run(tokenizer.encode(text)).tolist()
    assert ids == hf(text, truncation=True, max_length=16).input_ids and len(ids) == 16
    assert ids[-1] == hf.sep_token_id
    assert asyncio.run(tokenizer.encode("Hi.")).tolist() == hf("Hi.").input_ids
