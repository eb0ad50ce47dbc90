"""GGUF files as llama.cpp writes them: which tensor types a MAX graph runs, the checks that
refuse a file before a tensor is read, and graph weights laid out as the file stores them.

MAX 26.7 runs three GGUF block formats as quantized matmuls on the CPU (`ops.qmatmul`: Q4_0,
Q4_K, Q6_K); float tensors (F32, F16) are cast to the graph's float32. Every other type in
the file (Q8_0, Q5_K, Q2_K, IQ*, ...) is refused with the tensor's name, because MAX's GGUF
reader either raises a bare `KeyError` on it (Q8_0) or maps it to an encoding `qmatmul`
cannot run (Q5_K).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import gguf
import numpy as np
from max.dtype import DType
from max.graph import DeviceRef, Weight
from max.graph.quantization import QuantizationEncoding
from max.nn.embedding import Embedding
from max.nn.linear import Linear
from max.pipelines.lib.config.model_config import _select_quantization_encoding
from max.pipelines.modeling.config_enums import SupportedEncoding, supported_encoding_quantization

GGMLType = gguf.GGMLQuantizationType

# Block formats with a MAX CPU matmul kernel, as the graph names them.
QUANTIZED_TYPES: Mapping[GGMLType, QuantizationEncoding] = MappingProxyType(
    {
        GGMLType.Q4_0: QuantizationEncoding.Q4_0,
        GGMLType.Q4_K: QuantizationEncoding.Q4_K,
        GGMLType.Q6_K: QuantizationEncoding.Q6_K,
    }
)
_GGML_OF = MappingProxyType({encoding: ggml for ggml, encoding in QUANTIZED_TYPES.items()})
# Stored as floats and cast to the graph's float32 at load.
FLOAT_TYPES = frozenset({GGMLType.F32, GGMLType.F16})


class GGUFError(ValueError):
    """A GGUF file the graph cannot run as it stands; the message names the file and tensor."""


def gguf_files(pipeline_config: Any) -> list[Path]:
    paths = [Path(p) for p in pipeline_config.model.resolved_weight_paths()]
    return [p for p in paths if p.suffix == ".gguf"]


def read_gguf(path: Path) -> gguf.GGUFReader:
    """The file's header and tensor index (memory-mapped; no tensor data is read)."""
    try:
        return gguf.GGUFReader(path)
    except Exception as exc:  # the reader raises bare ValueError/struct errors on bad files
        raise GGUFError(f"{path}: not a readable GGUF file ({type(exc).__name__}: {exc})") from exc


def tensor_types(reader: gguf.GGUFReader) -> dict[str, GGMLType]:
    return {t.name: GGMLType(t.tensor_type) for t in reader.tensors}


def check_tensor_types(
    path: Path, types: Mapping[str, GGMLType], encoding: SupportedEncoding
) -> None:
    """Refuses tensor types the graph has no kernel for, and an `encoding` the file does not hold.

    `--quantization-encoding q4_k` asks for Q4_K matmuls, so the file must store some Q4_K
    tensor (a Q4_K_M file mixes Q4_K and Q6_K); float32 asks for a float file.
    """
    runnable = FLOAT_TYPES | set(QUANTIZED_TYPES)
    bad = [f"{name} is {t.name}" for name, t in types.items() if t not in runnable]
    if bad:
        raise GGUFError(
            f"{path}: tensor types with no MAX CPU kernel: {'; '.join(bad)} (runnable: "
            f"{', '.join(sorted(t.name for t in runnable))})"
        )
    wanted = supported_encoding_quantization(encoding)
    quantized = {name: t for name, t in types.items() if t in QUANTIZED_TYPES}
    if wanted is None and quantized:
        # Name the type most tensors have: Q4_K for a Q4_K_M file, whose head is Q6_K.
        common = Counter(quantized.values()).most_common(1)[0][0]
        name = next(n for n, t in quantized.items() if t == common)
        raise GGUFError(
            f"{path}: encoding {encoding} runs float weights, but {name} is {common.name} "
            f"({len(quantized)} quantized tensors); pass --quantization-encoding "
            f"{common.name.lower()}"
        )
    if wanted is not None and _GGML_OF[wanted] not in quantized.values():
        found = sorted({t.name for t in types.values()})
        raise GGUFError(
            f"{path}: encoding {encoding} asks for {_GGML_OF[wanted].name} matmuls, but the "
            f"file stores no {_GGML_OF[wanted].name} tensor (types: {', '.join(found)})"
        )


# MAX 26.7's `ggml_q4_0_dequantize` (what an embedding gather of Q4_0 rows runs) is wrong on
# this project's CPU: right for the first 768 rows, wrong from row 768 on, and a 64-row input
# crashed the process (docs/results/exploration/gguf-gpt2-cpu.md). Q4_K and Q6_K are exact.
GATHER_REFUSED = MappingProxyType(
    {GGMLType.Q4_0: "MAX 26.7's Q4_0 dequantize kernel gives wrong rows past 768"}
)


def check_gathered(path: Path, types: Mapping[str, GGMLType], gathered: Iterable[str]) -> None:
    """Refuses tensors read by row lookup (embeddings) in a type whose dequantize is broken."""
    bad = [
        f"{name} is {types[name].name} ({GATHER_REFUSED[types[name]]})"
        for name in gathered
        if types.get(name) in GATHER_REFUSED
    ]
    if bad:
        raise GGUFError(
            f"{path}: embedding tables in a type MAX cannot gather: {'; '.join(bad)}; "
            "quantize without --pure (llama-quantize keeps token_embd in Q6_K)"
        )


def refuse_block_encoding(pipeline_config: Any, default: SupportedEncoding) -> None:
    """A GGUF block encoding (q4_k...) asked of a float checkpoint (safetensors) is refused:
    there are no blocks to run, and a float32 graph under a q4_k label would mislead."""
    encoding = _select_quantization_encoding(pipeline_config.model, default)
    if supported_encoding_quantization(encoding) is not None:
        raise GGUFError(
            f"{pipeline_config.model.model_path}: encoding {encoding} runs GGUF block weights, "
            "but the weights are not a GGUF file; pass --weight-path FILE.gguf, or "
            "--quantization-encoding float32"
        )


def metadata_value(reader: gguf.GGUFReader, key: str) -> Any:
    """A scalar or string metadata value, or None when the file does not set `key`."""
    field = reader.get_field(key)
    if field is None:
        return None
    return field.contents()


def check_metadata(
    path: Path, reader: gguf.GGUFReader, expected: Iterable[tuple[str, Any]]
) -> None:
    """Refuses a file whose metadata disagrees with the config; every disagreement at once.

    Floats are compared at float32, the precision GGUF stores them in.
    """
    wrong = []
    for key, want in expected:
        found = metadata_value(reader, key)
        if found is None:
            wrong.append(f"{key} is missing (config says {want!r})")
            continue
        same = (
            np.float32(found) == np.float32(want) if isinstance(want, float) else found == want
        )
        if not same:
            wrong.append(f"{key} is {found!r}, config says {want!r}")
    if wrong:
        raise GGUFError(f"{path}: GGUF metadata disagrees with config.json: {'; '.join(wrong)}")


def quantized_weight(
    name: str, encoding: QuantizationEncoding, shape: tuple[int, int], device: DeviceRef
) -> Weight:
    """A [rows, cols] weight stored as `encoding` blocks: uint8 [rows, bytes per row]."""
    byte_shape = gguf.quant_shape_to_byte_shape(shape, _GGML_OF[encoding])
    return Weight(name, DType.uint8, byte_shape, device=device, quantization_encoding=encoding)


def stored_as(layer: Linear | Embedding, encoding: QuantizationEncoding | None) -> Any:
    """`layer` with its weight in the file's block format (None: the float weight it has).

    `Linear` then multiplies through `ops.qmatmul` and `Embedding` dequantizes the rows it
    gathers; a bias stays float.
    """
    if encoding is not None:
        rows, cols = (int(d) for d in layer.weight.shape)
        layer.weight = quantized_weight("weight", encoding, (rows, cols), layer.weight.device)
    return layer
