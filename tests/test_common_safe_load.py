"""Pre-flight checks on safetensors files and checkpoint directories, against corrupt inputs."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from common.safe_load import CheckpointError, check_checkpoint_dir, check_safetensors

TENSORS = {
    "wte.weight": np.zeros((8, 4), np.float32),
    "ln_f.bias": np.zeros(4, np.float16),
    "h.0.attn.bias": np.ones((2, 2), np.bool_),
}


def write_raw(path: Path, header: dict, data: bytes, header_len: int | None = None) -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if header_len is None else header_len) + raw + data)
    return path


def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.safetensors"
    save_file(TENSORS, str(path), metadata={"format": "pt"})
    return path


def test_valid_file_lists_shapes_and_dtypes(tmp_path: Path) -> None:
    assert check_safetensors(good_file(tmp_path)) == {
        "wte.weight": ((8, 4), "float32"),
        "ln_f.bias": ((4,), "float16"),
        "h.0.attn.bias": ((2, 2), "bool"),
    }


def test_truncated_file_names_file_and_tensor(tmp_path: Path) -> None:
    path = good_file(tmp_path)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(CheckpointError) as info:
        check_safetensors(path)
    text = str(info.value)
    assert str(path) in text and "truncated" in text
    assert "'wte.weight'" in text or "'ln_f.bias'" in text or "'h.0.attn.bias'" in text


@pytest.mark.parametrize("size", [0, 5])
def test_file_shorter_than_length_field(tmp_path: Path, size: int) -> None:
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(b"\0" * size)
    with pytest.raises(CheckpointError, match="at least the 8-byte header length"):
        check_safetensors(path)


def test_header_length_beyond_file(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "a.safetensors", {}, b"", header_len=4096)
    with pytest.raises(CheckpointError, match="header length field says 4096 bytes"):
        check_safetensors(path)


def test_absurd_header_length(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "a.safetensors", {}, b"", header_len=2**40)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        check_safetensors(path)


def test_header_not_json(tmp_path: Path) -> None:
    path = tmp_path / "a.safetensors"
    path.write_bytes(struct.pack("<Q", 5) + b"{oops")
    with pytest.raises(CheckpointError, match="not valid UTF-8 JSON"):
        check_safetensors(path)


def test_unknown_dtype_wrong_size_and_bad_offsets_are_all_listed(tmp_path: Path) -> None:
    header = {
        "a": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [3], "data_offsets": [8, 16]},  # needs 12 bytes
        "c": {"dtype": "F32", "shape": [1], "data_offsets": [20, 16]},
    }
    path = write_raw(tmp_path / "a.safetensors", header, b"\0" * 20)
    with pytest.raises(CheckpointError) as info:
        check_safetensors(path)
    problems = info.value.problems
    assert any("'a'" in p and "unknown dtype 'F33'" in p for p in problems)
    assert any("'b'" in p and "needs 12 bytes" in p and "span 8" in p for p in problems)
    assert any("'c'" in p and "data_offsets" in p for p in problems)


def test_overlap_and_trailing_bytes(tmp_path: Path) -> None:
    header = {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
    }
    with pytest.raises(CheckpointError, match="'b': data_offsets overlap 'a'"):
        check_safetensors(write_raw(tmp_path / "o.safetensors", header, b"\0" * 12))
    single = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    with pytest.raises(CheckpointError, match="trailing bytes"):
        check_safetensors(write_raw(tmp_path / "t.safetensors", single, b"\0" * 12))


def make_dir(tmp_path: Path, *, tokenizer: tuple[str, ...] = ("tokenizer.json",)) -> Path:
    root = tmp_path / "ckpt"
    root.mkdir()
    (root / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    save_file(TENSORS, str(root / "model.safetensors"))
    for name in tokenizer:
        (root / name).write_text("{}")
    return root


@pytest.mark.parametrize(
    "tokenizer",
    [("tokenizer.json",), ("vocab.json", "merges.txt"), ("vocab.txt",), ("tokenizer.model",)],
)
def test_complete_dir_passes(tmp_path: Path, tokenizer: tuple[str, ...]) -> None:
    check_checkpoint_dir(make_dir(tmp_path, tokenizer=tokenizer))


def test_dir_problems_are_reported_together(tmp_path: Path) -> None:
    root = make_dir(tmp_path, tokenizer=("vocab.json",))  # merges.txt missing
    (root / "config.json").write_text("{not json")
    weights = root / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1])
    with pytest.raises(CheckpointError) as info:
        check_checkpoint_dir(root)
    err = info.value
    assert err.path == str(root)
    text = str(err)
    assert "config.json: invalid JSON" in text
    assert "model.safetensors: tensor" in text and "truncated" in text
    assert "no tokenizer files" in text
    with pytest.raises(CheckpointError) as again:
        check_checkpoint_dir(root, need_tokenizer=False)
    assert "tokenizer" not in str(again.value)


def test_dir_without_weights_or_config(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as info:
        check_checkpoint_dir(tmp_path, need_tokenizer=False)
    text = str(info.value)
    assert "config file not found" in text and "no *.safetensors weights" in text
    with pytest.raises(CheckpointError, match="not a directory"):
        check_checkpoint_dir(tmp_path / "absent")


def test_sharded_dir_checks_index_and_shards(tmp_path: Path) -> None:
    root = make_dir(tmp_path)
    (root / "model.safetensors").unlink()
    save_file({"a": np.zeros(2, np.float32)}, str(root / "model-00001-of-00002.safetensors"))
    index = {
        "metadata": {},
        "weight_map": {
            "a": "model-00001-of-00002.safetensors",
            "b": "model-00002-of-00002.safetensors",
        },
    }
    (root / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="missing shard.*model-00002-of-00002"):
        check_checkpoint_dir(root)

    save_file({"c": np.zeros(2, np.float32)}, str(root / "model-00002-of-00002.safetensors"))
    with pytest.raises(CheckpointError, match="tensor 'b' is not in shard"):
        check_checkpoint_dir(root)

    save_file({"b": np.zeros(2, np.float32)}, str(root / "model-00002-of-00002.safetensors"))
    check_checkpoint_dir(root)


def test_single_message_form() -> None:
    err = CheckpointError("ckpt: weights are sharded but the index is absent")
    assert str(err) == "ckpt: weights are sharded but the index is absent"
    assert str(CheckpointError("ckpt", ["a", "b"])) == "ckpt: 2 problems\n  - a\n  - b"
