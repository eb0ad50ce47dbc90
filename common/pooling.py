"""Sentence embeddings as sentence-transformers defines them: which pooling a checkpoint asks
for, that pooling as MAX graph ops, and a numpy reference of the same arithmetic for tests.

sentence-transformers describes a model as a list of modules (`modules.json`): a Transformer
(`sentence_bert_config.json`), a Pooling (`<path>/config.json`, e.g. `1_Pooling/config.json`)
and, often, a Normalize (L2, eps 1e-12). A checkpoint without `modules.json` gets mean pooling
without normalization, which is what sentence-transformers builds for a plain transformers model.

Token masks are [batch, seq] with 1 for a real token and 0 for padding; padding is never pooled.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from common.config import ConfigError

# Modes this module implements, under sentence-transformers' own names.
POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens")
# Legacy boolean keys of a Pooling config, in sentence-transformers' concatenation order.
LEGACY_MODE_KEYS = MappingProxyType(
    {
        "pooling_mode_cls_token": "cls",
        "pooling_mode_max_tokens": "max",
        "pooling_mode_mean_tokens": "mean",
        "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
        "pooling_mode_weightedmean_tokens": "weightedmean",
        "pooling_mode_lasttoken": "lasttoken",
    }
)
SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")
# torch.nn.functional.normalize's default: x / max(||x||, eps).
NORMALIZE_EPS = 1e-12
# sentence-transformers clamps the token count of a mean at this.
MIN_TOKEN_COUNT = 1e-9


@dataclass(frozen=True)
class PoolingSpec:
    """How token vectors become one sentence vector; modes are concatenated in order."""

    modes: tuple[str, ...] = ("mean",)
    normalize: bool = False
    # sentence-transformers truncates inputs to this many tokens (None: the model's limit).
    max_seq_length: int | None = None
    source: str = "default (no modules.json): mean pooling, not normalized"

    def __post_init__(self) -> None:
        unknown = [m for m in self.modes if m not in POOLING_MODES]
        if not self.modes or unknown:
            raise ValueError(
                f"pooling modes: expected one or more of {', '.join(POOLING_MODES)}, "
                f"found {list(self.modes)}"
            )

    def output_width(self, hidden_size: int) -> int:
        return len(self.modes) * hidden_size


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(str(file), [f"cannot read as JSON: {exc}"]) from exc


def _pooling_modes(config: dict[str, Any], file: Path, problems: list[str]) -> tuple[str, ...]:
    """Modes of a Pooling config, new (`pooling_mode`) or legacy (`pooling_mode_*` booleans)."""
    if "pooling_mode" in config:
        raw = config["pooling_mode"]
        modes = (raw,) if isinstance(raw, str) else tuple(raw)
    else:
        modes = tuple(mode for key, mode in LEGACY_MODE_KEYS.items() if config.get(key))
        modes = modes or ("mean",)  # sentence-transformers' own fallback
    unsupported = [m for m in modes if m not in POOLING_MODES]
    if unsupported:
        problems.append(
            f"{file}: pooling mode(s) {unsupported} not implemented; "
            f"supported: {', '.join(POOLING_MODES)}"
        )
    if config.get("include_prompt", True) is not True:
        problems.append(f"{file}: include_prompt=false (prompt tokens left out) not implemented")
    return tuple(m for m in modes if m in POOLING_MODES)


def read_pooling_spec(model_dir: str | os.PathLike[str]) -> PoolingSpec:
    """The pooling a checkpoint directory's sentence-transformers files describe.

    Raises ConfigError listing every module or setting whose output this pooling would not
    reproduce (a Dense layer, weighted-mean pooling, lower-casing the input, a default prompt).
    """
    root = Path(model_dir)
    modules_file = root / "modules.json"
    if not modules_file.is_file():
        return PoolingSpec()
    modules = _read_json(modules_file)
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise ConfigError(str(modules_file), ["expected a JSON list of module objects"])

    problems: list[str] = []
    kinds: list[str] = []
    modes: tuple[str, ...] = ()
    normalize = False
    max_seq_length: int | None = None
    for module in sorted(modules, key=lambda m: m.get("idx", 0)):
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        folder = root / str(module.get("path", ""))
        kinds.append(kind)
        if kind == "Transformer":
            bert_config = folder / "sentence_bert_config.json"
            settings = _read_json(bert_config) if bert_config.is_file() else {}
            max_seq_length = settings.get("max_seq_length")
            if settings.get("do_lower_case"):
                problems.append(
                    f"{bert_config}: do_lower_case=true (sentence-transformers lower-cases the "
                    "text before its tokenizer) not implemented"
                )
        elif kind == "Pooling":
            pooling_config = folder / "config.json"
            if not pooling_config.is_file():
                problems.append(f"{pooling_config}: missing (the Pooling module's settings)")
                continue
            modes = _pooling_modes(_read_json(pooling_config), pooling_config, problems)
        elif kind == "Normalize":
            settings_file = folder / "config.json"
            settings = _read_json(settings_file) if settings_file.is_file() else {}
            if settings.get("module_input_name", "sentence_embedding") != "sentence_embedding":
                problems.append(f"{settings_file}: Normalize of token embeddings not implemented")
            normalize = True
        else:
            problems.append(
                f"module {module.get('name')!r} of type {module.get('type')!r} not implemented; "
                f"supported: {', '.join(SUPPORTED_MODULES)}"
            )

    expected_order = [k for k in SUPPORTED_MODULES if k in kinds]
    if kinds[:1] != ["Transformer"] or "Pooling" not in kinds:
        problems.append(f"expected Transformer, Pooling[, Normalize]; found {kinds}")
    elif [k for k in kinds if k in SUPPORTED_MODULES] != expected_order:
        problems.append(f"expected modules in the order {expected_order}; found {kinds}")

    st_config = root / "config_sentence_transformers.json"
    if st_config.is_file() and _read_json(st_config).get("default_prompt_name"):
        problems.append(
            f"{st_config}: default_prompt_name is set (sentence-transformers prepends a prompt "
            "by default) not implemented"
        )
    if problems:
        raise ConfigError(str(modules_file), problems)
    steps = "+".join(modes) + (", normalized" if normalize else ", not normalized")
    return PoolingSpec(
        modes=modes,
        normalize=normalize,
        max_seq_length=max_seq_length if isinstance(max_seq_length, int) else None,
        source=f"{modules_file}: {steps}",
    )


# --- in a MAX graph -----------------------------------------------------------------------------


def pool_graph(hidden: Any, mask: Any, spec: PoolingSpec) -> Any:
    """MAX graph ops: [batch, seq, hidden] token vectors and [batch, seq] 0/1 mask ->
    [batch, len(modes) * hidden] sentence vectors (right padding: token 0 is real)."""
    from max.dtype import DType
    from max.graph import ops

    mask3 = ops.unsqueeze(ops.cast(mask, hidden.dtype), -1)  # [batch, seq, 1]
    pooled = []
    for mode in spec.modes:
        if mode == "cls":
            pooled.append(hidden[:, 0, :])
        elif mode == "max":
            lowest = ops.constant(float("-inf"), hidden.dtype, device=hidden.device)
            masked = ops.where(ops.cast(mask3, DType.bool), hidden, lowest)
            pooled.append(ops.squeeze(ops.max(masked, axis=1), 1))
        else:
            total = ops.squeeze(ops.sum(hidden * mask3, axis=1), 1)  # [batch, hidden]
            count = ops.max(ops.squeeze(ops.sum(mask3, axis=1), 1), MIN_TOKEN_COUNT)
            pooled.append(total / (count if mode == "mean" else ops.sqrt(count)))
    out = pooled[0] if len(pooled) == 1 else ops.concat(pooled, axis=-1)
    if spec.normalize:
        norm = ops.sqrt(ops.sum(out * out, axis=-1))
        out = out / ops.max(norm, NORMALIZE_EPS)
    return out


# --- numpy reference ----------------------------------------------------------------------------


def pool_numpy(hidden: np.ndarray, mask: np.ndarray, spec: PoolingSpec) -> np.ndarray:
    """sentence-transformers' Pooling (+ Normalize) in float64 numpy, for tests."""
    h = np.asarray(hidden, dtype=np.float64)
    m = np.asarray(mask, dtype=np.float64)[..., None]
    pooled: list[np.ndarray] = []
    for mode in spec.modes:
        if mode == "cls":
            first = np.argmax(m[..., 0], axis=1)
            pooled.append(h[np.arange(h.shape[0]), first])
        elif mode == "max":
            pooled.append(np.where(m > 0, h, -np.inf).max(axis=1))
        else:
            count = np.maximum(m.sum(axis=1), MIN_TOKEN_COUNT)
            pooled.append((h * m).sum(axis=1) / (count if mode == "mean" else np.sqrt(count)))
    out = np.concatenate(pooled, axis=-1)
    if spec.normalize:
        out = out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), NORMALIZE_EPS)
    return out


def write_pooling_files(
    model_dir: str | os.PathLike[str],
    modes: Sequence[str],
    *,
    normalize: bool,
    hidden_size: int,
    max_seq_length: int | None = None,
) -> Path:
    """Writes the sentence-transformers files for `modes` (+ Normalize) beside a checkpoint."""
    root = Path(model_dir)
    kinds = [("", "Transformer"), ("1_Pooling", "Pooling")]
    if normalize:
        kinds.append(("2_Normalize", "Normalize"))
    modules = [
        {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
        for i, (path, kind) in enumerate(kinds)
    ]
    (root / "modules.json").write_text(json.dumps(modules, indent=2) + "\n", encoding="utf-8")
    (root / "1_Pooling").mkdir(exist_ok=True)
    pooling = {
        "embedding_dimension": hidden_size,
        "pooling_mode": list(modes),
        "include_prompt": True,
    }
    (root / "1_Pooling" / "config.json").write_text(json.dumps(pooling, indent=2) + "\n")
    bert_config = {"max_seq_length": max_seq_length, "do_lower_case": False}
    (root / "sentence_bert_config.json").write_text(json.dumps(bert_config, indent=2) + "\n")
    return root
