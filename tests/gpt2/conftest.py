"""Tiny GPT-2 checkpoints covering every config knob the family implements."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from tooling.checkpoints import build_random_checkpoint

FAMILY = "families.gpt2"

# Two graphs cover the knobs: Hugging Face's defaults (saved with `transformer.` names), and
# every non-default knob at once (saved the hub's way: no prefix, attn.bias buffers, own head).
CONFIGS: dict[str, dict] = {
    "defaults": {"n_positions": 320},
    "knobs": {
        "n_positions": 320,
        "activation_function": "gelu",
        "n_inner": 96,
        "layer_norm_epsilon": 1e-3,
        "scale_attn_weights": False,
        "scale_attn_by_inverse_layer_idx": True,
        "reorder_and_upcast_attn": True,
        "tie_word_embeddings": False,
    },
}


def save_hub_style(directory: Path, n_positions: int) -> None:
    """Rewrites a checkpoint as the hub's gpt2 stores it: bare names plus mask buffers."""
    file = directory / "model.safetensors"
    tensors = {k.removeprefix("transformer."): v for k, v in load_file(file).items()}
    layers = {int(k.split(".")[1]) for k in tensors if k.startswith("h.")}
    mask = np.tril(np.ones((n_positions, n_positions), dtype=bool))[None, None]
    for layer in layers:
        tensors[f"h.{layer}.attn.bias"] = mask
    save_file(tensors, file, metadata={"format": "pt"})


def build_gpt2_checkpoint(config: str, out_dir: Path) -> Path:
    """The tiny checkpoint with the knobs of CONFIGS[config]; "knobs" is saved hub-style."""
    overrides = CONFIGS[config]
    path = build_random_checkpoint(
        "GPT2LMHeadModel", out_dir, config_overrides=overrides, seed=7
    )
    if config == "knobs":
        save_hub_style(path, overrides["n_positions"])
    return path


@pytest.fixture(scope="session")
def gpt2_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gpt2")
    return {name: build_gpt2_checkpoint(name, root / name) for name in CONFIGS}

