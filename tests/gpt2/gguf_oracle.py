"""Hugging Face's GPT-2 on a GGUF file, as the oracle for MAX on the same file.

`transformers` dequantizes every tensor to float32 (`from_pretrained(dir, gguf_file=...)`), so
its logits are those of the dequantized weights in float32 arithmetic. MAX's CPU quantized
matmuls (like llama.cpp's) also round the activations to 8 bits before multiplying: per block
of 32 values (Q8_0) against a Q4_0 weight, per block of 256 (Q8_K) against Q4_K and Q6_K.
`round_activations_like_llama_cpp` adds that rounding in front of each layer whose weight the
file quantizes, which is what MAX computes up to float32 summation order.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import gguf
import torch
from transformers import AutoConfig, AutoModelForCausalLM
from transformers.pytorch_utils import Conv1D

from families.gpt2.weight_adapters import GPT2_GGUF_TABLE

GGMLType = gguf.GGMLQuantizationType


def hf_gguf_model(directory: Path, file: str) -> torch.nn.Module:
    """Hugging Face's GPT-2 from the GGUF file, weights dequantized to float32.

    config.json is passed explicitly: transformers' GGUF reader maps `gpt2.context_length`
    to `n_ctx` but leaves `n_positions` at 1024, so a file with fewer positions would not load.
    """
    config = AutoConfig.from_pretrained(directory)
    return AutoModelForCausalLM.from_pretrained(directory, gguf_file=file, config=config).eval()


def quantize_q8_0(x: torch.Tensor) -> torch.Tensor:
    """llama.cpp's `quantize_row_q8_0_ref`, dequantized: blocks of 32, d = max|x| / 127."""
    blocks = x.reshape(-1, 32)
    d = blocks.abs().amax(-1, keepdim=True) / 127.0
    inv = torch.where(d > 0, 1.0 / d, torch.zeros_like(d))
    return (torch.round(blocks * inv) * d).reshape(x.shape)


def quantize_q8_k(x: torch.Tensor) -> torch.Tensor:
    """llama.cpp's `quantize_row_q8_K_ref`, dequantized: blocks of 256, scaled by the signed
    value of largest magnitude (iscale = -127 / max)."""
    blocks = x.reshape(-1, 256)
    peak = blocks.gather(-1, blocks.abs().argmax(-1, keepdim=True))
    iscale = torch.where(peak != 0, -127.0 / peak, torch.zeros_like(peak))
    q = torch.round(iscale * blocks).clamp(max=127)
    scale = torch.where(iscale != 0, 1.0 / iscale, torch.zeros_like(iscale))
    return (q * scale).reshape(x.shape)


ACTIVATION_ROUNDING = {
    GGMLType.Q4_0: quantize_q8_0,
    GGMLType.Q4_K: quantize_q8_k,
    GGMLType.Q6_K: quantize_q8_k,
}


def tensor_types(path: Path) -> dict[str, GGMLType]:
    return {t.name: GGMLType(t.tensor_type) for t in gguf.GGUFReader(path).tensors}


def round_activations_like_llama_cpp(model: torch.nn.Module, path: Path) -> list[str]:
    """Rounds the input of every layer whose weight `path` quantizes; returns those layers."""
    types = tensor_types(path)
    hooked = []
    for name, module in model.named_modules():
        if not isinstance(module, (Conv1D, torch.nn.Linear)):
            continue
        graph_name = name.removeprefix("transformer.") + ".weight"
        tensor = GPT2_GGUF_TABLE.checkpoint_name(graph_name)
        if tensor not in types and graph_name == "lm_head.weight":
            tensor = "token_embd.weight"  # a tied head multiplies by the embedding
        rounding = ACTIVATION_ROUNDING.get(types.get(tensor))
        if rounding is None:
            continue
        module.register_forward_pre_hook(lambda _m, args, f=rounding: (f(args[0]),))
        hooked.append(name)
    return hooked


def swap_tensors(source: Path, target: Path, first: str, second: str) -> Path:
    """A copy of `source` with two same-typed, same-shaped tensors' data exchanged."""
    tensors = {t.name: t for t in gguf.GGUFReader(source).tensors}
    a, b = tensors[first], tensors[second]
    if a.tensor_type != b.tensor_type or a.n_bytes != b.n_bytes:
        raise ValueError(f"{first} and {second} differ in type or size")
    shutil.copy(source, target)
    with open(target, "r+b") as f:
        for dst, src in ((a, b), (b, a)):
            f.seek(dst.data_offset)
            f.write(src.data.tobytes())
    return target
