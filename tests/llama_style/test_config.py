"""Config translation of every rotary decoder: Hugging Face defaults, old and new key names,
derived fields, and refusals of what the graphs do not implement, by key name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import transformers
from max.dtype import DType
from max.graph import DeviceRef

from common.arch_config import translate_hf_config
from common.config import ConfigError
from families.llama_style import ARCHITECTURES
from families.llama_style.gemma import GemmaConfig
from families.llama_style.gpt_neox import GPTNeoXConfig
from families.llama_style.layers import ACTIVATIONS
from families.llama_style.phi import PhiConfig
from families.llama_style.rotary_config import SUPPORTED_ACTIVATIONS
from families.llama_style.stablelm import StableLmConfig
from families.llama_style.starcoder2 import Starcoder2Config

# Registered architecture -> (our config class, Hugging Face's config class).
CONFIG_CLASSES = {
    "GPTNeoXForCausalLM": (GPTNeoXConfig, transformers.GPTNeoXConfig),
    "PhiForCausalLM": (PhiConfig, transformers.PhiConfig),
    "GemmaForCausalLM": (GemmaConfig, transformers.GemmaConfig),
    "StableLmForCausalLM": (StableLmConfig, transformers.StableLmConfig),
    "Starcoder2ForCausalLM": (Starcoder2Config, transformers.Starcoder2Config),
}


def translate(architecture: str, hf_config=None, **kwargs):
    ours, theirs = CONFIG_CLASSES[architecture]
    return translate_hf_config(ours, hf_config or theirs(**kwargs), "config.json")


def build(architecture: str, **kwargs):
    """Our config class, constructed as MAX would (validation in __post_init__ included)."""
    ours, _ = CONFIG_CLASSES[architecture]
    fields = translate(architecture, **kwargs)
    return ours(
        **fields, dtype=DType.float32, devices=[DeviceRef.CPU()], kv_params=None, max_seq_len=64
    )


def test_every_registered_architecture_is_covered():
    assert {arch.name for arch in ARCHITECTURES} == set(CONFIG_CLASSES)
    for arch in ARCHITECTURES:
        assert arch.config is CONFIG_CLASSES[arch.name][0]


@pytest.mark.parametrize("architecture", sorted(CONFIG_CLASSES))
def test_defaults_follow_hugging_face(architecture):
    _, theirs = CONFIG_CLASSES[architecture]
    hf = theirs()
    f = translate(architecture, hf)
    assert f["vocab_size"] == hf.vocab_size
    assert f["hidden_size"] == hf.hidden_size
    assert f["num_layers"] == hf.num_hidden_layers
    assert f["num_heads"] == hf.num_attention_heads
    assert f["num_kv_heads"] == getattr(hf, "num_key_value_heads", hf.num_attention_heads)
    assert f["intermediate_size"] == hf.intermediate_size
    assert f["max_positions"] == hf.max_position_embeddings
    assert f["activation"] == hf.hidden_act
    assert f["rope_theta"] == hf.rope_parameters["rope_theta"]
    assert f["partial_rotary_factor"] == hf.rope_parameters.get("partial_rotary_factor", 1.0)
    assert f["tie_word_embeddings"] == hf.tie_word_embeddings


def test_gpt_neox_knobs_and_old_key_names():
    f = translate(
        "GPTNeoXForCausalLM",
        hidden_size=64,
        num_attention_heads=4,
        rotary_pct=0.5,
        rotary_emb_base=500,
        use_parallel_residual=False,
        attention_bias=False,
    )
    assert (f["head_dim"], f["num_kv_heads"]) == (16, 4)
    assert (f["partial_rotary_factor"], f["rope_theta"]) == (0.5, 500.0)
    assert not f["use_parallel_residual"] and not f["attention_bias"]
    # A config.json as transformers 4 wrote it, read as a plain dict.
    g = translate(
        "GPTNeoXForCausalLM",
        {"hidden_size": 64, "num_attention_heads": 4, "rotary_pct": 0.25,
         "rotary_emb_base": 10000, "rope_scaling": None},
    )
    assert (g["partial_rotary_factor"], g["rope_theta"]) == (0.25, 10000.0)
    assert build("GPTNeoXForCausalLM", hidden_size=64, num_attention_heads=4).rotary_dim == 4


def test_phi_knobs():
    cfg = build(
        "PhiForCausalLM",
        hidden_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        partial_rotary_factor=0.75,
        qk_layernorm=True,
    )
    assert (cfg.head_dim, cfg.num_kv_heads, cfg.rotary_dim) == (16, 2, 12)
    assert cfg.qk_layernorm and cfg.attention_scale == pytest.approx(0.25)


def test_gemma_head_dim_is_independent_of_hidden():
    cfg = build(
        "GemmaForCausalLM",
        hidden_size=64,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=32,
    )
    assert (cfg.head_dim, cfg.num_kv_heads, cfg.rotary_dim) == (32, 1, 32)
    assert cfg.attention_scale == pytest.approx(32**-0.5)


def test_stablelm_knobs():
    cfg = build(
        "StableLmForCausalLM",
        hidden_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        partial_rotary_factor=0.5,
        qk_layernorm=True,
        use_qkv_bias=True,
        use_parallel_residual=True,
    )
    assert (cfg.head_dim, cfg.num_kv_heads, cfg.rotary_dim) == (16, 2, 8)
    assert cfg.qk_layernorm and cfg.use_qkv_bias and cfg.use_parallel_residual


def test_starcoder2_knobs():
    cfg = build(
        "Starcoder2ForCausalLM",
        hidden_size=64,
        num_attention_heads=4,
        num_key_value_heads=1,
        sliding_window=64,
        use_bias=False,
        norm_epsilon=1e-3,
    )
    assert (cfg.head_dim, cfg.num_kv_heads, cfg.rotary_dim) == (16, 1, 16)
    assert (cfg.sliding_window, cfg.use_bias, cfg.norm_epsilon) == (64, False, 1e-3)
    with pytest.raises(ConfigError, match="sliding_window"):
        build("Starcoder2ForCausalLM", hidden_size=64, num_attention_heads=4, sliding_window=32)
    assert translate("Starcoder2ForCausalLM", {})["sliding_window"] is None


@pytest.mark.parametrize(
    ("window", "asked", "served"),
    [(None, None, 256), (224, None, 224), (224, 200, 200), (300, None, 256), (224, 256, None)],
)
def test_starcoder2_serves_sequences_within_the_sliding_window(window, asked, served):
    hf = transformers.Starcoder2Config(max_position_embeddings=256, sliding_window=window)
    model_config = SimpleNamespace(model_path="ckpt", max_length=asked)
    if served is None:
        with pytest.raises(ConfigError, match="sliding_window"):
            Starcoder2Config.calculate_max_seq_len(hf, model_config)
    else:
        assert Starcoder2Config.calculate_max_seq_len(hf, model_config) == served


def test_gemma_explicit_hidden_activation_wins_over_legacy_hidden_act():
    f = translate(
        "GemmaForCausalLM",
        {"hidden_act": "gelu", "hidden_activation": "gelu_pytorch_tanh", "head_dim": 16},
    )
    assert f["activation"] == "gelu_pytorch_tanh"
    assert translate("GemmaForCausalLM", {"hidden_act": "gelu"})["activation"] == "gelu"


@pytest.mark.parametrize(
    ("architecture", "config", "named"),
    [
        ("GPTNeoXForCausalLM", {"rope_scaling": {"type": "linear", "factor": 2.0}}, "rope"),
        ("GPTNeoXForCausalLM", {"hidden_act": "mish_custom"}, "hidden_act"),
        ("PhiForCausalLM", {"rope_scaling": {"type": "dynamic", "factor": 2.0}}, "rope"),
        ("PhiForCausalLM", {"hidden_act": "gelu_10"}, "hidden_act"),
        ("GemmaForCausalLM", {"use_bidirectional_attention": True}, "use_bidirectional_attention"),
        ("GemmaForCausalLM", {"hidden_activation": "geglu_custom"}, "hidden_activation"),
        ("GemmaForCausalLM", {"partial_rotary_factor": 0.5}, "partial_rotary_factor"),
        ("StableLmForCausalLM", {"rope_scaling": {"type": "linear", "factor": 4.0}}, "rope"),
        ("StableLmForCausalLM", {"hidden_act": "mish_custom"}, "hidden_act"),
        ("Starcoder2ForCausalLM", {"partial_rotary_factor": 0.5}, "partial_rotary_factor"),
        ("Starcoder2ForCausalLM", {"hidden_act": "mish_custom"}, "hidden_act"),
    ],
)
def test_unsupported_values_are_refused_by_name(architecture, config, named):
    # Both as a plain config.json dict and as the transformers config object MAX passes.
    with pytest.raises(ConfigError, match=named):
        translate(architecture, config)
    _, theirs = CONFIG_CLASSES[architecture]
    try:
        hf = theirs(**config)
    except (TypeError, ValueError, KeyError):
        return  # transformers itself rejects it
    with pytest.raises(ConfigError, match="rope" if named == "rope" else named):
        translate(architecture, hf)


def test_rope_scaling_in_transformers_5_form_is_refused():
    hf = transformers.GPTNeoXConfig(rope_parameters={"rope_type": "linear", "factor": 2.0})
    with pytest.raises(ConfigError, match="rope_type"):
        translate("GPTNeoXForCausalLM", hf)


@pytest.mark.parametrize(
    ("architecture", "kwargs", "named"),
    [
        ("GPTNeoXForCausalLM", {"hidden_size": 64, "num_attention_heads": 4,
                                "rotary_pct": 0.05}, "partial_rotary_factor"),
        ("PhiForCausalLM", {"hidden_size": 64, "num_attention_heads": 4,
                            "num_key_value_heads": 3}, "num_key_value_heads"),
    ],
)
def test_inconsistent_sizes_are_refused(architecture, kwargs, named):
    with pytest.raises((ConfigError, ValueError), match=named):
        build(architecture, **kwargs)


def test_wrong_type_names_the_field():
    with pytest.raises(ConfigError, match="hidden_size"):
        translate("PhiForCausalLM", {"hidden_size": "wide"})


def test_every_supported_activation_has_a_graph_op():
    assert set(ACTIVATIONS) == set(SUPPORTED_ACTIVATIONS)


# Hub config files as transformers 4 wrote them (abridged): the top-level rope keys.
HUB_CONFIGS = {
    "EleutherAI/pythia-70m": (
        "GPTNeoXForCausalLM",
        {"hidden_act": "gelu", "hidden_size": 512, "intermediate_size": 2048,
         "layer_norm_eps": 1e-05, "max_position_embeddings": 2048, "num_attention_heads": 8,
         "num_hidden_layers": 6, "rotary_emb_base": 10000, "rotary_pct": 0.25,
         "tie_word_embeddings": False, "use_parallel_residual": True, "vocab_size": 50304},
        {"head_dim": 64, "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
    ),
    "microsoft/phi-2": (
        "PhiForCausalLM",
        {"hidden_act": "gelu_new", "hidden_size": 2560, "intermediate_size": 10240,
         "layer_norm_eps": 1e-05, "max_position_embeddings": 2048, "num_attention_heads": 32,
         "num_hidden_layers": 32, "num_key_value_heads": 32, "partial_rotary_factor": 0.4,
         "qk_layernorm": False, "rope_scaling": None, "rope_theta": 10000.0,
         "tie_word_embeddings": False, "vocab_size": 51200},
        {"head_dim": 80, "rope_theta": 10000.0, "partial_rotary_factor": 0.4},
    ),
    "google/gemma-2b": (
        "GemmaForCausalLM",
        {"head_dim": 256, "hidden_act": "gelu", "hidden_activation": "gelu_pytorch_tanh",
         "hidden_size": 2048, "intermediate_size": 16384, "max_position_embeddings": 8192,
         "num_attention_heads": 8, "num_hidden_layers": 18, "num_key_value_heads": 1,
         "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 10000.0,
         "vocab_size": 256000},
        {"head_dim": 256, "num_kv_heads": 1, "activation": "gelu_pytorch_tanh"},
    ),
    "stabilityai/stablelm-2-1_6b": (
        "StableLmForCausalLM",
        {"hidden_act": "silu", "hidden_size": 2048, "intermediate_size": 5632,
         "layer_norm_eps": 1e-05, "max_position_embeddings": 4096, "num_attention_heads": 32,
         "num_hidden_layers": 24, "num_key_value_heads": 32, "partial_rotary_factor": 0.25,
         "qk_layernorm": False, "rope_theta": 10000, "tie_word_embeddings": False,
         "use_parallel_residual": False, "use_qkv_bias": True, "vocab_size": 100352},
        {"head_dim": 64, "partial_rotary_factor": 0.25, "use_qkv_bias": True},
    ),
    "bigcode/starcoder2-3b": (
        "Starcoder2ForCausalLM",
        {"hidden_act": "gelu_pytorch_tanh", "hidden_size": 3072, "intermediate_size": 12288,
         "max_position_embeddings": 16384, "norm_epsilon": 1e-05, "num_attention_heads": 24,
         "num_hidden_layers": 30, "num_key_value_heads": 2, "rope_theta": 999999.4420358813,
         "sliding_window": 4096, "use_bias": True, "vocab_size": 49152},
        {"head_dim": 128, "num_kv_heads": 2, "sliding_window": 4096},
    ),
}


@pytest.mark.parametrize("repo", sorted(HUB_CONFIGS))
def test_hub_config_files_translate(repo):
    architecture, config, expected = HUB_CONFIGS[repo]
    _, theirs = CONFIG_CLASSES[architecture]
    # As a plain config.json, and as the transformers 5 object MAX builds from it.
    for source in (config, theirs.from_dict(config)):
        fields = translate(architecture, source)
        assert {k: fields[k] for k in expected} == expected, source


def test_layout_refuses_q_k_norms_on_a_fused_projection():
    """The fused kernel stores k before a norm could see it, so a Layout cannot ask for both."""
    from families.llama_style.rotary_config import Layout

    with pytest.raises(ValueError, match="qk_norm needs separate q, k, v projections"):
        Layout(norm_eps=1e-5, fused_qkv=True, qk_norm="shared")
    Layout(norm_eps=1e-5, qk_norm="per_head")
