"""Validate checkpoint files before MAX maps them, so a bad download fails with a clear message.

MAX memory-maps safetensors and trusts the header; a truncated or corrupt file then fails deep in
graph compilation or, worse, reads garbage. These checks read only the header and the file size.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from common.config import ConfigError, load_config_json

# safetensors dtype -> (bits per element, name as numpy / MAX DType print it)
SAFETENSORS_DTYPES: Mapping[str, tuple[int, str]] = MappingProxyType(
    {
        "BOOL": (8, "bool"),
        "U8": (8, "uint8"),
        "I8": (8, "int8"),
        "U16": (16, "uint16"),
        "I16": (16, "int16"),
        "U32": (32, "uint32"),
        "I32": (32, "int32"),
        "U64": (64, "uint64"),
        "I64": (64, "int64"),
        "F16": (16, "float16"),
        "BF16": (16, "bfloat16"),
        "F32": (32, "float32"),
        "F64": (64, "float64"),
        "C64": (64, "complex64"),
        "F8_E4M3": (8, "float8_e4m3fn"),
        "F8_E5M2": (8, "float8_e5m2"),
        "F8_E8M0": (8, "float8_e8m0fnu"),
        "F6_E2M3": (6, "float6_e2m3fn"),
        "F6_E3M2": (6, "float6_e3m2fn"),
        "F4": (4, "float4_e2m1fn"),
    }
)

# The safetensors format itself refuses headers above 100 MB; larger means a corrupt length.
MAX_HEADER_BYTES = 100_000_000
INDEX_FILE = "model.safetensors.index.json"
# Any one of these sets of files lets a tokenizer load.
TOKENIZER_FILE_SETS: tuple[tuple[str, ...], ...] = (
    ("tokenizer.json",),
    ("vocab.json", "merges.txt"),
    ("vocab.txt",),
    ("tokenizer.model",),
)
_MAX_LISTED = 20


class CheckpointError(ValueError):
    """A checkpoint file or directory that MAX should not be handed; names path and problems."""

    def __init__(self, path: str | os.PathLike[str], problems: Sequence[str] | None = None) -> None:
        # CheckpointError("path: message") is accepted too: the one string is the whole report.
        self.path = str(path) if problems is not None else ""
        self.problems = list(problems) if problems is not None else [str(path)]
        super().__init__(self.report())

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.problems))

    def report(self) -> str:
        prefix = f"{self.path}: " if self.path else ""
        if len(self.problems) == 1:
            return f"{prefix}{self.problems[0]}"
        shown = self.problems[:_MAX_LISTED]
        lines = [f"{prefix}{len(self.problems)} problems"]
        lines.extend(f"  - {p}" for p in shown)
        if len(self.problems) > len(shown):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more")
        return "\n".join(lines)


def _read_header(file: Path) -> tuple[dict[str, Any], int, int]:
    """(header JSON, header length, data bytes available); raises CheckpointError."""
    try:
        size = file.stat().st_size
    except OSError as exc:
        raise CheckpointError(file, [f"cannot read file: {exc.strerror or exc}"]) from exc
    if size < 8:
        raise CheckpointError(
            file, [f"file is {size} bytes, expected at least the 8-byte header length"]
        )
    with file.open("rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        if header_len > MAX_HEADER_BYTES:
            raise CheckpointError(
                file,
                [
                    f"header length field says {header_len} bytes, expected at most "
                    f"{MAX_HEADER_BYTES} (not a safetensors file, or corrupt)"
                ],
            )
        if 8 + header_len > size:
            raise CheckpointError(
                file,
                [
                    f"header length field says {header_len} bytes but the file has only "
                    f"{size - 8} bytes after it (truncated or not safetensors)"
                ],
            )
        raw = fh.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(file, [f"header is not valid UTF-8 JSON: {exc}"]) from exc
    if not isinstance(header, dict):
        raise CheckpointError(
            file, [f"header must be a JSON object, found {type(header).__name__}"]
        )
    return header, header_len, size - 8 - header_len


def _check_entry(name: str, entry: Any) -> tuple[tuple[int, ...], str, int, int] | str:
    """(shape, dtype name, begin, end) or a problem string for one header entry."""
    if not isinstance(entry, dict):
        return f"tensor {name!r}: entry must be an object, found {type(entry).__name__}"
    dtype = entry.get("dtype")
    if dtype not in SAFETENSORS_DTYPES:
        return (
            f"tensor {name!r}: unknown dtype {dtype!r}, expected one of "
            f"{', '.join(SAFETENSORS_DTYPES)}"
        )
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        return f"tensor {name!r}: shape must be a list of non-negative ints, found {shape!r}"
    offsets = entry.get("data_offsets")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        return (
            f"tensor {name!r}: data_offsets must be [begin, end] with 0 <= begin <= end, "
            f"found {offsets!r}"
        )
    bits, dtype_name = SAFETENSORS_DTYPES[dtype]
    total_bits = math.prod(shape) * bits
    begin, end = offsets
    if total_bits % 8 or end - begin != total_bits // 8:
        return (
            f"tensor {name!r}: {dtype} shape {shape} needs {total_bits / 8:g} bytes, "
            f"data_offsets {offsets} span {end - begin}"
        )
    return tuple(shape), dtype_name, begin, end


def check_safetensors(path: str | os.PathLike[str]) -> dict[str, tuple[tuple[int, ...], str]]:
    """tensor name -> (shape, dtype name such as "float32"); CheckpointError for a bad file."""
    file = Path(path)
    header, _, data_bytes = _read_header(file)
    problems: list[str] = []
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (
        isinstance(metadata, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        problems.append(f"__metadata__ must map strings to strings, found {metadata!r}")

    tensors: dict[str, tuple[tuple[int, ...], str]] = {}
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        checked = _check_entry(name, entry)
        if isinstance(checked, str):
            problems.append(checked)
            continue
        shape, dtype_name, begin, end = checked
        if end > data_bytes:
            problems.append(
                f"tensor {name!r}: data ends at byte {end} of the data section, which has only "
                f"{data_bytes} bytes (file truncated)"
            )
        tensors[name] = (shape, dtype_name)
        spans.append((begin, end, name))

    # safetensors itself rejects overlaps and holes; catching them here names the tensor.
    spans.sort()
    cursor, previous = 0, "start of data"
    for begin, end, name in spans:
        if begin < cursor:
            problems.append(f"tensor {name!r}: data_offsets overlap {previous!r}")
        elif begin > cursor:
            problems.append(f"tensor {name!r}: {begin - cursor} unclaimed bytes before it")
        cursor, previous = max(cursor, end), name
    if not problems and cursor != data_bytes:
        problems.append(
            f"data section is {data_bytes} bytes but tensors cover {cursor} "
            "(trailing bytes; file corrupt)"
        )
    if problems:
        raise CheckpointError(file, problems)
    return tensors


def safetensors_files(directory: str | os.PathLike[str]) -> list[Path]:
    """Weight files of a checkpoint dir: the index's shards if there is one, else *.safetensors."""
    root = Path(directory)
    index = root / INDEX_FILE
    if index.is_file():
        return sorted({root / shard for shard in _read_index(index).values()})
    return sorted(root.glob("*.safetensors"))


def _read_index(index: Path) -> dict[str, str]:
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(index, [f"not valid JSON: {exc}"]) from exc
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise CheckpointError(index, ["expected a 'weight_map' object of tensor -> shard file"])
    return weight_map


def _tokenizer_present(root: Path) -> bool:
    return any(all((root / f).is_file() for f in files) for files in TOKENIZER_FILE_SETS)


def _missing_tokenizer() -> str:
    options = " or ".join("+".join(files) for files in TOKENIZER_FILE_SETS)
    return f"no tokenizer files: expected {options}"


def check_tokenizer_files(path: str | os.PathLike[str]) -> None:
    """For a local checkpoint directory, refuse one without tokenizer files.

    Hugging Face would otherwise build a one-token tokenizer from `tokenizer_config.json`
    alone, and `max serve` would start and answer every text prompt with an empty encoding.
    A hub id (not a local directory) is left to Hugging Face.
    """
    root = Path(path)
    if root.is_dir() and not _tokenizer_present(root):
        raise CheckpointError(root, [_missing_tokenizer()])


def _check_weights(root: Path, problems: list[str]) -> None:
    index = root / INDEX_FILE
    if index.is_file():
        try:
            weight_map = _read_index(index)
        except CheckpointError as exc:
            problems.append(f"{INDEX_FILE}: {'; '.join(exc.problems)}")
            return
        shards = sorted(set(weight_map.values()))
        absent = [s for s in shards if not (root / s).is_file()]
        if absent:
            problems.append(f"{INDEX_FILE} names missing shard(s): {', '.join(absent)}")
        found: dict[str, dict[str, Any]] = {}
        for shard in shards:
            if shard not in absent:
                found[shard] = _check_file(root / shard, problems)
        for tensor, shard in weight_map.items():
            if shard in found and found[shard] and tensor not in found[shard]:
                problems.append(f"{INDEX_FILE}: tensor {tensor!r} is not in shard {shard}")
        return
    files = sorted(root.glob("*.safetensors"))
    if not files:
        problems.append(f"no *.safetensors weights and no {INDEX_FILE}")
    for file in files:
        _check_file(file, problems)


def _check_file(file: Path, problems: list[str]) -> dict[str, Any]:
    try:
        return check_safetensors(file)
    except CheckpointError as exc:
        problems.extend(f"{file.name}: {p}" for p in exc.problems)
        return {}


def check_checkpoint_dir(path: str | os.PathLike[str], *, need_tokenizer: bool = True) -> None:
    """Raise one CheckpointError listing everything a checkpoint dir lacks or has corrupt."""
    root = Path(path)
    if not root.is_dir():
        raise CheckpointError(root, ["not a directory"])
    problems: list[str] = []
    try:
        load_config_json(root)
    except ConfigError as exc:
        problems.append(f"config.json: {'; '.join(exc.problems)}")
    _check_weights(root, problems)
    if need_tokenizer and not _tokenizer_present(root):
        problems.append(_missing_tokenizer())
    if problems:
        raise CheckpointError(root, problems)
