"""Successor checkpoints: greedy decoding follows a chain of tokens chosen in advance.

Built from a tiny random checkpoint (give it a family test's config, and MAX reuses that test's
compiled graph): every tensor inside the decoder blocks is zero, so attention and MLP add nothing
to the residual stream (a norm with zero weight outputs zero; Gemma's 1 + w norms still feed
zero projections); GPT-2's position embeddings are zero; the final norm has scale 1 and bias 0;
the untied head's row for succ(t) is the embedding row of t. The last hidden state is then the
normalised embedding e of the current token t, and succ(t)'s logit e·norm(e), about
hidden_size·σ, beats every other row's, about σ·√hidden_size.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from tooling.checkpoints import build_random_checkpoint

# Checkpoint tensor names by role, across the decoder families' layouts (with or without the
# `transformer.` / `model.` / `gpt_neox.` prefix).
EMBEDDINGS = ("wte.weight", "embed_in.weight", "embed_tokens.weight")
HEADS = ("lm_head.weight", "embed_out.weight")
POSITIONS = ("wpe.weight",)
BLOCK = re.compile(r"(^|\.)(h|layers)\.\d+\.")
FINAL_NORM = re.compile(r"(^|\.)(ln_f|final_layer_norm|final_layernorm|norm)\.(weight|bias)$")
# model_type -> the final-norm weight that scales by 1: these norms scale by 1 + weight.
UNIT_NORM_WEIGHT = {"gemma": 0.0}


def chain_ids(tokenizer: Any, text: str) -> list[int]:
    """The token ids of `text`, which must all differ: succ maps each to the next."""
    ids = tokenizer(text).input_ids
    if len(set(ids)) != len(ids):
        raise ValueError(f"{text!r} tokenizes to repeated ids {ids}: succ would not be a function")
    return ids


def successor(chain: list[int]) -> dict[int, int]:
    """succ over the chain, as a cycle: the last id's successor is the first."""
    return dict(zip(chain, chain[1:] + chain[:1], strict=True))


def make_successor(directory: Path, chain: list[int]) -> None:
    """Rewrites the checkpoint in `directory` so greedy decoding goes from t to succ(t)."""
    file = directory / "model.safetensors"
    model_type = json.loads((directory / "config.json").read_text())["model_type"]
    tensors = load_file(file)
    embedding = tensors[next(n for n in tensors if n.endswith(EMBEDDINGS))]
    head_name = next((n for n in tensors if n.endswith(HEADS)), None)
    if head_name is None:
        raise ValueError(f"{file}: no untied head ({' or '.join(HEADS)}); build it untied")
    for name, tensor in tensors.items():
        if not np.issubdtype(tensor.dtype, np.floating):
            continue  # GPT-2's causal-mask buffers
        if BLOCK.search(name) or name.endswith(POSITIONS):
            tensors[name] = np.zeros_like(tensor)
        elif FINAL_NORM.search(name):
            scale = UNIT_NORM_WEIGHT.get(model_type, 1.0) if name.endswith("weight") else 0.0
            tensors[name] = np.full_like(tensor, scale)
    head = tensors[head_name].copy()
    for token, following in successor(chain).items():
        head[following] = embedding[token]
    tensors[head_name] = head
    save_file(tensors, file, metadata={"format": "pt"})


def build_successor_checkpoint(
    architecture: str, out_dir: Path, config_overrides: dict[str, Any], text: str, seed: int = 3
) -> tuple[Path, list[int]]:
    """A tiny `architecture` checkpoint whose greedy decoding cycles through `text`'s ids."""
    from transformers import AutoTokenizer

    path = build_random_checkpoint(
        architecture, out_dir, config_overrides=config_overrides, seed=seed
    )
    chain = chain_ids(AutoTokenizer.from_pretrained(path), text)
    make_successor(path, chain)
    return path, chain
