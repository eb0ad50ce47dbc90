"""tools/graph_digest.py: the traced graph's text is the same on every trace, and a graph
variant that computes the same function another way gets another digest."""

from __future__ import annotations

from pathlib import Path

import pytest

from tooling.checkpoints import build_random_checkpoint
from tools.graph_digest import traced_graph


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_checkpoint("GPT2LMHeadModel", tmp_path_factory.mktemp("gpt2"), seed=0)


def test_the_same_graph_traces_to_the_same_text(tiny_gpt2):
    first = traced_graph(tiny_gpt2, "families.gpt2", "")
    assert "mo.graph @gpt2" in first
    assert traced_graph(tiny_gpt2, "families.gpt2", "") == first


def test_a_variant_of_the_graph_traces_to_other_text(tiny_gpt2):
    # c_attn's bias added after its matmul: the same function, another graph.
    shipped = traced_graph(tiny_gpt2, "families.gpt2", "")
    assert traced_graph(tiny_gpt2, "families.gpt2", "gpt2qkvalone") != shipped
