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


@pytest.fixture(scope="module")
def shipped(tiny_gpt2: Path) -> str:
    return traced_graph(tiny_gpt2, "families.gpt2", "")


def test_the_same_graph_traces_to_the_same_text(tiny_gpt2, shipped):
    assert "mo.graph @gpt2" in shipped
    assert traced_graph(tiny_gpt2, "families.gpt2", "") == shipped


@pytest.mark.parametrize("variant", ["gpt2qkvalone", "gpt2layernorm"])
def test_a_variant_of_the_graph_traces_to_other_text(tiny_gpt2, shipped, variant):
    # The same function written otherwise: c_attn's bias added after its matmul; the
    # LayerNorms over the uncentered stream.
    assert traced_graph(tiny_gpt2, "families.gpt2", variant) != shipped
