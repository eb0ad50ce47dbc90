"""A broken GPT-2 checkpoint is refused at load with one message naming the file and the
tensor or field, before any graph is compiled."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from tooling.parity import load_max_model

from .conftest import FAMILY


def error_text(exc: BaseException) -> str:
    parts = []
    while exc is not None:
        parts.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


@pytest.fixture
def broken(gpt2_checkpoints, tmp_path) -> Path:
    path = tmp_path / "broken"
    shutil.copytree(gpt2_checkpoints["defaults"], path)
    return path


def edit_tensors(path: Path, edit) -> None:
    file = path / "model.safetensors"
    tensors = load_file(file)
    edit(tensors)
    save_file(tensors, file, metadata={"format": "pt"})


def load_error(path: Path) -> str:
    with pytest.raises(Exception) as info:
        load_max_model(str(path), custom_architectures=[FAMILY])
    return error_text(info.value)


def test_missing_tensor_is_named(broken):
    edit_tensors(broken, lambda t: t.pop("transformer.h.1.mlp.c_fc.bias"))
    text = load_error(broken)
    assert "h.1.mlp.c_fc.bias" in text and str(broken) in text


def test_extra_tensor_is_named(broken):
    edit_tensors(
        broken, lambda t: t.update({"transformer.h.0.attn.rotary.weight": np.zeros(4, np.float32)})
    )
    assert "h.0.attn.rotary.weight" in load_error(broken)


def test_wrong_shape_is_named_with_both_shapes(broken):
    def widen(t):
        t["transformer.h.0.mlp.c_fc.weight"] = np.zeros((64, 200), np.float32)

    edit_tensors(broken, widen)
    text = load_error(broken)
    assert "h.0.mlp.c_fc.weight" in text and "200" in text


def test_truncated_safetensors_is_a_message_not_a_crash(broken):
    file = broken / "model.safetensors"
    with open(file, "r+b") as f:
        f.truncate(os.path.getsize(file) // 2)
    text = load_error(broken)
    assert "model.safetensors" in text and "truncated" in text


def test_unknown_activation_names_the_field(broken):
    config = json.loads((broken / "config.json").read_text())
    config["activation_function"] = "mish_custom"
    (broken / "config.json").write_text(json.dumps(config))
    text = load_error(broken)
    assert "activation_function" in text and "config.json" in text


def test_cross_attention_is_refused(broken):
    config = json.loads((broken / "config.json").read_text())
    config["add_cross_attention"] = True
    (broken / "config.json").write_text(json.dumps(config))
    assert "add_cross_attention" in load_error(broken)
