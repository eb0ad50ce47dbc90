"""StarCoder2's graph config, translated from a Hugging Face `Starcoder2Config`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from max.pipelines.lib import MAXModelConfig
from max.pipelines.modeling.config_enums import SupportedEncoding

from common.arch_config import config_source, translate_hf_config
from common.config import (
    HEADS,
    HIDDEN,
    INTERMEDIATE,
    KV_HEADS,
    LAYERS,
    POSITIONS,
    VOCAB,
    ConfigError,
    Field,
)
from common.logs import family_logger

from ..rotary_config import (
    FULL_ROTARY_REFUSALS,
    PARTIAL_ROTARY_KEYS,
    ROPE_REFUSALS,
    ROPE_THETA_KEYS,
    RotaryDecoderConfig,
    activation_refusal,
)

logger = family_logger(__name__)


@dataclass(kw_only=True)
class Starcoder2Config(RotaryDecoderConfig):
    DEFAULT_ENCODING: ClassVar[SupportedEncoding] = "float32"
    # Verified: float32 on CPU (see docs/LLAMA_STYLE.md).
    SUPPORTED_ENCODINGS: ClassVar[set[SupportedEncoding]] = {"float32"}

    # Hugging Face's Starcoder2Config defaults are the defaults here.
    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("vocab_size", VOCAB, default=49152, type=int),
        Field("max_positions", POSITIONS, default=4096, type=int),
        Field("hidden_size", HIDDEN, default=3072, type=int),
        Field("num_layers", LAYERS, default=30, type=int),
        Field("num_heads", HEADS, default=24, type=int),
        Field("num_kv_heads", KV_HEADS, default=2, type=int),
        Field("head_dim", derive=lambda f: f["hidden_size"] // f["num_heads"]),
        Field("intermediate_size", INTERMEDIATE, default=12288, type=int),
        Field("activation", ("hidden_act",), default="gelu_pytorch_tanh", type=str),
        Field("norm_epsilon", ("norm_epsilon",), default=1e-5, type=float),
        Field("rope_theta", ROPE_THETA_KEYS, default=10000.0, type=float),
        Field("partial_rotary_factor", PARTIAL_ROTARY_KEYS, default=1.0, type=float),
        Field("sliding_window", ("sliding_window",), default=None, type=int),
        Field("use_bias", ("use_bias",), default=True, type=bool),
        Field("tie_word_embeddings", ("tie_word_embeddings",), default=True, type=bool),
    )
    REFUSALS = (*ROPE_REFUSALS, *FULL_ROTARY_REFUSALS, activation_refusal("hidden_act"))

    norm_epsilon: float
    sliding_window: int | None
    use_bias: bool

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"config.json: hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_heads})"
            )
        if self.sliding_window is not None and self.max_seq_len > self.sliding_window:
            raise ConfigError(
                f"config.json: max_seq_len {self.max_seq_len} exceeds sliding_window "
                f"({self.sliding_window}); sliding-window attention is not implemented"
            )
        super().__post_init__()

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
