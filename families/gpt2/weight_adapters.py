"""GPT-2 checkpoint tensors to graph weights, as a table.

The graph keeps the checkpoint's names; what differs is the `transformer.` prefix of newer
saves, the Conv1D layers stored [in, out] (transposed here to MAX's [out, in]; `c_attn` stays
fused as one [3 * hidden, hidden] projection), and the causal-mask buffers that are not weights.
"""

from __future__ import annotations

from common.mapping import MappingTable, Row
from common.max_weights import TableAdapter
from common.transforms import transpose_conv1d

GPT2_TABLE = MappingTable(
    rows=(
        Row("wte.weight", "wte.weight"),
        Row("wpe.weight", "wpe.weight"),
        Row("h.{layer}.ln_1.weight", "h.{layer}.ln_1.weight"),
        Row("h.{layer}.ln_1.bias", "h.{layer}.ln_1.bias"),
        Row("h.{layer}.attn.c_attn.weight", "h.{layer}.attn.c_attn.weight", transpose_conv1d),
        Row("h.{layer}.attn.c_attn.bias", "h.{layer}.attn.c_attn.bias"),
        Row("h.{layer}.attn.c_proj.weight", "h.{layer}.attn.c_proj.weight", transpose_conv1d),
        Row("h.{layer}.attn.c_proj.bias", "h.{layer}.attn.c_proj.bias"),
        Row("h.{layer}.ln_2.weight", "h.{layer}.ln_2.weight"),
        Row("h.{layer}.ln_2.bias", "h.{layer}.ln_2.bias"),
        Row("h.{layer}.mlp.c_fc.weight", "h.{layer}.mlp.c_fc.weight", transpose_conv1d),
        Row("h.{layer}.mlp.c_fc.bias", "h.{layer}.mlp.c_fc.bias"),
        Row("h.{layer}.mlp.c_proj.weight", "h.{layer}.mlp.c_proj.weight", transpose_conv1d),
        Row("h.{layer}.mlp.c_proj.bias", "h.{layer}.mlp.c_proj.bias"),
        Row("ln_f.weight", "ln_f.weight"),
        Row("ln_f.bias", "ln_f.bias"),
        Row("lm_head.weight", "lm_head.weight"),
    ),
    strip_prefixes=("transformer.",),
    ignore=("h.{layer}.attn.bias", "h.{layer}.attn.masked_bias"),
    optional_targets=("lm_head.weight",),
)


# A tied head (GPT2Config.tied_head) is wte.
convert_safetensor_state_dict = TableAdapter(__name__, "GPT2_TABLE")
