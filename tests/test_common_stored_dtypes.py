"""Checkpoints stored in float16 or bfloat16 for a float32 graph, without compiling: MAX's weight
discovery widened by `common.weight_discovery`, bfloat16 kept through the mapping tables next to
non-float buffers, and the one log line of the load-time cast (tests/*/test_user_checkpoints.py
serve such checkpoints end to end)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from max.dtype import DType
from max.graph.weights import SafetensorWeights, WeightData, WeightsFormat
from max.pipelines.lib.config import model_config
from max.pipelines.weights.hf_utils import HuggingFaceRepo

import families  # noqa: F401  (installs the widened discovery)
from common.max_weights import adapt_checkpoint, log_load_cast
from families.gpt2.weight_adapters import GPT2_TABLE

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")


def save(directory: Path, tensors: dict, name: str = "model.safetensors") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    safetensors_torch.save_file(tensors, str(directory / name), metadata={"format": "pt"})
    return directory


def discover(directory: Path, encoding: str = "float32") -> list[Path]:
    return model_config._discover_default_weight_paths(
        HuggingFaceRepo(str(directory)), encoding, None, WeightsFormat.safetensors
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_files_are_found_for_a_float32_graph(tmp_path, dtype):
    path = save(tmp_path, {"w": torch.ones(2, 2, dtype=dtype)})
    assert discover(path) == [Path("model.safetensors")]
    # MAX's own discovery, which the families' import wraps, finds nothing.
    assert model_config._discover_default_weight_paths.__wrapped__(
        HuggingFaceRepo(str(path)), "float32", None, WeightsFormat.safetensors
    ) == []


def test_files_with_a_non_float_encoding_are_left_to_max(tmp_path):
    path = save(tmp_path, {"w": torch.ones(2, 2, dtype=torch.float16),
                           "q": torch.ones(4, dtype=torch.uint8)})
    assert discover(path) == []


def test_a_quantized_graph_is_left_to_max(tmp_path):
    assert discover(save(tmp_path, {"w": torch.ones(2, 2, dtype=torch.float16)}), "q4_k") == []


def test_bfloat16_survives_the_table_beside_bool_mask_buffers(tmp_path):
    # The hub's GPT-2 layout: bare names, `attn.bias` masks (bool) sorting before the weights.
    hidden = 8
    tensors = {
        "h.0.attn.bias": torch.ones(1, 1, 4, 4, dtype=torch.bool),
        "h.0.attn.c_attn.weight": torch.randn(hidden, 3 * hidden).to(torch.bfloat16),
        "h.0.ln_1.weight": torch.randn(hidden).to(torch.bfloat16),
        "wte.weight": torch.randn(16, hidden).to(torch.bfloat16),
    }
    path = save(tmp_path, tensors)
    weights = SafetensorWeights([path / "model.safetensors"])
    mapped = adapt_checkpoint(dict(weights.items()), GPT2_TABLE)
    assert {name: w.dtype for name, w in mapped.items()} == {
        "h.0.attn.c_attn.weight": DType.bfloat16,
        "h.0.ln_1.weight": DType.bfloat16,
        "wte.weight": DType.bfloat16,
    }
    # Conv1D [in, out] transposed to [out, in], bit for bit.
    got = torch.from_dlpack(mapped["h.0.attn.c_attn.weight"].astype(DType.float32).data)
    assert torch.equal(got, tensors["h.0.attn.c_attn.weight"].float().T)


def weight(dtype: DType) -> WeightData:
    import numpy as np

    return WeightData.from_numpy(np.zeros(2, np.float32), "w").astype(dtype)


def test_one_log_line_names_the_files_and_both_dtypes(caplog):
    caplog.set_level(logging.INFO)
    shards = [Path(f"model-0000{i}-of-00003.safetensors") for i in (2, 1, 3)]
    log_load_cast(shards, [weight(DType.float16)] * 5, DType.float32)
    log_load_cast([Path("model.safetensors")], [weight(DType.bfloat16)], DType.float32)
    log_load_cast([Path("model.safetensors")], [weight(DType.float32)], DType.float32)
    assert [r.getMessage() for r in caplog.records] == [
        "model-00001-of-00003.safetensors and 2 more shards store float16; "
        "casting to float32 at load",
        "model.safetensors stores bfloat16; casting to float32 at load",
    ]
    # Under max.pipelines: MAX's console handler prints no other project logger.
    assert all(r.name.startswith("max.pipelines.") for r in caplog.records)
