"""Which rotary decoders run over a centered residual stream, and that a checkpoint is still
checked for the norm tensors the centered graph folds away (families/llama_style/centering.py;
the numbers are checked against Hugging Face by test_parity.py, the algebra by
tests/test_common_centering.py)."""

from __future__ import annotations

import shutil

import pytest
from safetensors.numpy import load_file, save_file

from families.llama_style.centering import folded_norm_weights
from tooling.bringup.inspection import inspect_checkpoint

from .conftest import CONFIGS
from .test_config import build

# (architecture, config) -> (centered stream, MLP reads the attention's norm). Centered: block
# LayerNorms feeding biased q/k/v and MLP-in projections of a two-projection MLP.
EXPECTED = {
    ("GPTNeoXForCausalLM", "defaults"): (True, True),  # parallel: its two norms become one
    ("GPTNeoXForCausalLM", "knobs"): (False, False),  # no attention bias, sequential
    ("PhiForCausalLM", "defaults"): (True, True),
    ("PhiForCausalLM", "knobs"): (True, True),
    ("GemmaForCausalLM", "defaults"): (False, False),  # RMSNorm (1 + weight), gated MLP
    ("GemmaForCausalLM", "knobs"): (False, False),
    ("StableLmForCausalLM", "defaults"): (False, False),  # gated MLP, no biases
    ("StableLmForCausalLM", "knobs"): (False, True),  # parallel with one norm
    ("Starcoder2ForCausalLM", "defaults"): (True, False),  # sequential
    ("Starcoder2ForCausalLM", "knobs"): (False, False),  # use_bias False
}


def test_every_test_config_is_expected():
    assert set(EXPECTED) == {(a, c) for a, configs in CONFIGS.items() for c in configs}


@pytest.mark.parametrize(("architecture", "config"), sorted(EXPECTED))
def test_which_configs_run_over_a_centered_stream(architecture, config):
    cfg = build(architecture, **CONFIGS[architecture][config])
    assert (cfg.centered_residual, cfg.mlp_reads_attention_norm) == EXPECTED[architecture, config]


def test_folded_norm_weights_of_a_parallel_block_include_the_second_gain():
    cfg = build("GPTNeoXForCausalLM", hidden_size=64, num_attention_heads=4, num_hidden_layers=2)
    assert folded_norm_weights(cfg) == [
        f"layers.{i}.{name}"
        for i in range(2)
        for name in (
            "input_layernorm.bias",
            "post_attention_layernorm.bias",
            "post_attention_layernorm.weight",
        )
    ]
    sequential = build("Starcoder2ForCausalLM", num_hidden_layers=1)
    assert folded_norm_weights(sequential) == [
        "layers.0.input_layernorm.bias",
        "layers.0.post_attention_layernorm.bias",
    ]


@pytest.mark.parametrize(
    "tensor",
    ["post_attention_layernorm.weight", "post_attention_layernorm.bias", "input_layernorm.bias"],
)
def test_a_missing_folded_norm_tensor_is_named(llama_checkpoint, tmp_path, tensor):
    """GPT-NeoX's defaults graph binds none of these, but the checkpoint must still hold them."""
    path = tmp_path / "edited"
    shutil.copytree(llama_checkpoint("GPTNeoXForCausalLM", "defaults"), path)
    tensors = load_file(path / "model.safetensors")
    del tensors[f"gpt_neox.layers.1.{tensor}"]
    save_file(tensors, path / "model.safetensors", metadata={"format": "pt"})
    report = inspect_checkpoint(path, "llama_style")
    assert report.missing == [f"layers.1.{tensor}"]
    assert not report.ok
