"""Every registered rotary decoder on MAX against Hugging Face: logits of prefill and every
decode step, and greedy tokens, for a ragged batch, on every KV-cache strategy."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from families.llama_style import ARCHITECTURES
from tests.conftest import selected_kv_strategies
from tooling.metrics import BFLOAT16, FLOAT32
from tooling.parity import compare_with_hf, max_greedy, ragged_prompts

from .conftest import CONFIGS, FAMILY

NEW_TOKENS = 32
THRESHOLDS = {"float32": FLOAT32, "bfloat16": BFLOAT16}
torch.set_num_threads(1)

REGISTRY = {arch.name: arch for arch in ARCHITECTURES}
CASES = [
    pytest.param(arch.name, config, id=f"{arch.name}-{config}")
    for arch in ARCHITECTURES
    for config in CONFIGS.get(arch.name, {})
]


def test_every_registered_architecture_has_test_configs():
    assert {arch.name for arch in ARCHITECTURES} == set(CONFIGS)


@pytest.mark.slow
@pytest.mark.parametrize("kv", selected_kv_strategies())
@pytest.mark.parametrize(("architecture", "config"), CASES)
def test_ragged_batch_matches_hugging_face(
    architecture, config, kv, llama_checkpoint, max_models, encoding
):
    if encoding not in REGISTRY[architecture].supported_encodings:
        pytest.skip(f"{architecture}: {encoding} is not among its verified encodings yet")
    path = llama_checkpoint(architecture, config)
    hf = AutoModelForCausalLM.from_pretrained(path).eval()
    assert type(hf).__name__ == architecture
    model = max_models(path, FAMILY, kv=kv)
    prompts = ragged_prompts(hf.config.vocab_size)
    # Twice: with prefix caching on, the second batch reuses the first's cached pages, so
    # positions (and so the rotary angles) must continue from the cached prefix.
    for attempt in range(2):
        run = max_greedy(model, prompts, NEW_TOKENS)
        report = compare_with_hf(hf, run, THRESHOLDS[encoding])
        assert all(len(t) == NEW_TOKENS for t in run.tokens)
        assert report.ok, f"attempt {attempt}, {architecture} {config}, {kv}:\n" + "\n".join(
            report.lines()
        )
