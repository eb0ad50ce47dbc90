"""The MAX `ArchConfig` side of a family's config: Hugging Face fields in, graph config out.

A family's `model_config.py` subclasses `TranslatedDecoderConfig`, declares its fields as
dataclass fields, and lists how each comes from the Hugging Face config in `FIELDS` (rows of
`common.config.Field`) and what it refuses in `REFUSALS`. Translation, encoding, devices,
KV-cache parameters and the sequence-length bound are done here once for every family.

A load translates its Hugging Face config once (`translate_hf_config` keeps the result on the
config object); every later hook, the weight adapter and the graph read that translation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from max.dtype import DType
from max.graph import DeviceRef
from max.graph.quantization import QuantizationEncoding
from max.nn.kv_cache import KVCacheParams
from max.nn.transformer import ReturnLogits
from max.pipelines.kv_cache import cache_dtype_for_encoding
from max.pipelines.lib import KVCacheConfig, MAXModelConfig, PipelineConfig
from max.pipelines.lib.config.model_config import _select_quantization_encoding
from max.pipelines.modeling.config_enums import (
    SupportedEncoding,
    supported_encoding_dtype,
    supported_encoding_quantization,
)
from typing_extensions import Self

from common.config import REQUIRED, ConfigError, Field, Refusal, load_config_json, translate_once


def config_source(model_config: MAXModelConfig) -> str:
    """The config file an error should name."""
    return str(Path(str(model_config.model_path)) / "config.json")


def defaulted_sizes(fields: tuple[Field, ...], model_path: str) -> tuple[str, ...]:
    """Integer fields (sizes, counts) that a local checkpoint's config.json does not set, so
    Hugging Face's defaults stand in: `"n_embd=768"`. These explain weight-shape mismatches:
    a config.json that lost `n_embd` describes a 768-wide model whatever its tensors say.
    The Hugging Face config has its defaults filled in, so only the file can tell."""
    directory = Path(model_path)
    if not model_path or not (directory / "config.json").is_file():
        return ()
    try:
        raw = load_config_json(directory)
    except ConfigError:
        return ()
    return tuple(
        f"{spec.sources[0]}={spec.default!r}"
        for spec in fields
        if spec.type is int
        and spec.sources
        and spec.default is not REQUIRED
        and not any(key.split(".")[0] in raw for key in spec.sources)
    )


def translate_hf_config(
    cls: type[TranslatedDecoderConfig], huggingface_config: Any, source: str
) -> dict[str, Any]:
    """`cls`'s fields from the Hugging Face config, translated once per config object."""
    return translate_once(huggingface_config, cls, cls.FIELDS, cls.REFUSALS, source=source)


def activation_dtype(encoding: SupportedEncoding) -> DType:
    """The graph's float dtype: a GGUF block encoding (q4_k: weights as uint8 blocks) computes
    in float32, which is what MAX's CPU `qmatmul` kernels take and return."""
    if supported_encoding_quantization(encoding) is not None:
        return DType.float32
    return supported_encoding_dtype(encoding)


# The widest head MAX 26.7's GPU attention runs in float32. Gemma's published 256-wide heads
# failed on an H200 (a8a15f4): with 128-token KV pages the kernel did not compile ("Invalid
# tile size for PagedKVCache": it reads keys in tiles as wide as the head), and with 256-token
# pages, as MAX's own Qwen3.5 sets them, it compiled but did not launch
# (CUDA_ERROR_INVALID_VALUE in mha_ragged_paged).
GPU_FLOAT32_MAX_HEAD_DIM = 128


@dataclass(kw_only=True)
class TranslatedDecoderConfig:
    """Base of a decoder family's arch config: the fields every decoder translates (the KV
    cache and the sequence-length bound are derived from them) and what MAX needs besides.
    """

    DEFAULT_ENCODING: ClassVar[SupportedEncoding] = "float32"
    SUPPORTED_ENCODINGS: ClassVar[set[SupportedEncoding]] = {"float32"}
    FIELDS: ClassVar[tuple[Field, ...]] = ()
    REFUSALS: ClassVar[tuple[Refusal, ...]] = ()

    vocab_size: int
    max_positions: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    activation: str
    dtype: DType
    devices: list[DeviceRef]
    kv_params: KVCacheParams
    max_seq_len: int
    return_logits: ReturnLogits = ReturnLogits.LAST_TOKEN
    tie_word_embeddings: bool = True
    checkpoint_names: frozenset[str] = field(default_factory=frozenset)
    # Graph weights the file stores in a block format (GGUF Q4_K...), read from the weights.
    quantized: dict[str, QuantizationEncoding] = field(default_factory=dict)
    # The checkpoint directory, read again only to explain a weight mismatch (`defaulted_notes`).
    model_path: str = ""

    def __post_init__(self) -> None:
        on_gpu = any(device.is_gpu() for device in self.devices)
        if on_gpu and self.dtype == DType.float32 and self.head_dim > GPU_FLOAT32_MAX_HEAD_DIM:
            raise ConfigError(
                f"config.json: head_dim {self.head_dim} on the GPU in float32: MAX 26.7's GPU "
                f"attention runs heads up to {GPU_FLOAT32_MAX_HEAD_DIM} wide in float32 (wider "
                "failed to compile or to launch on an H200; docs/LLAMA_STYLE.md); serve this "
                "checkpoint on the CPU (--devices cpu)"
            )

    @property
    def lm_head_weight(self) -> str:
        """The graph's LM head weight; a tied config takes it from the embedding."""
        return "lm_head.weight"

    @property
    def tied_head(self) -> str | None:
        """The stored head weight a weight adapter drops, as Hugging Face does, when tied."""
        return self.lm_head_weight if self.tie_word_embeddings else None

    @classmethod
    def initialize(
        cls,
        pipeline_config: PipelineConfig,
        model_config: MAXModelConfig | None = None,
        *,
        max_seq_len: int,
    ) -> Self:
        model_config = model_config or pipeline_config.model
        source = config_source(model_config)
        hf = model_config.huggingface_config
        if hf is None:
            raise ConfigError(f"{source}: no Hugging Face config could be loaded")
        fields = translate_hf_config(cls, hf, source)
        encoding = _select_quantization_encoding(model_config, cls.DEFAULT_ENCODING)
        if encoding not in cls.SUPPORTED_ENCODINGS:
            raise ConfigError(
                f"{cls.__name__}: encoding {encoding!r} is not verified for this architecture; "
                f"supported: {sorted(cls.SUPPORTED_ENCODINGS)}"
            )
        devices = [DeviceRef(spec.device_type, spec.id) for spec in model_config.device_specs]
        kv_params = cls.construct_kv_params(
            hf,
            pipeline_config,
            devices,
            model_config.kv_cache,
            cache_dtype_for_encoding(encoding, model_config.kv_cache.kv_cache_format),
        )
        return cls(
            **fields,
            dtype=activation_dtype(encoding),
            devices=devices,
            kv_params=kv_params,
            max_seq_len=max_seq_len,
            model_path=str(model_config.model_path),
        )

    def defaulted_notes(self) -> list[str]:
        """What a weight-mismatch error adds: the sizes config.json left to defaults."""
        defaulted = defaulted_sizes(self.FIELDS, self.model_path)
        if not defaulted:
            return []
        return [
            "config.json does not set " + ", ".join(defaulted) + " (Hugging Face's "
            "defaults, used here); if the weights disagree, config.json may have lost them"
        ]

    @classmethod
    def construct_kv_params(
        cls,
        huggingface_config: Any,
        pipeline_config: PipelineConfig,
        devices: list[DeviceRef],
        kv_cache_config: KVCacheConfig,
        cache_dtype: DType,
        **_: Any,
    ) -> KVCacheParams:
        fields = translate_hf_config(cls, huggingface_config, "config.json")
        return kv_cache_config.to_params(
            dtype=cache_dtype,
            n_kv_heads=fields["num_kv_heads"],
            head_dim=fields["head_dim"],
            num_layers=fields["num_layers"],
            devices=devices,
            data_parallel_degree=pipeline_config.model.data_parallel_degree,
        )

    @classmethod
    def calculate_max_seq_len(
        cls, huggingface_config: Any, model_config: MAXModelConfig
    ) -> int:
        """Prompt plus generated tokens fit the position table; a larger max_length is refused."""
        limit = translate_hf_config(cls, huggingface_config, config_source(model_config))[
            "max_positions"
        ]
        asked = model_config.max_length
        if asked is None:
            return limit
        if asked > limit:
            raise ConfigError(
                f"{config_source(model_config)}: --max-length {asked} exceeds the model's "
                f"position limit ({limit}, from n_positions/max_position_embeddings)"
            )
        return asked

    def get_max_seq_len(self) -> int:
        return self.max_seq_len

    def get_kv_params(self) -> KVCacheParams:
        return self.kv_params

    def finalize(self, *, state_dict: dict[str, Any], return_logits: ReturnLogits) -> None:
        """Completes what only the weights tell: whether the LM head is tied to the embedding,
        and which weights are stored in a block format."""
        self.return_logits = return_logits
        self.checkpoint_names = frozenset(state_dict)
        self.quantized = {
            name: encoding
            for name, value in state_dict.items()
            if (encoding := getattr(value, "quantization_encoding", None)) is not None
        }
        if self.lm_head_weight in state_dict:
            self.tie_word_embeddings = False
