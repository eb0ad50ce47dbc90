"""Declarative translation of a Hugging Face config into a family's own field names.

A family lists `Field`s (our name, the HF keys that may carry it, HF's default, or how to derive
it) and `Refusal`s (HF settings we do not implement). `translate_config` reads them all and raises
one `ConfigError` listing every problem, so a user sees the whole gap in one run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Sentinel: the field has no Hugging Face default and must come from the config or `derive`.
REQUIRED: Any = object()
_ABSENT: Any = object()

# Aliases Hugging Face families use for the same quantity, tried in this order.
HIDDEN = ("n_embd", "hidden_size", "d_model", "dim")
HEADS = ("n_head", "num_attention_heads", "n_heads")
LAYERS = ("n_layer", "num_hidden_layers", "n_layers")
POSITIONS = ("n_positions", "max_position_embeddings")
NORM_EPS = ("layer_norm_epsilon", "layer_norm_eps", "rms_norm_eps")
KV_HEADS = ("num_key_value_heads", "n_kv_heads", "num_kv_heads")
VOCAB = ("vocab_size",)
INTERMEDIATE = ("n_inner", "intermediate_size", "ffn_dim", "hidden_dim")
HEAD_DIM = ("head_dim",)
# transformers 5 keeps rope settings under rope_parameters; older config.json files at top level.
ROPE_THETA = ("rope_parameters.rope_theta", "rope_theta")


@dataclass(frozen=True)
class Field:
    """One field of our config and where Hugging Face keeps it."""

    name: str
    sources: tuple[str, ...] = ()
    default: Any = REQUIRED
    derive: Callable[[dict[str, Any]], Any] | None = None
    type: type | None = None


def size_fields(
    *, vocab_size: int, max_positions: int, hidden_size: int, num_layers: int, num_heads: int
) -> tuple[Field, ...]:
    """The sizes every decoder reads, under any of their Hugging Face names, with the
    architecture's Hugging Face defaults."""
    return (
        Field("vocab_size", VOCAB, default=vocab_size, type=int),
        Field("max_positions", POSITIONS, default=max_positions, type=int),
        Field("hidden_size", HIDDEN, default=hidden_size, type=int),
        Field("num_layers", LAYERS, default=num_layers, type=int),
        Field("num_heads", HEADS, default=num_heads, type=int),
    )


@dataclass(frozen=True)
class Refusal:
    """A Hugging Face setting we do not implement; `allowed` sees None when the key is absent."""

    key: str
    allowed: Callable[[Any], bool]
    reason: str


def is_false(value: object) -> bool:
    """`Refusal.allowed` for a flag we implement only off (absent counts as off)."""
    return not value


class ConfigError(ValueError):
    """Every problem found in one config, reported together."""

    def __init__(self, source: str, problems: Sequence[str] | None = None) -> None:
        # ConfigError("path: message") is accepted too: the one string is the whole report.
        self.source = source if problems is not None else ""
        self.problems = list(problems) if problems is not None else [source]
        super().__init__(self.report())

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.source, self.problems))

    def report(self) -> str:
        prefix = f"{self.source}: " if self.source else ""
        if len(self.problems) == 1:
            return f"{prefix}{self.problems[0]}"
        lines = [f"{prefix}{len(self.problems)} problems"]
        lines.extend(f"  - {p}" for p in self.problems)
        return "\n".join(lines)


class _ConfigView:
    """Key lookup over a dict or a PretrainedConfig (attribute_map aliases live in getattr)."""

    def __init__(self, hf_config: Mapping[str, Any] | Any) -> None:
        if isinstance(hf_config, Mapping):
            self._data: Mapping[str, Any] = hf_config
            self._obj: Any = None
        elif hasattr(hf_config, "to_dict"):
            self._data = hf_config.to_dict()
            self._obj = hf_config
        else:
            raise TypeError(
                f"expected a config dict or a transformers PretrainedConfig, "
                f"found {type(hf_config).__name__}"
            )

    def get(self, key: str) -> Any:
        """The value under `key` (dotted keys walk nested dicts), or _ABSENT."""
        if key in self._data:
            return self._data[key]
        if self._obj is not None:
            try:
                return getattr(self._obj, key)
            except AttributeError:
                pass
        if "." in key:
            head, _, rest = key.partition(".")
            node = self.get(head)
            for part in rest.split("."):
                if not isinstance(node, Mapping) or part not in node:
                    return _ABSENT
                node = node[part]
            return node
        return _ABSENT


def _check_type(value: Any, expected: type) -> tuple[bool, Any]:
    """(ok, value); ints are widened to float, bools never pass as numbers."""
    if expected is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        return False, value
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    return isinstance(value, expected), value


def _describe_value(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _translate_field(
    spec: Field, view: _ConfigView, out: dict[str, Any], failed: set[str], problems: list[str]
) -> None:
    key_used: str | None = None
    value: Any = _ABSENT
    null_keys: list[str] = []
    for key in spec.sources:
        found = view.get(key)
        if found is _ABSENT:
            continue
        if found is None:
            # null means "use the default" in HF configs; keep looking at other aliases.
            null_keys.append(key)
            continue
        key_used, value = key, found
        break

    if value is _ABSENT and spec.derive is not None:
        try:
            derived = spec.derive(dict(out))
        except KeyError as exc:
            if exc.args and exc.args[0] in failed:
                failed.add(spec.name)  # its input already failed and was reported
                return
            problems.append(f"field {spec.name!r}: cannot derive, needs field {exc} first")
            failed.add(spec.name)
            return
        except (ArithmeticError, TypeError, ValueError) as exc:
            problems.append(f"field {spec.name!r}: cannot derive from {out}: {exc}")
            failed.add(spec.name)
            return
        if derived is not None:
            key_used, value = "(derived)", derived

    if value is _ABSENT:
        if spec.default is REQUIRED:
            tried = ", ".join(spec.sources) or "(no keys)"
            nulls = f" ({', '.join(null_keys)} null)" if null_keys else ""
            problems.append(f"field {spec.name!r}: missing, expected one of keys [{tried}]{nulls}")
            failed.add(spec.name)
            return
        key_used, value = "(default)", spec.default

    if spec.type is not None and value is not None:
        ok, value = _check_type(value, spec.type)
        if not ok:
            problems.append(
                f"field {spec.name!r} from key {key_used!r}: expected {spec.type.__name__}, "
                f"found {_describe_value(value)}"
            )
            failed.add(spec.name)
            return
    out[spec.name] = value


def translate_config(
    hf_config: Mapping[str, Any] | Any,
    fields: Sequence[Field],
    refusals: Sequence[Refusal] = (),
    *,
    source: str = "config.json",
) -> dict[str, Any]:
    """Our field name -> value; ConfigError lists every missing/mistyped field and refusal."""
    view = _ConfigView(hf_config)
    out: dict[str, Any] = {}
    failed: set[str] = set()
    problems: list[str] = []

    for refusal in refusals:
        value = view.get(refusal.key)
        value = None if value is _ABSENT else value
        try:
            allowed = bool(refusal.allowed(value))
        except Exception as exc:  # a predicate that chokes on the value is a refusal too
            problems.append(
                f"unsupported {refusal.key}={value!r}: {refusal.reason} (check raised {exc!r})"
            )
            continue
        if not allowed:
            problems.append(f"unsupported {refusal.key}={value!r}: {refusal.reason}")

    for spec in fields:
        _translate_field(spec, view, out, failed, problems)

    if problems:
        raise ConfigError(source, problems)
    return out


# The attribute of a Hugging Face config object that keeps what was translated from it.
TRANSLATIONS_ATTRIBUTE = "_max_families_translations"


class Translations(dict):
    """What each config class translated from one Hugging Face config object, kept on it.

    MAX hands each hook (calculate_max_seq_len, initialize, construct_kv_params) the Hugging
    Face config, never an earlier hook's result, so the translation rides on that object. It
    holds plain values, so the config still prints and serializes; a copy saved and read back
    is a plain dict, not a `Translations`, and is not trusted.
    """


def translate_once(
    hf_config: Mapping[str, Any] | Any,
    owner: type,
    fields: Sequence[Field],
    refusals: Sequence[Refusal] = (),
    *,
    source: str = "config.json",
) -> dict[str, Any]:
    """`translate_config` once per Hugging Face config object and config class `owner`: later
    calls get a copy of the first result. A dict config is translated at each call."""
    if isinstance(hf_config, Mapping):
        return translate_config(hf_config, fields, refusals, source=source)
    memo = getattr(hf_config, TRANSLATIONS_ATTRIBUTE, None)
    if not isinstance(memo, Translations):
        memo = Translations()
    key = f"{owner.__module__}.{owner.__qualname__}"
    if key not in memo:
        memo[key] = translate_config(hf_config, fields, refusals, source=source)
        setattr(hf_config, TRANSLATIONS_ATTRIBUTE, memo)
    return dict(memo[key])


def kept_translation(hf_config: Any) -> dict[str, Any]:
    """The fields a load translated from this Hugging Face config object (empty when nothing,
    or more than one config class, translated it), for readers that do not know the class."""
    memo = getattr(hf_config, TRANSLATIONS_ATTRIBUTE, None)
    if not isinstance(memo, Translations) or len(memo) != 1:
        return {}
    return dict(next(iter(memo.values())))


def load_config_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """config.json as a dict; `path` is the file or the checkpoint directory holding it."""
    file = Path(path)
    if file.is_dir():
        file = file / "config.json"
    if not file.is_file():
        where = f"directory {file.parent}" if Path(path).is_dir() else "that path"
        raise ConfigError(str(file), [f"config file not found in {where}"])
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(str(file), [f"not UTF-8 text: {exc}"]) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            str(file), [f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"]
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            str(file), [f"expected a JSON object at top level, found {type(data).__name__}"]
        )
    return data
