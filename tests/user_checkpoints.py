"""Checkpoints laid out as users have them, made from the tests' tiny ones: re-saved by Hugging
Face in float16 or bfloat16 and sharded with `model.safetensors.index.json`, put in a hub cache
(`HF_HOME/hub/models--org--name/` with blobs, snapshots and `refs/main`, as `huggingface_hub`
lays it out), reduced to a slow tokenizer (`vocab.json` + `merges.txt`), or dressed as the full
file set `openai-community/gpt2` ships, with files for other frameworks MAX must not open.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from collections.abc import Iterable
from pathlib import Path

# What save_pretrained writes itself; everything else in a checkpoint directory is carried over.
_MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors.index.json")
SHARD_SIZE = "100KB"  # a tiny checkpoint in float16 comes out as 3-4 shards


def resave(src: Path, dst: Path, *, dtype: str, max_shard_size: str | None = None) -> Path:
    """`src` loaded by Hugging Face and saved again in `dtype` (sharded with an index when
    `max_shard_size` is below its size), with `src`'s tokenizer files."""
    import torch
    import transformers

    config = json.loads((src / "config.json").read_text())
    model_class = getattr(transformers, config["architectures"][0])
    model = model_class.from_pretrained(src, dtype=torch.float32).to(getattr(torch, dtype))
    kwargs = {"max_shard_size": max_shard_size} if max_shard_size else {}
    model.save_pretrained(dst, **kwargs)
    for file in src.iterdir():
        if file.is_file() and file.suffix != ".safetensors" and file.name not in _MODEL_FILES:
            shutil.copy2(file, dst / file.name)
    return dst


def keep_only_slow_tokenizer(path: Path) -> Path:
    """Replaces `tokenizer.json` (a byte-level BPE) by the `vocab.json` + `merges.txt` pair a
    GPT-2 fine-tune saved with the slow tokenizer has, and that tokenizer's config."""
    tokenizer = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
    model = tokenizer["model"]
    assert model["type"] == "BPE", f"{path}/tokenizer.json: expected a BPE model"
    (path / "vocab.json").write_text(json.dumps(model["vocab"], ensure_ascii=False), "utf-8")
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    (path / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{m}\n" for m in merges), "utf-8")
    old_config = json.loads((path / "tokenizer_config.json").read_text())
    (path / "tokenizer_config.json").write_text(
        json.dumps({"model_max_length": old_config["model_max_length"]})
    )
    for name in ("tokenizer.json", "special_tokens_map.json"):
        (path / name).unlink(missing_ok=True)
    return path


def into_hub_cache(src: Path, hf_home: Path, repo_id: str) -> Path:
    """Copies the checkpoint directory into `hf_home`'s hub cache as `repo_id` at `refs/main`,
    files as links from the snapshot into content-addressed blobs; returns the snapshot."""
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    files = sorted(p for p in src.rglob("*") if p.is_file())
    commit = hashlib.sha1(b"".join(p.read_bytes() for p in files)).hexdigest()
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    for file in files:
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copyfile(file, blob)
        link = snapshot / file.relative_to(src)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


class _WritesMarker:
    """Unpickling this (pickle, or torch.load without weights_only) creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.marker, "w"))


# Files of openai-community/gpt2 for other frameworks, with the magic bytes of their formats.
FOREIGN_FILES: dict[str, bytes] = {
    "tf_model.h5": b"\x89HDF\r\n\x1a\n" + bytes(64),
    "flax_model.msgpack": b"\x83\xa3wte\x80",
    "rust_model.ot": b"PK\x03\x04" + bytes(64),
    "64-8bits.tflite": b"\x1c\x00\x00\x00TFL3" + bytes(64),
    "onnx/decoder_model.onnx": b"\x08\x07\x12\x07pytorch",
    "onnx/decoder_model_merged.onnx": b"\x08\x07\x12\x07pytorch",
    "onnx/decoder_with_past_model.onnx": b"\x08\x07\x12\x07pytorch",
}
PICKLE = "pytorch_model.bin"


def dress_as_hub_gpt2(path: Path, pickle_marker: Path) -> Path:
    """Adds to a GPT-2 checkpoint what `openai-community/gpt2` ships beside it: config keys of
    2019 (`n_ctx`, `task_specific_params`, the summary head), the slow tokenizer files beside
    `tokenizer.json`, a pickle `pytorch_model.bin` whose unpickling creates `pickle_marker`,
    TensorFlow, Flax, Rust and TFLite weights, and an `onnx/` export with its own config."""
    config = json.loads((path / "config.json").read_text())
    config.update(
        n_ctx=config["n_positions"],
        task_specific_params={"text-generation": {"do_sample": True, "max_length": 50}},
        summary_activation=None,
        summary_first_dropout=0.1,
        summary_proj_to_labels=True,
        summary_type="cls_index",
        summary_use_proj=True,
    )
    (path / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
    (path / "vocab.json").write_text(json.dumps(tokenizer["model"]["vocab"]), "utf-8")
    merges = [m if isinstance(m, str) else " ".join(m) for m in tokenizer["model"]["merges"]]
    (path / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{m}\n" for m in merges), "utf-8")
    (path / PICKLE).write_bytes(pickle.dumps(_WritesMarker(pickle_marker)))
    # The hub's tokenizer_config.json predates tokenizer classes in it; no special_tokens_map.
    old_config = json.loads((path / "tokenizer_config.json").read_text())
    (path / "tokenizer_config.json").write_text(
        json.dumps({"model_max_length": old_config["model_max_length"]})
    )
    (path / "special_tokens_map.json").unlink(missing_ok=True)
    for name, content in FOREIGN_FILES.items():
        (path / name).parent.mkdir(exist_ok=True)
        (path / name).write_bytes(content)
    for name in ("config.json", "generation_config.json", "tokenizer.json", "vocab.json",
                 "merges.txt", "tokenizer_config.json"):
        shutil.copy2(path / name, path / "onnx" / name)
    return path


# An atime from long ago: on a filesystem that records access (relatime does, once the atime
# is older than a day), any read of the file moves it.
_LONG_AGO = 946684800  # 2000-01-01


def arm_read_tripwire(files: Iterable[Path]) -> None:
    for file in files:
        os.utime(file, (_LONG_AGO, os.stat(file).st_mtime))


def files_read_since_armed(files: Iterable[Path], scratch: Path) -> list[str]:
    """The armed files whose access time moved; empty when the filesystem records no reads (a
    `noatime` mount), which a control file read here tells."""
    control = scratch / "atime-control"
    control.write_bytes(b"x")
    arm_read_tripwire([control])
    control.read_bytes()
    if os.stat(control).st_atime == _LONG_AGO:
        return []
    return [str(f) for f in files if os.stat(f).st_atime != _LONG_AGO]


def sharded_hub_cache(root: Path, entries: Iterable[tuple[str, Path, str]]) -> dict[str, Path]:
    """Each (repo id, checkpoint, dtype): the checkpoint re-saved in dtype as shards with an
    index, put in one hub cache under root. Returns {"hf_home": ..., repo id: snapshot}."""
    hf_home = root / "hf_home"
    snapshots = {}
    for repo, src, dtype in entries:
        saved = resave(src, root / dtype, dtype=dtype, max_shard_size=SHARD_SIZE)
        assert (saved / "model.safetensors.index.json").is_file()
        snapshots[repo] = into_hub_cache(saved, hf_home, repo)
    return {"hf_home": hf_home, **snapshots}


def hub_env(hf_home: Path) -> dict[str, str]:
    """The environment of a MAX command that resolves hub ids from `hf_home` alone."""
    from tests.serving import cli_env

    return cli_env(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1")


def cast_lines(log: str) -> list[str]:
    """The lines in which loading says it casts stored weights (`common.max_weights`)."""
    return [line for line in log.splitlines() if "casting to float32 at load" in line]


def same_text(served: str, expected: str) -> bool:
    """Random weights emit arbitrary bytes: the server holds back a last byte sequence that is
    not yet a whole UTF-8 character, where Hugging Face's decode shows it as U+FFFD."""
    return served in (expected, expected.rstrip("\ufffd"))
