"""StarCoder2's pipeline model: the shared decoder pipeline with StarCoder2's config and graph."""

from __future__ import annotations

from common.decoder import DecoderPipelineModel

from .model_config import Starcoder2Config
from .starcoder2 import Starcoder2


class Starcoder2Model(DecoderPipelineModel):
    model_config_cls = Starcoder2Config
    graph_cls = Starcoder2
    graph_name = "starcoder2"
