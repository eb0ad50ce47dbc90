"""Rotary decoders MAX 26.7 lacks: `--custom-architectures families.llama_style`.

One graph (layers.py) serves every architecture; each architecture's file holds its config
translation, the `Layout` that says what its graph does differently, its mapping table and
its registration. Only architectures verified against Hugging Face are registered (see
docs/LLAMA_STYLE.md).
"""

from .gemma import gemma_arch
from .gpt_neox import gpt_neox_arch
from .phi import phi_arch
from .stablelm import stablelm_arch
from .starcoder2 import starcoder2_arch

ARCHITECTURES = [gpt_neox_arch, phi_arch, gemma_arch, stablelm_arch, starcoder2_arch]
