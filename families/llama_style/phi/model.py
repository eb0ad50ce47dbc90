"""Phi's pipeline model: the shared decoder pipeline with Phi's config and graph."""

from __future__ import annotations

from common.decoder import DecoderPipelineModel

from .model_config import PhiConfig
from .phi import Phi


class PhiModel(DecoderPipelineModel):
    model_config_cls = PhiConfig
    graph_cls = Phi
    graph_name = "phi"
