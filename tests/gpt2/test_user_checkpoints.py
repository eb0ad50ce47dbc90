"""GPT-2 checkpoints as users have them, through `max serve` and `max generate`, equal to
Hugging Face loading the same directory (in float32, the dtype served on the CPU):

- the file set `openai-community/gpt2` ships (pickle, TF, Flax, Rust, TFLite and ONNX files
  beside the safetensors): `max serve` by hub id, `max generate` by snapshot directory;
- float16, sharded with an index, slow tokenizer only (`vocab.json` + `merges.txt`):
  `max generate` by hub id;
- bfloat16, sharded, slow tokenizer only: `max serve` by snapshot directory.

Every checkpoint sits in a hub cache built by hand (`HF_HUB_OFFLINE=1`). The weights are the
"knobs" checkpoint's (tests/gpt2/conftest.py), so the compiled graph is the one
tests/gpt2/test_generate_cli.py already cached.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.serving import completion_text, hf_greedy_text, max_generate, served_completion
from tests.user_checkpoints import (
    FOREIGN_FILES,
    PICKLE,
    SHARD_SIZE,
    arm_read_tripwire,
    cast_lines,
    dress_as_hub_gpt2,
    files_read_since_armed,
    hub_env,
    into_hub_cache,
    keep_only_slow_tokenizer,
    resave,
    same_text,
)

from .conftest import FAMILY

pytestmark = pytest.mark.slow
PROMPT = "First Citizen:\nBefore we proceed"
NEW_TOKENS = 24
HUB_GPT2 = "openai-community/gpt2"
HUB_FP16 = "someone/gpt2-finetune-fp16"
HUB_BF16 = "someone/gpt2-finetune-bf16"


@pytest.fixture(scope="module")
def hub_cache(gpt2_checkpoints, tmp_path_factory) -> dict[str, Path]:
    """The hub cache (`hf_home`) and the snapshot directory of each repo in it."""
    root = tmp_path_factory.mktemp("gpt2-user-checkpoints")
    knobs = gpt2_checkpoints["knobs"]
    hf_home = root / "hf_home"
    hub_set = dress_as_hub_gpt2(shutil.copytree(knobs, root / "gpt2"), root / "pickle-was-read")
    snapshots = {HUB_GPT2: into_hub_cache(hub_set, hf_home, HUB_GPT2)}
    for repo, dtype in ((HUB_FP16, "float16"), (HUB_BF16, "bfloat16")):
        saved = resave(knobs, root / dtype, dtype=dtype, max_shard_size=SHARD_SIZE)
        snapshots[repo] = into_hub_cache(keep_only_slow_tokenizer(saved), hf_home, repo)
    return {"hf_home": hf_home, "pickle_marker": root / "pickle-was-read", **snapshots}


def foreign_files(snapshot: Path) -> list[Path]:
    return [snapshot / name for name in (*FOREIGN_FILES, PICKLE)]


def assert_layout(snapshot: Path, *, shards: bool, tokenizer_json: bool) -> None:
    """The checkpoint really has the layout the test is named for."""
    assert (snapshot / "model.safetensors.index.json").is_file() == shards
    if shards:
        assert len(list(snapshot.glob("model-*-of-*.safetensors"))) > 1
    else:
        assert (snapshot / "model.safetensors").is_file()
    assert (snapshot / "tokenizer.json").exists() == tokenizer_json
    assert (snapshot / "vocab.json").is_file() and (snapshot / "merges.txt").is_file()
    assert (snapshot / "config.json").is_symlink()  # a hub cache: links into blobs/


def assert_foreign_files_unread(hub_cache: dict[str, Path], tmp_path: Path) -> None:
    assert not hub_cache["pickle_marker"].exists(), f"{PICKLE} was unpickled"
    read = files_read_since_armed(foreign_files(hub_cache[HUB_GPT2]), tmp_path)
    assert not read, f"MAX read files it must ignore: {read}"


def test_hub_file_set_served_by_hub_id(hub_cache, tmp_path):
    snapshot = hub_cache[HUB_GPT2]
    assert_layout(snapshot, shards=False, tokenizer_json=True)
    arm_read_tripwire(foreign_files(snapshot))
    log = tmp_path / "serve.log"
    model, text = served_completion(
        HUB_GPT2, FAMILY, PROMPT, NEW_TOKENS, log=log, env=hub_env(hub_cache["hf_home"])
    )
    assert_foreign_files_unread(hub_cache, tmp_path)
    assert model == HUB_GPT2
    assert not cast_lines(log.read_text())  # stored in float32: nothing to cast
    assert same_text(text, hf_greedy_text(snapshot, PROMPT, NEW_TOKENS))


def test_hub_file_set_generates_from_its_snapshot_directory(hub_cache, tmp_path):
    snapshot = hub_cache[HUB_GPT2]
    arm_read_tripwire(foreign_files(snapshot))
    done = max_generate(FAMILY, snapshot, PROMPT, NEW_TOKENS)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_foreign_files_unread(hub_cache, tmp_path)
    assert completion_text(done.stdout) == hf_greedy_text(snapshot, PROMPT, NEW_TOKENS)


def test_float16_shards_with_slow_tokenizer_generate_by_hub_id(hub_cache):
    snapshot = hub_cache[HUB_FP16]
    assert_layout(snapshot, shards=True, tokenizer_json=False)
    done = max_generate(
        FAMILY, HUB_FP16, PROMPT, NEW_TOKENS, "--quantization-encoding", "float32",
        env=hub_env(hub_cache["hf_home"]),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    shards = sorted(p.name for p in snapshot.glob("model-*-of-*.safetensors"))
    assert [line.split("INFO: ")[-1] for line in cast_lines(done.stderr)] == [
        f"{shards[0]} and {len(shards) - 1} more shards store float16; casting to float32 at load"
    ]
    assert completion_text(done.stdout) == hf_greedy_text(snapshot, PROMPT, NEW_TOKENS)


def test_bfloat16_shards_with_slow_tokenizer_served_from_snapshot_directory(hub_cache, tmp_path):
    snapshot = hub_cache[HUB_BF16]
    assert_layout(snapshot, shards=True, tokenizer_json=False)
    log = tmp_path / "serve.log"
    _, text = served_completion(snapshot, FAMILY, PROMPT, NEW_TOKENS, log=log)
    assert len(cast_lines(log.read_text())) == 1
    assert same_text(text, hf_greedy_text(snapshot, PROMPT, NEW_TOKENS))
