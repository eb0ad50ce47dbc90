"""Every registered rotary decoder through the commands users run: `max generate` prints Hugging
Face's greedy text, and `max serve` answers an OpenAI completion (plain and streamed) with it."""

from __future__ import annotations

import openai
import pytest

from families.llama_style import ARCHITECTURES
from tests.serving import (
    completion_text,
    hf_greedy_text,
    max_generate,
    plain_and_streamed,
    running_server,
)

from .conftest import FAMILY

PROMPT = "The quick brown fox jumps over"
NEW_TOKENS = 16
NAMES = [arch.name for arch in ARCHITECTURES]


@pytest.mark.slow
@pytest.mark.parametrize("architecture", NAMES)
def test_max_generate_prints_hugging_face_greedy_text(architecture, llama_checkpoint):
    path = llama_checkpoint(architecture, "knobs")
    done = max_generate(FAMILY, path, PROMPT, NEW_TOKENS)
    assert done.returncode == 0, done.stderr[-3000:]
    assert completion_text(done.stdout) == hf_greedy_text(path, PROMPT, NEW_TOKENS)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", NAMES)
def test_max_serve_completion_equals_hugging_face_greedy(architecture, llama_checkpoint, tmp_path):
    path = llama_checkpoint(architecture, "defaults")
    expected = hf_greedy_text(path, PROMPT, NEW_TOKENS)
    with running_server(path, FAMILY, log=tmp_path / "serve.log") as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", timeout=300)
        model = client.models.list().data[0].id
        plain, streamed = plain_and_streamed(client, model, PROMPT, NEW_TOKENS)
    # Random weights emit arbitrary bytes, a final partial character included (U+FFFD).
    assert plain == expected
    assert streamed == expected
