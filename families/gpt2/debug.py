"""GPT-2's hooks for `python -m tooling.bringup diff-layers` (docs/BRINGUP.md).

Both residual branches of a block end in a `c_proj`; with those zeroed the block adds nothing
and passes its input through, so a checkpoint with blocks k.. zeroed computes, through `ln_f`
and the head, block k-1's output on the very graph that serves the full model.
"""

# Checkpoint tensors (names after the table's prefix stripping) that make block `layer` an
# identity when zeroed.
IDENTITY_BLOCK_TENSORS = (
    "h.{layer}.attn.c_proj.weight",
    "h.{layer}.attn.c_proj.bias",
    "h.{layer}.mlp.c_proj.weight",
    "h.{layer}.mlp.c_proj.bias",
)
# The Hugging Face model's block list, for forward hooks.
HF_BLOCKS = "transformer.h"
