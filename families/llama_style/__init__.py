"""Rotary decoders MAX 26.7 lacks: `--custom-architectures families.llama_style`.

Only architectures verified against Hugging Face are registered (see docs/LLAMA_STYLE.md).
"""

from .gemma.arch import gemma_arch
from .gpt_neox.arch import gpt_neox_arch
from .phi.arch import phi_arch
from .stablelm.arch import stablelm_arch
from .starcoder2.arch import starcoder2_arch

ARCHITECTURES = [gpt_neox_arch, phi_arch, gemma_arch, stablelm_arch, starcoder2_arch]

__all__ = [
    "ARCHITECTURES",
    "gemma_arch",
    "gpt_neox_arch",
    "phi_arch",
    "stablelm_arch",
    "starcoder2_arch",
]
