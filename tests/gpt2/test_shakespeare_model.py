"""The shipped Shakespeare GPT-2 on MAX: greedy continuations equal Hugging Face's for 64
tokens, with logits within tooling.metrics.FLOAT32 at every step (the log-likelihood check is in
test_serve)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.conftest import SHAKESPEARE_MODEL
from tooling.metrics import FLOAT32
from tooling.parity import compare_with_hf, max_greedy

from .conftest import FAMILY

PROMPTS = ["ROMEO:", "JULIET:\nO Romeo, Romeo!", "First Citizen:\nWe are accounted poor", "KING"]
torch.set_num_threads(1)


@pytest.mark.slow
def test_greedy_continuations_match_hugging_face_for_64_tokens(max_models, encoding):
    if encoding != "float32":
        pytest.skip("float32 parity; lower precisions are verified on a GPU by tests/gpu")
    tok = AutoTokenizer.from_pretrained(SHAKESPEARE_MODEL)
    hf = AutoModelForCausalLM.from_pretrained(SHAKESPEARE_MODEL).eval()
    run = max_greedy(max_models(SHAKESPEARE_MODEL, FAMILY), [tok(p).input_ids for p in PROMPTS], 64)
    report = compare_with_hf(hf, run, FLOAT32)
    # Every step's token is Hugging Face's argmax given the same prefix: its greedy decoding.
    assert report.ok, "\n".join(report.lines())
