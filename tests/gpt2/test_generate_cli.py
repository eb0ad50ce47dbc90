"""`max generate --custom-architectures families.gpt2` prints Hugging Face's greedy text."""

from __future__ import annotations

import pytest

from tests.serving import completion_text, hf_greedy_text
from tests.serving import max_generate as max_generate_family

from .conftest import FAMILY


def max_generate(path, prompt: str, new_tokens: int, *extra: str):
    return max_generate_family(FAMILY, path, prompt, new_tokens, *extra)


@pytest.mark.slow
def test_max_generate_prints_hugging_face_greedy_text(gpt2_checkpoints):
    path = gpt2_checkpoints["knobs"]
    prompt = "First Citizen:\nBefore we proceed"
    done = max_generate(path, prompt, 24)
    assert done.returncode == 0, done.stderr[-3000:]
    assert completion_text(done.stdout) == hf_greedy_text(path, prompt, 24)


@pytest.mark.slow
def test_max_length_past_the_position_table_is_refused(gpt2_checkpoints):
    done = max_generate(gpt2_checkpoints["knobs"], "ROMEO:", 4, "--max-length", "4096")
    assert done.returncode != 0
    assert "position limit" in done.stderr
