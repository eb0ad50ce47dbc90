"""GPT-NeoX's pipeline model: the shared decoder pipeline with GPT-NeoX's config and graph."""

from __future__ import annotations

from common.decoder import DecoderPipelineModel

from .gpt_neox import GPTNeoX
from .model_config import GPTNeoXConfig


class GPTNeoXModel(DecoderPipelineModel):
    model_config_cls = GPTNeoXConfig
    graph_cls = GPTNeoX
    graph_name = "gpt_neox"
