"""GPT-2 config translation: Hugging Face defaults, aliases, derived fields, refusals."""

from __future__ import annotations

import pytest
from transformers import GPT2Config as HFGPT2Config

from common.arch_config import translate_hf_config
from common.config import ConfigError
from families.gpt2.gpt2 import ACTIVATIONS
from families.gpt2.model_config import SUPPORTED_ACTIVATIONS, GPT2Config


def translate(**kwargs):
    return translate_hf_config(GPT2Config, HFGPT2Config(**kwargs), "config.json")


def test_defaults_follow_hugging_face():
    f = translate()
    assert (f["hidden_size"], f["num_layers"], f["num_heads"]) == (768, 12, 12)
    assert f["intermediate_size"] == 4 * 768  # n_inner None
    assert f["head_dim"] == 64 and f["num_kv_heads"] == 12
    assert f["max_positions"] == 1024 and f["activation"] == "gelu_new"
    assert f["scale_attn_weights"] and not f["scale_attn_by_inverse_layer_idx"]
    assert f["tie_word_embeddings"]


def test_explicit_values_and_plain_dict_aliases():
    f = translate(n_inner=100, n_embd=64, n_head=4, layer_norm_epsilon=1e-3)
    assert (f["intermediate_size"], f["hidden_size"], f["head_dim"]) == (100, 64, 16)
    assert f["layer_norm_eps"] == 1e-3
    # A config written with the generic names translates the same.
    g = translate_hf_config(
        GPT2Config,
        {"hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 3,
         "max_position_embeddings": 256},
        "config.json",
    )
    assert (g["hidden_size"], g["num_heads"], g["num_layers"], g["max_positions"]) == (
        64, 4, 3, 256
    )


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"add_cross_attention": True}, "add_cross_attention"),
        ({"activation_function": "mish_custom"}, "activation_function"),
    ],
)
def test_unsupported_values_are_refused_by_name(overrides, named):
    with pytest.raises(ConfigError, match=named):
        translate(**overrides)


def test_wrong_type_names_the_field():
    with pytest.raises(ConfigError, match="n_embd"):
        translate_hf_config(GPT2Config, {"n_embd": "wide"}, "ckpt/config.json")


def test_every_supported_activation_has_a_graph_op():
    assert set(ACTIVATIONS) == set(SUPPORTED_ACTIVATIONS)


def test_attention_scale_knobs():
    cfg = GPT2Config.__new__(GPT2Config)
    cfg.head_dim, cfg.scale_attn_weights, cfg.scale_attn_by_inverse_layer_idx = 16, True, True
    assert cfg.attention_scale(0) == pytest.approx(0.25)
    assert cfg.attention_scale(3) == pytest.approx(0.25 / 4)
    cfg.scale_attn_weights = False
    assert cfg.attention_scale(1) == pytest.approx(0.5)
