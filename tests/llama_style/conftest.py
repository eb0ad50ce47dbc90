"""Tiny checkpoints for every registered rotary decoder, covering the knobs each implements."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tooling.checkpoints import build_random_checkpoint

FAMILY = "families.llama_style"

# Prompts reach 150 + 31 + 32 generated tokens, so every checkpoint gets 256 positions.
_POSITIONS = {"max_position_embeddings": 256}

# Per architecture, two graphs: Hugging Face's defaults, and every other knob at once.
CONFIGS: dict[str, dict[str, dict[str, Any]]] = {
    "GPTNeoXForCausalLM": {
        "defaults": {**_POSITIONS},
        "knobs": {
            **_POSITIONS,
            "use_parallel_residual": False,
            # The pre-transformers-5 key names, converted by GPTNeoXConfig.
            "rotary_pct": 0.5,
            "rotary_emb_base": 500.0,
            "attention_bias": False,
            "tie_word_embeddings": True,
            "hidden_act": "gelu_new",
            "layer_norm_eps": 1e-3,
            "intermediate_size": 96,
        },
    },
    "PhiForCausalLM": {
        "defaults": {**_POSITIONS},
        "knobs": {
            **_POSITIONS,
            "qk_layernorm": True,
            "num_key_value_heads": 2,
            "partial_rotary_factor": 0.75,
            "rope_theta": 1000.0,
            "tie_word_embeddings": True,
            "hidden_act": "gelu",
            "layer_norm_eps": 1e-3,
        },
    },
    "GemmaForCausalLM": {
        "defaults": {**_POSITIONS},
        "knobs": {
            **_POSITIONS,
            "num_key_value_heads": 1,
            # q is 4 heads x 32 = 128 wide on a 64-wide model.
            "head_dim": 32,
            "attention_bias": True,
            "tie_word_embeddings": False,
            "hidden_act": "gelu",
            "rms_norm_eps": 1e-5,
            "rope_theta": 500.0,
        },
    },
    # The tiny recipe is GQA (2 KV heads for 4 heads) in both.
    "StableLmForCausalLM": {
        "defaults": {**_POSITIONS},
        "knobs": {
            **_POSITIONS,
            "qk_layernorm": True,
            "use_qkv_bias": True,
            "use_parallel_residual": True,
            "partial_rotary_factor": 0.5,
            "tie_word_embeddings": True,
            "hidden_act": "gelu_new",
            "layer_norm_eps": 1e-3,
            "rope_theta": 1000.0,
        },
    },
    "Starcoder2ForCausalLM": {
        "defaults": {**_POSITIONS},
        "knobs": {
            **_POSITIONS,
            # Served lengths are capped at the window (224 < 256 positions); prompts plus
            # generated tokens (up to 213) fit it, where Hugging Face's mask is plain causal.
            "sliding_window": 224,
            "use_bias": False,
            "num_key_value_heads": 1,
            "tie_word_embeddings": False,
            "rope_theta": 100000.0,
            "hidden_act": "gelu",
            "norm_epsilon": 1e-3,
        },
    },
}


def build_llama_checkpoint(architecture: str, config: str, out_dir: Path) -> Path:
    """The tiny checkpoint of `architecture` with the knobs of CONFIGS[architecture][config]."""
    return build_random_checkpoint(
        architecture, out_dir, config_overrides=CONFIGS[architecture][config], seed=11
    )


@pytest.fixture(scope="session")
def llama_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Path]:
    """`llama_checkpoint(architecture, config)`: the tiny checkpoint, built once per session."""
    root = tmp_path_factory.mktemp("llama_style")
    built: dict[tuple[str, str], Path] = {}

    def get(architecture: str, config: str) -> Path:
        key = (architecture, config)
        if key not in built:
            built[key] = build_llama_checkpoint(architecture, config, root / architecture / config)
        return built[key]

    return get

