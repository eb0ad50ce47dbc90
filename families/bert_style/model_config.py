"""The encoder's graph config, translated from each architecture's Hugging Face config.

One graph serves every architecture here; what differs is data, in each config's `FIELDS`:
where the position table starts (`position_offset`: RoBERTa counts from pad_token_id + 1),
whether a token-type row is added (`type_vocab_size` 0 for DistilBERT), the embedding width
(ELECTRA's `embedding_size`, projected to the hidden size), and the HF key names and defaults.
The sentence pooling comes from the checkpoint's sentence-transformers files (`common.pooling`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from max.dtype import DType
from max.graph import DeviceRef
from max.pipelines.lib import MAXModelConfig, PipelineConfig
from max.pipelines.lib.config.model_config import _select_quantization_encoding
from max.pipelines.modeling.config_enums import SupportedEncoding, supported_encoding_dtype
from typing_extensions import Self

from common.activations import activation_refusal, activation_table
from common.config import (
    HEADS,
    HIDDEN,
    INTERMEDIATE,
    LAYERS,
    NORM_EPS,
    POSITIONS,
    VOCAB,
    ConfigError,
    Field,
    Refusal,
    is_false,
    translate_once,
)
from common.logs import family_logger
from common.pooling import PoolingSpec, read_pooling_spec

logger = family_logger(__name__)

# The activations the encoder computes; any other is refused.
ACTIVATIONS = activation_table("gelu", "gelu_new", "gelu_pytorch_tanh")
SUPPORTED_ACTIVATIONS = frozenset(ACTIVATIONS)
# Files a hub checkpoint's pooling is read from (the weights come through MAX itself).
SENTENCE_TRANSFORMERS_FILES = (
    "modules.json",
    "*/config.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
)


# BERT's layout, which RoBERTa, XLM-RoBERTa and ELECTRA share; defaults are BertConfig's.
_BERT_FIELDS: tuple[Field, ...] = (
    Field("vocab_size", VOCAB, default=30522, type=int),
    Field("hidden_size", HIDDEN, default=768, type=int),
    Field("num_layers", LAYERS, default=12, type=int),
    Field("num_heads", HEADS, default=12, type=int),
    Field("intermediate_size", INTERMEDIATE, default=3072, type=int),
    Field("max_positions", POSITIONS, default=512, type=int),
    Field("layer_norm_eps", NORM_EPS, default=1e-12, type=float),
    Field("activation", ("hidden_act",), default="gelu", type=str),
    Field("type_vocab_size", ("type_vocab_size",), default=2, type=int),
    Field("pad_token_id", ("pad_token_id",), default=0, type=int),
    Field("embedding_size", derive=lambda f: f["hidden_size"]),
    Field("position_offset", default=0),
)
_BERT_REFUSALS: tuple[Refusal, ...] = (
    Refusal(
        "position_embedding_type",
        lambda v: v in (None, "absolute"),
        "only absolute position embeddings are implemented (not relative_key[_query])",
    ),
    Refusal("is_decoder", is_false, "a BERT-style encoder used as a causal decoder"),
    Refusal("add_cross_attention", is_false, "cross-attention to another encoder"),
    activation_refusal("hidden_act", ACTIVATIONS),
)


def _replace(fields: tuple[Field, ...], *changed: Field) -> tuple[Field, ...]:
    """`fields` with the same-named entries swapped for `changed`."""
    by_name = {f.name: f for f in changed}
    return tuple(by_name.get(f.name, f) for f in fields)


@dataclass(kw_only=True)
class EncoderConfig:
    """Base of every architecture's config: HF fields in, one encoder graph's config out."""

    DEFAULT_ENCODING: ClassVar[SupportedEncoding] = "float32"
    # Verified: float32 on the CPU (docs/BERT_STYLE.md); float32 and float16 on an H200, every
    # architecture (docs/results/gpu-bert_style-*.json; the attention is plain matmuls and
    # softmax, no kernel chosen by head size). bfloat16 awaits a GPU run of the float32 output.
    SUPPORTED_ENCODINGS: ClassVar[set[SupportedEncoding]] = {"float32", "float16"}
    FIELDS: ClassVar[tuple[Field, ...]] = _BERT_FIELDS
    REFUSALS: ClassVar[tuple[Refusal, ...]] = _BERT_REFUSALS

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_positions: int
    layer_norm_eps: float
    activation: str
    type_vocab_size: int
    pad_token_id: int
    embedding_size: int
    position_offset: int

    dtype: DType = DType.float32
    device: DeviceRef = field(default_factory=DeviceRef.CPU)
    max_seq_len: int = 0
    pooling: PoolingSpec = PoolingSpec()
    pool_embeddings: bool = True

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ConfigError(
                f"config.json: hidden size ({self.hidden_size}) must be divisible by the "
                f"number of attention heads ({self.num_heads})"
            )
        if self.max_tokens < 1:
            raise ConfigError(
                f"config.json: {self.max_positions} position rows leave no room for tokens "
                f"after the offset of {self.position_offset}"
            )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def max_tokens(self) -> int:
        """Longest input the position table covers (RoBERTa's 514 rows hold 512 tokens)."""
        return self.max_positions - self.position_offset

    @classmethod
    def from_hf(cls, hf_config: Any, *, source: str = "config.json", **graph: Any) -> Self:
        """The config from a Hugging Face config (dict or PretrainedConfig) and graph settings."""
        fields = translate_once(hf_config, cls, cls.FIELDS, cls.REFUSALS, source=source)
        return cls(**fields, **graph)

    @classmethod
    def initialize(
        cls,
        pipeline_config: PipelineConfig,
        model_config: MAXModelConfig | None = None,
        *,
        max_seq_len: int,
    ) -> Self:
        model_config = model_config or pipeline_config.model
        source = _config_source(model_config)
        hf = model_config.huggingface_config
        if hf is None:
            raise ConfigError(f"{source}: no Hugging Face config could be loaded")
        encoding = _select_quantization_encoding(model_config, cls.DEFAULT_ENCODING)
        if encoding not in cls.SUPPORTED_ENCODINGS:
            raise ConfigError(
                f"{cls.__name__}: encoding {encoding!r} is not verified for this architecture; "
                f"supported: {sorted(cls.SUPPORTED_ENCODINGS)}"
            )
        if len(model_config.device_specs) != 1:
            raise ConfigError(
                f"{cls.__name__}: runs on one device, found {len(model_config.device_specs)}"
            )
        spec = model_config.device_specs[0]
        pooling = pooling_for(model_config)
        logger.info("sentence pooling: %s", pooling.source)
        return cls.from_hf(
            hf,
            source=source,
            dtype=supported_encoding_dtype(encoding),
            device=DeviceRef(spec.device_type, spec.id),
            max_seq_len=max_seq_len,
            pooling=pooling,
            pool_embeddings=model_config.pool_embeddings,
        )

    @classmethod
    def calculate_max_seq_len(cls, huggingface_config: Any, model_config: MAXModelConfig) -> int:
        """The position table's limit, or sentence-transformers' `max_seq_length` when it is
        smaller; `--max-length` may ask for less, or more up to the table, never past it."""
        source = _config_source(model_config)
        limit = cls.from_hf(huggingface_config, source=source).max_tokens
        asked = model_config.max_length
        if asked is None:
            st_limit = pooling_for(model_config).max_seq_length
            return min(limit, st_limit) if st_limit else limit
        if asked > limit:
            raise ConfigError(
                f"{source}: --max-length {asked} exceeds the model's position limit ({limit}: "
                "max_position_embeddings less the position offset)"
            )
        return asked

    def get_max_seq_len(self) -> int:
        return self.max_seq_len


def _config_source(model_config: MAXModelConfig) -> str:
    return str(Path(str(model_config.model_path)) / "config.json")


def pooling_for(model_config: MAXModelConfig) -> PoolingSpec:
    """The checkpoint's sentence-transformers pooling: a local directory's files, or the
    hub repository's (fetched like MAX fetches the weights)."""
    path = Path(str(model_config.model_path))
    if not path.is_dir():
        from huggingface_hub import snapshot_download

        try:
            path = Path(
                snapshot_download(
                    str(model_config.model_path),
                    revision=model_config.huggingface_model_revision,
                    allow_patterns=list(SENTENCE_TRANSFORMERS_FILES),
                )
            )
        except Exception as exc:
            raise ConfigError(
                f"{model_config.model_path}: cannot read its sentence-transformers files "
                f"(modules.json, 1_Pooling/config.json): {exc}"
            ) from exc
    return read_pooling_spec(path)


@dataclass(kw_only=True)
class BertEncoderConfig(EncoderConfig):
    """BertModel's layout. Not registered (MAX has its own BertModel); the real-weights check
    runs all-MiniLM-L6-v2 through the shared encoder with it."""


@dataclass(kw_only=True)
class RobertaEncoderConfig(EncoderConfig):
    """RobertaModel: BERT's layout; positions start at pad_token_id + 1."""

    FIELDS: ClassVar[tuple[Field, ...]] = _replace(
        _BERT_FIELDS,
        Field("vocab_size", VOCAB, default=50265, type=int),
        Field("pad_token_id", ("pad_token_id",), default=1, type=int),
        Field("position_offset", derive=lambda f: f["pad_token_id"] + 1),
    )


@dataclass(kw_only=True)
class XLMRobertaEncoderConfig(RobertaEncoderConfig):
    """XLMRobertaModel: RoBERTa's encoder with a large (250k) SentencePiece vocabulary."""

    FIELDS: ClassVar[tuple[Field, ...]] = _replace(
        RobertaEncoderConfig.FIELDS, Field("vocab_size", VOCAB, default=30522, type=int)
    )


@dataclass(kw_only=True)
class ElectraEncoderConfig(EncoderConfig):
    """ElectraModel (the discriminator): BERT's layout over `embedding_size`-wide embeddings,
    projected to the hidden size when the two differ."""

    FIELDS: ClassVar[tuple[Field, ...]] = _replace(
        _BERT_FIELDS,
        Field("hidden_size", HIDDEN, default=256, type=int),
        Field("num_heads", HEADS, default=4, type=int),
        Field("intermediate_size", INTERMEDIATE, default=1024, type=int),
        Field("embedding_size", ("embedding_size",), default=128, type=int),
    )


@dataclass(kw_only=True)
class DistilBertEncoderConfig(EncoderConfig):
    """DistilBertModel: no token types, positions from 0, LayerNorm eps fixed at 1e-12."""

    FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("vocab_size", VOCAB, default=30522, type=int),
        Field("hidden_size", HIDDEN, default=768, type=int),
        Field("num_layers", LAYERS, default=6, type=int),
        Field("num_heads", HEADS, default=12, type=int),
        Field("intermediate_size", INTERMEDIATE, default=3072, type=int),
        Field("max_positions", POSITIONS, default=512, type=int),
        Field("layer_norm_eps", default=1e-12),  # DistilBERT's LayerNorms hard-code it
        Field("activation", ("activation",), default="gelu", type=str),
        Field("type_vocab_size", default=0),
        Field("pad_token_id", ("pad_token_id",), default=0, type=int),
        Field("embedding_size", derive=lambda f: f["hidden_size"]),
        Field("position_offset", default=0),
    )
    REFUSALS: ClassVar[tuple[Refusal, ...]] = (
        Refusal(
            "sinusoidal_pos_embds",
            is_false,
            "sinusoidal position tables are not verified (every released DistilBERT learns them)",
        ),
        activation_refusal("activation", ACTIVATIONS),
    )
