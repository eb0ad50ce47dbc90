"""StarCoder2 (`Starcoder2ForCausalLM`: starcoder2-3b, -7b, -15b): pre-LayerNorm blocks, GQA
attention with full rotary, a two-layer MLP, biases unless `use_bias` is false. Served sequences
fit the sliding window (`calculate_max_seq_len`), so attention is plain causal attention."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from max.pipelines.lib import MAXModelConfig

from common.arch_config import config_source, translate_hf_config
from common.config import INTERMEDIATE, KV_HEADS, ConfigError, Field, size_fields
from common.decoder import DecoderPipelineModel
from common.logs import family_logger

from .layers import RotaryDecoder
from .registration import layer_with_bias, model_table, rotary_architecture, with_bias
from .rotary_config import (
    FULL_ROTARY_REFUSALS,
    ROPE_REFUSALS,
    Layout,
    RotaryConfig,
    activation_refusal,
    rope_fields,
)

logger = family_logger(__name__)


@dataclass(kw_only=True)
class Starcoder2Config(RotaryConfig):
    HEADS_SPLIT_HIDDEN = True
    # Hugging Face's Starcoder2Config defaults are the defaults here.
    FIELDS = (
        *size_fields(
            vocab_size=49152, max_positions=4096, hidden_size=3072, num_layers=30, num_heads=24
        ),
        Field("num_kv_heads", KV_HEADS, default=2, type=int),
        Field("head_dim", derive=lambda f: f["hidden_size"] // f["num_heads"]),
        Field("intermediate_size", INTERMEDIATE, default=12288, type=int),
        Field("activation", ("hidden_act",), default="gelu_pytorch_tanh", type=str),
        Field("norm_epsilon", ("norm_epsilon",), default=1e-5, type=float),
        *rope_fields(partial_rotary_factor=1.0),
        Field("sliding_window", ("sliding_window",), default=None, type=int),
        Field("use_bias", ("use_bias",), default=True, type=bool),
        Field("tie_word_embeddings", ("tie_word_embeddings",), default=True, type=bool),
    )
    REFUSALS = (*ROPE_REFUSALS, *FULL_ROTARY_REFUSALS, activation_refusal("hidden_act"))

    norm_epsilon: float
    sliding_window: int | None
    use_bias: bool

    def check(self) -> None:
        if self.sliding_window is not None and self.max_seq_len > self.sliding_window:
            raise ConfigError(
                f"config.json: max_seq_len {self.max_seq_len} exceeds sliding_window "
                f"({self.sliding_window}); sliding-window attention is not implemented"
            )

    @classmethod
    def calculate_max_seq_len(cls, huggingface_config: Any, model_config: MAXModelConfig) -> int:
        """Served sequences fit the sliding window, where attention is plain causal attention.

        Past the window Hugging Face masks older tokens; that mask is not implemented (MAX 26.7
        did not finish compiling its sliding-window attention on the CPU, see
        docs/LLAMA_STYLE.md), so longer sequences are not served: without `--max-length` the
        limit is the window, and a larger `--max-length` is refused.
        """
        limit = super().calculate_max_seq_len(huggingface_config, model_config)
        source = config_source(model_config)
        window = translate_hf_config(cls, huggingface_config, source)["sliding_window"]
        if window is None or limit <= window:
            return limit
        if model_config.max_length is None:
            logger.info("%s: serving at most sliding_window (%d) tokens a sequence", source, window)
            return window
        raise ConfigError(
            f"{source}: --max-length {model_config.max_length} exceeds sliding_window ({window}); "
            "past the window Hugging Face masks older tokens, which is not implemented here"
        )

    @property
    def layout(self) -> Layout:
        return Layout(
            mlp=("c_fc", "c_proj"),
            norm_eps=self.norm_epsilon,
            qkv_bias=self.use_bias,
            out_bias=self.use_bias,
            mlp_bias=self.use_bias,
        )


STARCODER2_TABLE = model_table(
    "embed_tokens.weight",
    *layer_with_bias("input_layernorm", "post_attention_layernorm"),
    *layer_with_bias("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    *layer_with_bias("self_attn.o_proj", "mlp.c_fc", "mlp.c_proj"),
    *with_bias("norm"),
    "lm_head.weight",
)


class Starcoder2Model(DecoderPipelineModel):
    model_config_cls = Starcoder2Config
    graph_cls = RotaryDecoder
    graph_name = "starcoder2"


starcoder2_arch = rotary_architecture(
    "Starcoder2ForCausalLM",
    ["bigcode/starcoder2-3b", "bigcode/starcoder2-7b", "bigcode/starcoder2-15b"],
    Starcoder2Model,
    table="STARCODER2_TABLE",
)
