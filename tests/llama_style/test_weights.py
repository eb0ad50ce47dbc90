"""The mapping tables: hub-style names (prefixes, buffers that are not weights) map, and a
tensor no row covers is reported by name."""

from __future__ import annotations

import numpy as np
import pytest

from common.mapping import (
    IGNORED,
    MAPPED,
    TRANSFORMED,
    WeightMappingError,
    apply_mapping,
    describe_mapping,
)
from families.llama_style.gemma import GEMMA_TABLE
from families.llama_style.gpt_neox import GPT_NEOX_TABLE
from families.llama_style.phi import PHI_TABLE
from families.llama_style.stablelm import STABLELM_TABLE
from families.llama_style.starcoder2 import STARCODER2_TABLE

# As EleutherAI/pythia-70m stores layer 0 (transformers 4 kept the mask and rotary buffers).
PYTHIA_NAMES = [
    "gpt_neox.embed_in.weight",
    "gpt_neox.layers.0.attention.bias",
    "gpt_neox.layers.0.attention.masked_bias",
    "gpt_neox.layers.0.attention.rotary_emb.inv_freq",
    "gpt_neox.layers.0.attention.query_key_value.weight",
    "gpt_neox.layers.0.attention.query_key_value.bias",
    "gpt_neox.layers.0.attention.dense.weight",
    "gpt_neox.layers.0.mlp.dense_h_to_4h.weight",
    "gpt_neox.layers.0.input_layernorm.weight",
    "gpt_neox.final_layer_norm.bias",
    "embed_out.weight",
]


def test_pythia_names_map_and_buffers_are_ignored():
    statuses = {name: status for name, status, _ in describe_mapping(PYTHIA_NAMES, GPT_NEOX_TABLE)}
    buffers = [n for n in PYTHIA_NAMES if n.endswith(("attention.bias", "masked_bias", "inv_freq"))]
    # The fused QKV rows are reordered from per-head (q, k, v) to [q | k | v] on the way.
    fused = [n for n in PYTHIA_NAMES if ".query_key_value." in n]
    assert all(statuses[n] == IGNORED for n in buffers)
    assert fused and all(statuses[n] == TRANSFORMED for n in fused)
    assert all(statuses[n] == MAPPED for n in PYTHIA_NAMES if n not in buffers + fused)
    targets = {n: t for n, _, t in describe_mapping(PYTHIA_NAMES, GPT_NEOX_TABLE)}
    assert targets["gpt_neox.layers.0.attention.query_key_value.weight"] == (
        "layers.0.attention.query_key_value.weight"
    )


@pytest.mark.parametrize(
    ("table", "name", "target"),
    [
        (
            PHI_TABLE,
            "model.layers.3.self_attn.q_layernorm.bias",
            "layers.3.self_attn.q_layernorm.bias",
        ),
        (PHI_TABLE, "lm_head.bias", "lm_head.bias"),
        (GEMMA_TABLE, "model.layers.1.mlp.gate_proj.weight", "layers.1.mlp.gate_proj.weight"),
        (GEMMA_TABLE, "model.norm.weight", "norm.weight"),
        (
            STABLELM_TABLE,
            "model.layers.0.self_attn.k_layernorm.norms.1.weight",
            "layers.0.self_attn.k_layernorm.norms.1.weight",
        ),
        (STARCODER2_TABLE, "model.layers.2.mlp.c_fc.bias", "layers.2.mlp.c_fc.bias"),
    ],
)
def test_checkpoint_names_map_to_graph_names(table, name, target):
    ((_, status, mapped),) = describe_mapping([name], table)
    assert (status, mapped) == (MAPPED, target)


@pytest.mark.parametrize(
    "table", [GPT_NEOX_TABLE, PHI_TABLE, GEMMA_TABLE, STABLELM_TABLE, STARCODER2_TABLE]
)
def test_unknown_tensor_is_reported_by_name(table):
    checkpoint = {"model.layers.0.block_sparse_moe.gate.weight": np.zeros((2, 2), np.float32)}
    with pytest.raises(WeightMappingError, match="block_sparse_moe"):
        apply_mapping(checkpoint, table)
