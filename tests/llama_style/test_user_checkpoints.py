"""A rotary decoder (GPT-NeoX) stored as hub fine-tunes often are, through `max serve` and
`max generate`, equal to Hugging Face loading the same directory in float32:

- float16, sharded with `model.safetensors.index.json`, in a hub cache: `max serve` by hub id
  (`HF_HUB_OFFLINE=1`);
- bfloat16, sharded, in a hub cache: `max generate` by snapshot directory, without
  `--quantization-encoding` (MAX alone refuses it: no float32 files).

The weights are those of tests/llama_style/test_cli.py ("defaults" served, "knobs" generated),
so the compiled graphs are the ones it cached.
"""

from __future__ import annotations

import pytest

from tests.serving import completion_text, hf_greedy_text, max_generate, served_completion
from tests.user_checkpoints import cast_lines, hub_env, same_text, sharded_hub_cache

from .conftest import FAMILY
from .test_cli import NEW_TOKENS, PROMPT

pytestmark = pytest.mark.slow
ARCHITECTURE = "GPTNeoXForCausalLM"
HUB_FP16 = "someone/pythia-tiny-fp16"
HUB_BF16 = "someone/pythia-tiny-bf16"


@pytest.fixture(scope="module")
def hub_cache(llama_checkpoint, tmp_path_factory):
    return sharded_hub_cache(
        tmp_path_factory.mktemp("llama-user-checkpoints"),
        [
            (HUB_FP16, llama_checkpoint(ARCHITECTURE, "defaults"), "float16"),
            (HUB_BF16, llama_checkpoint(ARCHITECTURE, "knobs"), "bfloat16"),
        ],
    )


def test_float16_shards_served_by_hub_id(hub_cache, tmp_path):
    log = tmp_path / "serve.log"
    model, text = served_completion(
        HUB_FP16, FAMILY, PROMPT, NEW_TOKENS, log=log, env=hub_env(hub_cache["hf_home"])
    )
    assert model == HUB_FP16
    assert len(cast_lines(log.read_text())) == 1
    assert same_text(text, hf_greedy_text(hub_cache[HUB_FP16], PROMPT, NEW_TOKENS))


def test_bfloat16_shards_generate_from_snapshot_directory(hub_cache):
    snapshot = hub_cache[HUB_BF16]
    done = max_generate(FAMILY, snapshot, PROMPT, NEW_TOKENS)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(cast_lines(done.stderr)) == 1
    assert completion_text(done.stdout) == hf_greedy_text(snapshot, PROMPT, NEW_TOKENS)
