"""PhiForCausalLM registered with MAX."""

from __future__ import annotations

from max.graph.weights import WeightsFormat
from max.pipelines.context import TextContext
from max.pipelines.kv_cache.memory_planner import PagedMemoryPlanner
from max.pipelines.lib import SupportedArchitecture
from max.pipelines.modeling.types import PipelineTask

from common.decoder import DecoderBatchProcessor
from common.tokenizer import CompletionTokenizer

from . import weight_adapters
from .model import PhiModel
from .model_config import PhiConfig

phi_arch = SupportedArchitecture(
    name="PhiForCausalLM",
    example_repo_ids=[
        "microsoft/phi-1",
        "microsoft/phi-1_5",
        "microsoft/phi-2",
    ],
    default_encoding=PhiConfig.DEFAULT_ENCODING,
    supported_encodings=PhiConfig.SUPPORTED_ENCODINGS,
    pipeline_model=PhiModel,
    tokenizer=CompletionTokenizer,
    context_type=TextContext,
    default_weights_format=WeightsFormat.safetensors,
    weight_adapters={WeightsFormat.safetensors: weight_adapters.convert_safetensor_state_dict},
    task=PipelineTask.TEXT_GENERATION,
    config=PhiConfig,
    batching=DecoderBatchProcessor,
    memory_planner=PagedMemoryPlanner,
)
