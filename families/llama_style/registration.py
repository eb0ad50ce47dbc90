"""What every rotary architecture registers alike: a mapping table that keeps the checkpoint's
names, and a `SupportedArchitecture` differing only in name, hub examples, pipeline model and
table."""

from __future__ import annotations

from max.graph.weights import WeightsFormat
from max.pipelines.context import TextContext
from max.pipelines.kv_cache.memory_planner import PagedMemoryPlanner
from max.pipelines.lib import SupportedArchitecture
from max.pipelines.modeling.types import PipelineTask

from common.decoder import DecoderBatchProcessor, DecoderPipelineModel
from common.mapping import MappingTable, Row
from common.max_weights import TableAdapter
from common.tokenizer import CompletionTokenizer

LAYER = "layers.{layer}."


def with_bias(*modules: str) -> tuple[str, ...]:
    """Each module's weight and bias names."""
    return tuple(f"{module}.{part}" for module in modules for part in ("weight", "bias"))


def layer_with_bias(*modules: str) -> tuple[str, ...]:
    """The weight and bias names of each module of every layer."""
    return with_bias(*(LAYER + module for module in modules))


def same_names(*names: str) -> tuple[Row, ...]:
    """Rows mapping each checkpoint name (after the prefix) to the same graph name."""
    return tuple(Row(name, name) for name in names)


def model_table(*names: str) -> MappingTable:
    """The table of a checkpoint saved under `model.`, with rotary buffers that are not weights
    and an LM head that a tied checkpoint may leave out."""
    return MappingTable(
        rows=same_names(*names),
        strip_prefixes=("model.",),
        ignore=(f"{LAYER}self_attn.rotary_emb.inv_freq",),
        optional_targets=("lm_head.weight",),
    )


def rotary_architecture(
    name: str,
    example_repo_ids: list[str],
    pipeline_model: type[DecoderPipelineModel],
    *,
    table: str,
) -> SupportedArchitecture:
    """`table` names the mapping table in the pipeline model's module (a tied head, and its
    name, are the config's: `RotaryConfig.tied_head`)."""
    config = pipeline_model.model_config_cls
    adapter = TableAdapter(pipeline_model.__module__, table)
    return SupportedArchitecture(
        name=name,
        example_repo_ids=example_repo_ids,
        default_encoding=config.DEFAULT_ENCODING,
        supported_encodings=config.SUPPORTED_ENCODINGS,
        pipeline_model=pipeline_model,
        tokenizer=CompletionTokenizer,
        context_type=TextContext,
        default_weights_format=WeightsFormat.safetensors,
        weight_adapters={WeightsFormat.safetensors: adapter},
        task=PipelineTask.TEXT_GENERATION,
        config=config,
        batching=DecoderBatchProcessor,
        memory_planner=PagedMemoryPlanner,
    )
