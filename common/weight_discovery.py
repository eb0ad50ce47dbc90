"""Weight files MAX 26.7 will not pick for a float graph: a checkpoint stored in float16 or
bfloat16 (as many hub fine-tunes are) served in float32.

MAX finds a checkpoint's weight files per encoding before any family code runs
(`max.pipelines.lib.config.model_config._discover_default_weight_paths`). For a float32 graph
it takes float32 files only, so a float16 checkpoint ends in "compatible weights cannot be
found for 'float32'", and so does a bfloat16 one unless `--quantization-encoding float32` is
given (MAX then books a bfloat16 -> float32 cast; float16 is outside its castable pair). The
families cast every float tensor to the graph's dtype at load (`common.max_weights`), so those
files serve as they are: this lets discovery take them when the repo has nothing stored in the
graph's own dtype and nothing but floats. Installed when a family package is imported (MAX
imports it for `--custom-architectures` before it resolves the weights).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from max.graph.weights import WeightsFormat
from max.pipelines.lib.config import model_config

FLOAT_ENCODINGS = frozenset({"float32", "bfloat16", "float16"})
_MARK = "_reads_other_float_dtypes"


def float_files_to_cast(weight_repo: Any) -> list[Path]:
    """The repo's safetensors files when every tensor is a float (of a dtype other than the
    graph's, or discovery would have found them); else none, and MAX's refusal stands."""
    stored = set(weight_repo.supported_encodings)
    if not stored or not stored <= FLOAT_ENCODINGS:
        return []
    found = weight_repo.files_for_encoding(next(iter(stored)), WeightsFormat.safetensors)
    return list(found.get(WeightsFormat.safetensors, []))


def _or_float_files_to_cast(discover: Callable[..., list[Path]]) -> Callable[..., list[Path]]:
    @functools.wraps(discover)
    def discover_or_cast(
        weight_repo: Any,
        quantization_encoding: str,
        applied_dtype_cast_from: str | None,
        default_weights_format: WeightsFormat,
    ) -> list[Path]:
        found = discover(
            weight_repo, quantization_encoding, applied_dtype_cast_from, default_weights_format
        )
        if found or quantization_encoding not in FLOAT_ENCODINGS:
            return found
        return float_files_to_cast(weight_repo)

    setattr(discover_or_cast, _MARK, True)
    return discover_or_cast


def read_other_float_dtypes() -> None:
    """Widens MAX's weight discovery as above; idempotent."""
    current = model_config._discover_default_weight_paths
    if not getattr(current, _MARK, False):
        model_config._discover_default_weight_paths = _or_float_files_to_cast(current)
