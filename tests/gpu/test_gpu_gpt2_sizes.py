"""The bring-up checklist on the GPU for every GPT-2 size (distilgpt2 to gpt2-xl, random
weights of each published shape): it loads, compiles, streams a `/v1/completions` through
`max serve`, and its compile time and GPU memory are recorded (tools/gpt2_sizes.py)."""

from __future__ import annotations

import pytest

from tools.gpt2_sizes import NEW_TOKENS, SIZES, serve_size


@pytest.mark.slow
@pytest.mark.parametrize("size", list(SIZES))
def test_gpt2_size_serves_on_gpu(size, tmp_path, record):
    where = dict(family="gpt2", architecture="GPT2LMHeadModel", config=size, encoding="float32")
    try:
        figures = serve_size(size, "gpu", tmp_path)
    except Exception as exc:
        record(**where, kv="jenga-prefix", ok=False, problems=[repr(exc)[:300]])
        raise
    problems = []
    # Streamed (more than one chunk), and every token asked for, by the server's own count: a
    # chunk may carry two tokens (gpt2-xl's 32 came in 31 chunks at a8a15f4).
    if figures["streamed_chunks"] < 2:
        problems.append(f"{figures['streamed_chunks']} streamed chunk(s): not streamed")
    if figures["completion_tokens"] != NEW_TOKENS:
        problems.append(f"{figures['completion_tokens']} completion tokens, asked {NEW_TOKENS}")
    # The weights must be on the card, and the KV cache is capped at a tenth of it.
    if not figures["memory_mib"] >= figures["weights_mib"]:
        problems.append(
            f"GPU memory {figures['memory_mib']} MiB < weights {figures['weights_mib']} MiB"
        )
    record(
        **where,
        kv="jenga-prefix",
        ok=not problems,
        problems=problems,
        **figures,
    )
    assert not problems, f"{size}: " + "; ".join(problems)
