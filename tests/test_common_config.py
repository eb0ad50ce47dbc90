"""Declarative config translation: aliases, defaults, derivations, type checks and refusals."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from common.config import (
    HEAD_DIM,
    HEADS,
    HIDDEN,
    INTERMEDIATE,
    KV_HEADS,
    LAYERS,
    NORM_EPS,
    POSITIONS,
    ROPE_THETA,
    VOCAB,
    ConfigError,
    Field,
    Refusal,
    load_config_json,
    translate_config,
)

# A decoder family's fields, written the way a family writes them.
FIELDS = (
    Field("hidden_size", HIDDEN, type=int),
    Field("num_heads", HEADS, type=int),
    Field("num_layers", LAYERS, type=int),
    Field("vocab_size", VOCAB, type=int),
    Field("max_positions", POSITIONS, type=int),
    Field("num_kv_heads", KV_HEADS, derive=lambda c: c["num_heads"], type=int),
    Field("head_dim", HEAD_DIM, derive=lambda c: c["hidden_size"] // c["num_heads"], type=int),
    Field("intermediate_size", INTERMEDIATE, derive=lambda c: 4 * c["hidden_size"], type=int),
    Field("norm_eps", NORM_EPS, default=1e-5, type=float),
    Field("rope_theta", ROPE_THETA, default=10000.0, type=float),
    Field("tie_embeddings", ("tie_word_embeddings",), default=True, type=bool),
)
GPT2_REFUSALS = (
    Refusal("activation_function", lambda v: v in (None, "gelu_new"), "only gelu_new is built"),
    Refusal("scale_attn_by_inverse_layer_idx", lambda v: not v, "per-layer scaling not built"),
    Refusal("reorder_and_upcast_attn", lambda v: not v, "upcast attention not built"),
)

GPT2_JSON = {
    "model_type": "gpt2",
    "n_embd": 64,
    "n_head": 4,
    "n_layer": 2,
    "n_positions": 128,
    "vocab_size": 512,
    "n_inner": None,
    "layer_norm_epsilon": 1e-5,
    "activation_function": "gelu_new",
}


def test_gpt2_dict_uses_aliases_and_derivations() -> None:
    out = translate_config(GPT2_JSON, FIELDS, GPT2_REFUSALS)
    assert out == {
        "hidden_size": 64,
        "num_heads": 4,
        "num_layers": 2,
        "vocab_size": 512,
        "max_positions": 128,
        "num_kv_heads": 4,
        "head_dim": 16,
        "intermediate_size": 256,  # n_inner null -> derived 4 * hidden
        "norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_embeddings": True,
    }


def test_pretrained_config_objects_are_read_through_attribute_map() -> None:
    transformers = pytest.importorskip("transformers")
    gpt2 = transformers.GPT2Config(n_embd=64, n_head=4, n_layer=2, n_positions=128, vocab_size=512)
    assert translate_config(gpt2, FIELDS, GPT2_REFUSALS) == translate_config(
        GPT2_JSON, FIELDS, GPT2_REFUSALS
    )
    # attribute_map alias only: GPT2Config.to_dict() has no "hidden_size" key.
    by_alias = translate_config(gpt2, (Field("hidden", ("hidden_size",)),))
    assert by_alias == {"hidden": 64}

    llama = transformers.LlamaConfig(
        hidden_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_hidden_layers=2,
        intermediate_size=96,
        vocab_size=512,
        max_position_embeddings=128,
        rope_theta=500000.0,
    )
    out = translate_config(llama, FIELDS)
    assert out["num_kv_heads"] == 2
    assert out["intermediate_size"] == 96
    assert out["rope_theta"] == 500000.0  # transformers 5 nests it under rope_parameters
    assert out["norm_eps"] == pytest.approx(llama.rms_norm_eps)


def test_int_widens_to_float_but_bool_is_not_int() -> None:
    out = translate_config({"layer_norm_eps": 1}, (Field("eps", NORM_EPS, type=float),))
    assert out == {"eps": 1.0} and isinstance(out["eps"], float)
    with pytest.raises(ConfigError) as info:
        translate_config({"n_head": True}, (Field("heads", HEADS, type=int),), source="c.json")
    text = str(info.value)
    for needle in ("c.json", "'heads'", "'n_head'", "expected int", "True (bool)"):
        assert needle in text


def test_every_problem_is_reported_together() -> None:
    bad = {
        **GPT2_JSON,
        "activation_function": "relu",
        "scale_attn_by_inverse_layer_idx": True,
        "n_embd": "64",
    }
    del bad["n_layer"]
    with pytest.raises(ConfigError) as info:
        translate_config(bad, FIELDS, GPT2_REFUSALS, source="/ckpt/config.json")
    err = info.value
    assert len(err.problems) == 4
    text = str(err)
    assert text.startswith("/ckpt/config.json: 4 problems")
    for needle in (
        "activation_function='relu': only gelu_new",
        "scale_attn_by_inverse_layer_idx=True",
        "'num_layers': missing, expected one of keys [n_layer, num_hidden_layers, n_layers]",
        "expected int, found '64' (str)",
    ):
        assert needle in text
    # Fields derived from the bad hidden_size are not reported a second time.
    assert "head_dim" not in text
    assert isinstance(pickle.loads(pickle.dumps(err)), ConfigError)


def test_absent_key_reaches_refusal_as_none() -> None:
    seen = []
    refusal = Refusal("alibi", lambda v: seen.append(v) or True, "unused")
    translate_config({}, (), (refusal,))
    assert seen == [None]


def test_null_value_takes_default_and_first_alias_wins() -> None:
    fields = (Field("eps", NORM_EPS, default=1e-6), Field("hidden", HIDDEN))
    out = translate_config({"layer_norm_epsilon": None, "n_embd": 8, "hidden_size": 99}, fields)
    assert out == {"eps": 1e-6, "hidden": 8}


def test_load_config_json(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(GPT2_JSON))
    assert load_config_json(tmp_path) == GPT2_JSON
    assert load_config_json(tmp_path / "config.json") == GPT2_JSON

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=rf"{empty}/config.json: config file not found"):
        load_config_json(empty)

    (empty / "config.json").write_text('{"n_embd": 64,\n "n_head": }')
    with pytest.raises(ConfigError, match="invalid JSON at line 2 column"):
        load_config_json(empty)

    (empty / "config.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        load_config_json(empty)


def test_single_message_form() -> None:
    err = ConfigError("ckpt/config.json: no Hugging Face config could be loaded")
    assert str(err) == "ckpt/config.json: no Hugging Face config could be loaded"
    assert err.problems == [str(err)]
    assert str(pickle.loads(pickle.dumps(err))) == str(err)
