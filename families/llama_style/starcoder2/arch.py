"""Starcoder2ForCausalLM registered with MAX."""

from __future__ import annotations

from max.graph.weights import WeightsFormat
from max.pipelines.context import TextContext
from max.pipelines.kv_cache.memory_planner import PagedMemoryPlanner
from max.pipelines.lib import SupportedArchitecture
from max.pipelines.modeling.types import PipelineTask

from common.decoder import DecoderBatchProcessor
from common.tokenizer import CompletionTokenizer

from . import weight_adapters
from .model import Starcoder2Model
from .model_config import Starcoder2Config

starcoder2_arch = SupportedArchitecture(
    name="Starcoder2ForCausalLM",
    example_repo_ids=[
        "bigcode/starcoder2-3b",
        "bigcode/starcoder2-7b",
        "bigcode/starcoder2-15b",
    ],
    default_encoding=Starcoder2Config.DEFAULT_ENCODING,
    supported_encodings=Starcoder2Config.SUPPORTED_ENCODINGS,
    pipeline_model=Starcoder2Model,
    tokenizer=CompletionTokenizer,
    context_type=TextContext,
    default_weights_format=WeightsFormat.safetensors,
    weight_adapters={WeightsFormat.safetensors: weight_adapters.convert_safetensor_state_dict},
    task=PipelineTask.TEXT_GENERATION,
    config=Starcoder2Config,
    batching=DecoderBatchProcessor,
    memory_planner=PagedMemoryPlanner,
)
