"""GPT-2 on MAX against Hugging Face's GPT2LMHeadModel: logits of prefill and every decode
step, and greedy tokens, for a ragged batch, on every KV-cache strategy."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from tests.conftest import selected_kv_strategies
from tooling.metrics import FLOAT32
from tooling.parity import compare_with_hf, max_greedy, ragged_prompts

from .conftest import CONFIGS, FAMILY

NEW_TOKENS = 32
torch.set_num_threads(1)


@pytest.mark.slow
@pytest.mark.parametrize("kv", selected_kv_strategies())
@pytest.mark.parametrize("config", list(CONFIGS))
def test_ragged_batch_matches_hugging_face(config, kv, gpt2_checkpoints, max_models, encoding):
    if encoding != "float32":
        pytest.skip("float32 parity; lower precisions are checked in test_gpu_parity")
    path = gpt2_checkpoints[config]
    hf = AutoModelForCausalLM.from_pretrained(path).eval()
    model = max_models(path, FAMILY, kv=kv)
    prompts = ragged_prompts(hf.config.vocab_size)
    # Twice: with prefix caching on, the second batch reuses the first's cached pages, so
    # positions must continue from the cached prefix.
    for attempt in range(2):
        run = max_greedy(model, prompts, NEW_TOKENS)
        report = compare_with_hf(hf, run, FLOAT32)
        assert all(len(t) == NEW_TOKENS for t in run.tokens)
        assert report.ok, f"attempt {attempt}, {config}, {kv}:\n" + "\n".join(report.lines())
