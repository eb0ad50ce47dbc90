"""GemmaForCausalLM registered with MAX."""

from __future__ import annotations

from max.graph.weights import WeightsFormat
from max.pipelines.context import TextContext
from max.pipelines.kv_cache.memory_planner import PagedMemoryPlanner
from max.pipelines.lib import SupportedArchitecture
from max.pipelines.modeling.types import PipelineTask

from common.decoder import DecoderBatchProcessor
from common.tokenizer import CompletionTokenizer

from . import weight_adapters
from .model import GemmaModel
from .model_config import GemmaConfig

gemma_arch = SupportedArchitecture(
    name="GemmaForCausalLM",
    example_repo_ids=[
        "google/gemma-2b",
        "google/gemma-7b",
        "google/gemma-1.1-2b-it",
        "google/codegemma-2b",
    ],
    default_encoding=GemmaConfig.DEFAULT_ENCODING,
    supported_encodings=GemmaConfig.SUPPORTED_ENCODINGS,
    pipeline_model=GemmaModel,
    tokenizer=CompletionTokenizer,
    context_type=TextContext,
    default_weights_format=WeightsFormat.safetensors,
    weight_adapters={WeightsFormat.safetensors: weight_adapters.convert_safetensor_state_dict},
    task=PipelineTask.TEXT_GENERATION,
    config=GemmaConfig,
    batching=DecoderBatchProcessor,
    memory_planner=PagedMemoryPlanner,
)
