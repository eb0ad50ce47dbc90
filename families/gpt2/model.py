"""GPT-2's pipeline model: the shared decoder pipeline with GPT-2's config and graph."""

from __future__ import annotations

from common.decoder import DecoderPipelineModel

from .gpt2 import GPT2
from .model_config import GPT2Config


class GPT2Model(DecoderPipelineModel):
    model_config_cls = GPT2Config
    graph_cls = GPT2
    graph_name = "gpt2"
