"""Phi's pipeline model: the shared decoder pipeline with Phi's config and graph."""

from __future__ import annotations

from common.decoder import DecoderPipelineModel

from ..batch_processor import RotaryBatchProcessor
from .model_config import PhiConfig
from .phi import Phi


class PhiModel(DecoderPipelineModel):
    model_config_cls = PhiConfig
    batch_processor_cls = RotaryBatchProcessor
    graph_cls = Phi
    graph_name = "phi"
