"""GPT2LMHeadModel registered with MAX."""

from __future__ import annotations

from max.graph.weights import WeightsFormat
from max.pipelines.context import TextContext
from max.pipelines.kv_cache.memory_planner import PagedMemoryPlanner
from max.pipelines.lib import SupportedArchitecture
from max.pipelines.modeling.types import PipelineTask

from common.decoder import DecoderBatchProcessor
from common.tokenizer import CompletionTokenizer

from . import weight_adapters
from .model import GPT2Model
from .model_config import GPT2Config

gpt2_arch = SupportedArchitecture(
    name="GPT2LMHeadModel",
    example_repo_ids=[
        "openai-community/gpt2",
        "openai-community/gpt2-medium",
        "openai-community/gpt2-large",
        "openai-community/gpt2-xl",
        "distilbert/distilgpt2",
    ],
    default_encoding=GPT2Config.DEFAULT_ENCODING,
    supported_encodings=GPT2Config.SUPPORTED_ENCODINGS,
    pipeline_model=GPT2Model,
    tokenizer=CompletionTokenizer,
    context_type=TextContext,
    default_weights_format=WeightsFormat.safetensors,
    weight_adapters={
        WeightsFormat.safetensors: weight_adapters.convert_safetensor_state_dict,
        WeightsFormat.gguf: weight_adapters.convert_gguf_state_dict,
    },
    task=PipelineTask.TEXT_GENERATION,
    config=GPT2Config,
    batching=DecoderBatchProcessor,
    memory_planner=PagedMemoryPlanner,
)
