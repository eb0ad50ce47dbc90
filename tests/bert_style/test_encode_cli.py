"""`max encode --custom-architectures families.bert_style` prints the sentence embedding that
Hugging Face + sentence-transformers pooling gives for the prompt (MAX's tokenizer included)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from tests.serving import ROOT, cli_env, max_cli

from .conftest import FAMILY, TEXTS, assert_close, hf_embeddings, hf_token_ids

PROMPT = TEXTS[1]


def max_encode(path, prompt: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = [
        *max_cli(), "encode", "--custom-architectures", FAMILY, "--model-path", str(path),
        "--devices", "cpu", "--prompt", prompt,
    ]
    return subprocess.run(cmd, cwd=ROOT, env=env or cli_env(), capture_output=True, text=True,
                          timeout=900)


def printed_embedding(stdout: str) -> np.ndarray:
    """The vector after 'Embeddings:', which MAX prints as numpy prints an array."""
    body = stdout.split("Embeddings:", 1)[1]
    return np.array(body[body.index("[") + 1 : body.index("]")].split(), dtype=np.float64)


@pytest.mark.slow
def test_max_encode_prints_the_sentence_embedding(checkpoints, encoding):
    if encoding != "float32":
        pytest.skip("the CLI check runs float32 on the CPU")
    path = checkpoints["RobertaModel"]
    done = max_encode(path, PROMPT)
    assert done.returncode == 0, done.stderr[-3000:]
    got = printed_embedding(done.stdout)
    ref = hf_embeddings(path, hf_token_ids(path, [PROMPT]))[0]
    # numpy prints 8 significant digits: well inside the 1e-4 tolerance.
    assert_close(got, ref, "max encode")
