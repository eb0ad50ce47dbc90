"""The encoder pipeline model: map the checkpoint, compile the shared encoder graph, run it.

Each architecture subclasses it only to name its config class (what differs is data there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from max.driver import Device
from max.engine import InferenceSession, Model
from max.graph.weights import Weights, WeightsAdapter
from max.nn.transformer import ReturnLogits
from max.pipelines.context import TextContext
from max.pipelines.lib import (
    KVCacheConfig,
    ModelInputs,
    ModelOutputs,
    PipelineConfig,
    PipelineModel,
)
from max.pipelines.lib.graph_specs import GraphRole, GraphSpec
from max.pipelines.lib.memory_estimation import MemoryPlan

from common.max_weights import conform_to_graph, load_adapted_state_dict

from .batch_processor import EncoderBatchProcessor, EncoderInputs
from .encoder import SentenceEncoder
from .model_config import (
    BertEncoderConfig,
    DistilBertEncoderConfig,
    ElectraEncoderConfig,
    EncoderConfig,
    RobertaEncoderConfig,
    XLMRobertaEncoderConfig,
)

# One name for every architecture: equal shapes and settings reuse one compiled graph.
GRAPH_NAME = "bert_style_encoder"


class EncoderPipelineModel(PipelineModel[TextContext, EncoderConfig, Model]):
    model_config_cls: ClassVar[type[EncoderConfig]] = EncoderConfig
    batch_processor_cls: ClassVar[type[EncoderBatchProcessor]] = EncoderBatchProcessor

    def __init__(
        self,
        pipeline_config: PipelineConfig,
        session: InferenceSession,
        devices: list[Device],
        kv_cache_config: KVCacheConfig,
        weights: Weights,
        *,
        memory_plan: MemoryPlan,
        adapter: WeightsAdapter | None = None,
        return_logits: ReturnLogits = ReturnLogits.ALL,
        max_batch_size: int = 1,
    ) -> None:
        super().__init__(
            pipeline_config,
            session,
            devices,
            kv_cache_config,
            weights,
            adapter=adapter,
            return_logits=return_logits,
            max_batch_size=max_batch_size,
            memory_plan=memory_plan,
        )
        self._models = self.load_graphs(session)

    @property
    def model(self) -> Model:
        return self._models[GraphRole.ENCODER]

    def _load_state_dict(self) -> dict[str, Any]:
        self._state_dict = load_adapted_state_dict(self)
        return self._state_dict

    def _create_model_config(self, state_dict: dict[str, Any]) -> EncoderConfig:
        del state_dict
        return self.arch_config_as(EncoderConfig)

    def graph_specs(self, model_config: EncoderConfig) -> Mapping[str, GraphSpec]:
        module = SentenceEncoder(model_config)
        weights = conform_to_graph(
            self._state_dict,
            module.raw_state_dict(),
            source=str(self.pipeline_config.model.model_path),
        )
        module.load_state_dict(weights, weight_alignment=1, strict=True)
        self._state_dict = {}
        return {
            GraphRole.ENCODER: GraphSpec(
                module, GRAPH_NAME, module.input_types(), weights=module.state_dict()
            )
        }

    def execute(self, model_inputs: ModelInputs) -> ModelOutputs:
        assert isinstance(model_inputs, EncoderInputs)
        outputs = self.model.execute(model_inputs.tokens, model_inputs.mask)
        assert self.batch_processor is not None
        return self.batch_processor.process_outputs(outputs)


class BertEncoderModel(EncoderPipelineModel):
    model_config_cls = BertEncoderConfig


class RobertaEncoderModel(EncoderPipelineModel):
    model_config_cls = RobertaEncoderConfig


class XLMRobertaEncoderModel(EncoderPipelineModel):
    model_config_cls = XLMRobertaEncoderConfig


class ElectraEncoderModel(EncoderPipelineModel):
    model_config_cls = ElectraEncoderConfig


class DistilBertEncoderModel(EncoderPipelineModel):
    model_config_cls = DistilBertEncoderConfig
