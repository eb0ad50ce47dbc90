"""Gemma's pipeline model: the shared decoder pipeline with Gemma's config and graph."""

from __future__ import annotations

from common.decoder import DecoderPipelineModel

from .gemma import Gemma
from .model_config import GemmaConfig


class GemmaModel(DecoderPipelineModel):
    model_config_cls = GemmaConfig
    graph_cls = Gemma
    graph_name = "gemma"
