"""RobertaModel, XLMRobertaModel, ElectraModel and DistilBertModel registered with MAX as
embedding models (`max encode`, `max serve` /v1/embeddings); one encoder graph serves all."""

from __future__ import annotations

from max.graph.weights import WeightsFormat
from max.pipelines.context import TextContext
from max.pipelines.lib import SupportedArchitecture
from max.pipelines.modeling.types import PipelineTask

from . import weight_adapters
from .batch_processor import EncoderBatchProcessor
from .model import (
    DistilBertEncoderModel,
    ElectraEncoderModel,
    RobertaEncoderModel,
    XLMRobertaEncoderModel,
)
from .model_config import (
    DistilBertEncoderConfig,
    ElectraEncoderConfig,
    RobertaEncoderConfig,
    XLMRobertaEncoderConfig,
)
from .tokenizer import SentenceTokenizer

roberta_arch = SupportedArchitecture(
    name="RobertaModel",
    example_repo_ids=[
        "sentence-transformers/all-distilroberta-v1",
        "sentence-transformers/all-roberta-large-v1",
    ],
    default_encoding=RobertaEncoderConfig.DEFAULT_ENCODING,
    supported_encodings=RobertaEncoderConfig.SUPPORTED_ENCODINGS,
    pipeline_model=RobertaEncoderModel,
    tokenizer=SentenceTokenizer,
    context_type=TextContext,
    default_weights_format=WeightsFormat.safetensors,
    weight_adapters={WeightsFormat.safetensors: weight_adapters.convert_bert_state_dict},
    task=PipelineTask.EMBEDDINGS_GENERATION,
    config=RobertaEncoderConfig,
    batching=EncoderBatchProcessor,
    required_arguments={"enable_prefix_caching": False},
)

xlm_roberta_arch = SupportedArchitecture(
    name="XLMRobertaModel",
    example_repo_ids=[
        "sentence-transformers/paraphrase-multilingual-mpnet-base-v2",
        "intfloat/multilingual-e5-base",
        "BAAI/bge-m3",
    ],
    default_encoding=XLMRobertaEncoderConfig.DEFAULT_ENCODING,
    supported_encodings=XLMRobertaEncoderConfig.SUPPORTED_ENCODINGS,
    pipeline_model=XLMRobertaEncoderModel,
    tokenizer=SentenceTokenizer,
    context_type=TextContext,
    default_weights_format=WeightsFormat.safetensors,
    weight_adapters={WeightsFormat.safetensors: weight_adapters.convert_bert_state_dict},
    task=PipelineTask.EMBEDDINGS_GENERATION,
    config=XLMRobertaEncoderConfig,
    batching=EncoderBatchProcessor,
    required_arguments={"enable_prefix_caching": False},
)

electra_arch = SupportedArchitecture(
    name="ElectraModel",
    # The hub's ELECTRA discriminators are saved as ElectraForPreTraining, which MAX does not
    # match to this name; only checkpoints whose config.json says ElectraModel load here.
    example_repo_ids=[],
    default_encoding=ElectraEncoderConfig.DEFAULT_ENCODING,
    supported_encodings=ElectraEncoderConfig.SUPPORTED_ENCODINGS,
    pipeline_model=ElectraEncoderModel,
    tokenizer=SentenceTokenizer,
    context_type=TextContext,
    default_weights_format=WeightsFormat.safetensors,
    weight_adapters={WeightsFormat.safetensors: weight_adapters.convert_bert_state_dict},
    task=PipelineTask.EMBEDDINGS_GENERATION,
    config=ElectraEncoderConfig,
    batching=EncoderBatchProcessor,
    required_arguments={"enable_prefix_caching": False},
)

distilbert_arch = SupportedArchitecture(
    name="DistilBertModel",
    example_repo_ids=[
        "sentence-transformers/msmarco-distilbert-base-v4",
        "sentence-transformers/multi-qa-distilbert-cos-v1",
    ],
    default_encoding=DistilBertEncoderConfig.DEFAULT_ENCODING,
    supported_encodings=DistilBertEncoderConfig.SUPPORTED_ENCODINGS,
    pipeline_model=DistilBertEncoderModel,
    tokenizer=SentenceTokenizer,
    context_type=TextContext,
    default_weights_format=WeightsFormat.safetensors,
    weight_adapters={WeightsFormat.safetensors: weight_adapters.convert_distilbert_state_dict},
    task=PipelineTask.EMBEDDINGS_GENERATION,
    config=DistilBertEncoderConfig,
    batching=EncoderBatchProcessor,
    required_arguments={"enable_prefix_caching": False},
)
