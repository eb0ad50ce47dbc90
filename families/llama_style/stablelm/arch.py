"""StableLmForCausalLM registered with MAX."""

from __future__ import annotations

from max.graph.weights import WeightsFormat
from max.pipelines.context import TextContext
from max.pipelines.kv_cache.memory_planner import PagedMemoryPlanner
from max.pipelines.lib import SupportedArchitecture
from max.pipelines.modeling.types import PipelineTask

from common.decoder import DecoderBatchProcessor
from common.tokenizer import CompletionTokenizer

from . import weight_adapters
from .model import StableLmModel
from .model_config import StableLmConfig

stablelm_arch = SupportedArchitecture(
    name="StableLmForCausalLM",
    example_repo_ids=[
        "stabilityai/stablelm-3b-4e1t",
        "stabilityai/stablelm-2-1_6b",
        "stabilityai/stablelm-zephyr-3b",
    ],
    default_encoding=StableLmConfig.DEFAULT_ENCODING,
    supported_encodings=StableLmConfig.SUPPORTED_ENCODINGS,
    pipeline_model=StableLmModel,
    tokenizer=CompletionTokenizer,
    context_type=TextContext,
    default_weights_format=WeightsFormat.safetensors,
    weight_adapters={WeightsFormat.safetensors: weight_adapters.convert_safetensor_state_dict},
    task=PipelineTask.TEXT_GENERATION,
    config=StableLmConfig,
    batching=DecoderBatchProcessor,
    memory_planner=PagedMemoryPlanner,
)
