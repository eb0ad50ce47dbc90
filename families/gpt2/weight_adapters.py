"""GPT-2 checkpoint tensors to graph weights, as a table.

The graph keeps the checkpoint's names; what differs is the `transformer.` prefix of newer
saves, the Conv1D layers stored [in, out] (transposed here to MAX's [out, in]; `c_attn` stays
fused as one [3 * hidden, hidden] projection), and the causal-mask buffers that are not weights.

GGUF files (llama.cpp's `convert_hf_to_gguf.py` and `llama-quantize`) name the same tensors
llama.cpp's way and store the Conv1D weights already as [out, in]: their table only renames,
and the tensors travel as MAX's reader gives them (quantized ones as uint8 blocks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from max.graph.weights import WeightData, Weights
from max.pipelines.lib.config.model_config import _select_quantization_encoding

from common.arch_config import config_source, translate_hf_config
from common.gguf import (
    check_gathered,
    check_metadata,
    check_tensor_types,
    gguf_files,
    read_gguf,
    refuse_block_encoding,
    tensor_types,
)
from common.mapping import MappingTable, Row, apply_mapping
from common.max_weights import MappedWeights, TableAdapter, drop_tied_head
from common.transforms import transpose_conv1d

from .model_config import GPT2Config

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


def _float_weights_only(pipeline_config: Any) -> None:
    refuse_block_encoding(pipeline_config, GPT2Config.DEFAULT_ENCODING)


# A tied head (GPT2Config.tied_head) is wte.
convert_safetensor_state_dict = TableAdapter(__name__, "GPT2_TABLE", check=_float_weights_only)


# llama.cpp's names (gguf-py `tensor_mapping.py`, MODEL_ARCH.GPT2) for the same graph weights.
GPT2_GGUF_TABLE = MappingTable(
    rows=(
        Row("token_embd.weight", "wte.weight"),
        Row("position_embd.weight", "wpe.weight"),
        Row("blk.{layer}.attn_norm.weight", "h.{layer}.ln_1.weight"),
        Row("blk.{layer}.attn_norm.bias", "h.{layer}.ln_1.bias"),
        Row("blk.{layer}.attn_qkv.weight", "h.{layer}.attn.c_attn.weight"),
        Row("blk.{layer}.attn_qkv.bias", "h.{layer}.attn.c_attn.bias"),
        Row("blk.{layer}.attn_output.weight", "h.{layer}.attn.c_proj.weight"),
        Row("blk.{layer}.attn_output.bias", "h.{layer}.attn.c_proj.bias"),
        Row("blk.{layer}.ffn_norm.weight", "h.{layer}.ln_2.weight"),
        Row("blk.{layer}.ffn_norm.bias", "h.{layer}.ln_2.bias"),
        Row("blk.{layer}.ffn_up.weight", "h.{layer}.mlp.c_fc.weight"),
        Row("blk.{layer}.ffn_up.bias", "h.{layer}.mlp.c_fc.bias"),
        Row("blk.{layer}.ffn_down.weight", "h.{layer}.mlp.c_proj.weight"),
        Row("blk.{layer}.ffn_down.bias", "h.{layer}.mlp.c_proj.bias"),
        Row("output_norm.weight", "ln_f.weight"),
        Row("output_norm.bias", "ln_f.bias"),
        Row("output.weight", "lm_head.weight"),
    ),
    optional_targets=("lm_head.weight",),
)

# GGUF metadata keys llama.cpp's converter writes for GPT-2, and the config field each must equal.
GPT2_GGUF_METADATA = (
    ("gpt2.block_count", "num_layers"),
    ("gpt2.context_length", "max_positions"),
    ("gpt2.embedding_length", "hidden_size"),
    ("gpt2.feed_forward_length", "intermediate_size"),
    ("gpt2.attention.head_count", "num_heads"),
    ("gpt2.attention.layer_norm_epsilon", "layer_norm_eps"),
)


def convert_gguf_state_dict(
    state_dict: Mapping[str, Weights],
    huggingface_config: Any = None,
    pipeline_config: Any = None,
    arch_config: Any = None,
    **_: Any,
) -> dict[str, WeightData]:
    """A llama.cpp GPT-2 file's tensors under the graph's names, after refusing a file whose
    architecture, sizes or tensor types the graph cannot run."""
    source = "GGUF file"
    if pipeline_config is not None:
        fields = translate_hf_config(
            GPT2Config, huggingface_config, config_source(pipeline_config.model)
        )
        encoding = _select_quantization_encoding(pipeline_config.model, GPT2Config.DEFAULT_ENCODING)
        for path in gguf_files(pipeline_config):
            reader = read_gguf(path)
            expected = [("general.architecture", "gpt2")]
            expected += [(key, fields[name]) for key, name in GPT2_GGUF_METADATA]
            check_metadata(path, reader, expected)
            types = tensor_types(reader)
            check_tensor_types(path, types, encoding)
            check_gathered(path, types, ("token_embd.weight", "position_embd.weight"))
            source = str(path)
    weights = MappedWeights(
        apply_mapping(
            {name: value.data() for name, value in state_dict.items()},
            GPT2_GGUF_TABLE,
            source=source,
        ),
        GPT2_GGUF_TABLE,
    )
    return drop_tied_head(weights, arch_config)
