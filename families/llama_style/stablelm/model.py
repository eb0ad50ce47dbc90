"""StableLM's pipeline model: the shared decoder pipeline with StableLM's config and graph."""

from __future__ import annotations

from common.decoder import DecoderPipelineModel

from .model_config import StableLmConfig
from .stablelm import StableLm


class StableLmModel(DecoderPipelineModel):
    model_config_cls = StableLmConfig
    graph_cls = StableLm
    graph_name = "stablelm"
