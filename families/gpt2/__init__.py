"""GPT-2 (`GPT2LMHeadModel`) for MAX: `--custom-architectures families.gpt2`."""

from .arch import gpt2_arch

ARCHITECTURES = [gpt2_arch]

__all__ = ["ARCHITECTURES", "gpt2_arch"]
