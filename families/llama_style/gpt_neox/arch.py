"""GPTNeoXForCausalLM registered with MAX."""

from __future__ import annotations

from max.graph.weights import WeightsFormat
from max.pipelines.context import TextContext
from max.pipelines.kv_cache.memory_planner import PagedMemoryPlanner
from max.pipelines.lib import SupportedArchitecture
from max.pipelines.modeling.types import PipelineTask

from common.decoder import DecoderBatchProcessor
from common.tokenizer import CompletionTokenizer

from . import weight_adapters
from .model import GPTNeoXModel
from .model_config import GPTNeoXConfig

gpt_neox_arch = SupportedArchitecture(
    name="GPTNeoXForCausalLM",
    example_repo_ids=[
        "EleutherAI/pythia-70m",
        "EleutherAI/pythia-410m",
        "EleutherAI/pythia-1.4b",
        "EleutherAI/gpt-neox-20b",
    ],
    default_encoding=GPTNeoXConfig.DEFAULT_ENCODING,
    supported_encodings=GPTNeoXConfig.SUPPORTED_ENCODINGS,
    pipeline_model=GPTNeoXModel,
    tokenizer=CompletionTokenizer,
    context_type=TextContext,
    default_weights_format=WeightsFormat.safetensors,
    weight_adapters={WeightsFormat.safetensors: weight_adapters.convert_safetensor_state_dict},
    task=PipelineTask.TEXT_GENERATION,
    config=GPTNeoXConfig,
    batching=DecoderBatchProcessor,
    memory_planner=PagedMemoryPlanner,
)
