"""`max generate --custom-architectures families.gpt2` prints Hugging Face's greedy text."""

from __future__ import annotations

import subprocess

import pytest

from tests.serving import ROOT, cli_env, max_cli

from .conftest import FAMILY
from .test_serve import hf_greedy_text


def max_generate(path, prompt: str, new_tokens: int, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        *max_cli(), "generate", "--custom-architectures", FAMILY, "--model-path", str(path),
        "--devices", "cpu", "--prompt", prompt, "--max-new-tokens", str(new_tokens),
        "--top-k", "1", *extra,
    ]
    return subprocess.run(cmd, cwd=ROOT, env=cli_env(), capture_output=True, text=True,
                          timeout=900)


def completion_text(stdout: str) -> str:
    """The completion: stdout up to the metrics report that starts with 'Prompt size:'."""
    return stdout.split("Prompt size:")[0].rstrip("\n")


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
