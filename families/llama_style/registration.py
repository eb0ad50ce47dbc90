"""A rotary architecture's `SupportedArchitecture`: all but its name, hub examples, pipeline
model and mapping table (with its tied head) are the same for every architecture here."""

from __future__ import annotations

from max.graph.weights import WeightsFormat
from max.pipelines.context import TextContext
from max.pipelines.kv_cache.memory_planner import PagedMemoryPlanner
from max.pipelines.lib import SupportedArchitecture
from max.pipelines.modeling.types import PipelineTask

from common.decoder import DecoderBatchProcessor, DecoderPipelineModel
from common.max_weights import TableAdapter
from common.tokenizer import CompletionTokenizer


def rotary_architecture(
    name: str,
    example_repo_ids: list[str],
    pipeline_model: type[DecoderPipelineModel],
    *,
    table: str,
    tied_head: str,
    tied_by_default: bool = False,
) -> SupportedArchitecture:
    """`table` names the mapping table in the pipeline model's module; `tied_head` is the graph
    weight a tied config takes from the embedding (`tied_by_default`: Hugging Face's default)."""
    config = pipeline_model.model_config_cls
    adapter = TableAdapter(
        pipeline_model.__module__, table, tied_head=tied_head, tied_by_default=tied_by_default
    )
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
