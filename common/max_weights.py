"""Between MAX's weight objects and the mapping tables: numpy views in, `WeightData` out,
and the final check of a state dict against the graph that will bind it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from max.driver import Buffer
from max.dtype import DType
from max.graph.weights import WeightData, Weights

from common.logs import family_logger
from common.mapping import (
    MappingTable,
    WeightMappingError,
    apply_mapping,
    check_weights,
    normalize_dtype,
)
from common.safe_load import check_safetensors

logger = family_logger(__name__)

# numpy has no bfloat16: such tensors travel as their 16-bit patterns (layout ops are exact).
_BIT_VIEWS = MappingProxyType({DType.bfloat16: DType.uint16})


def numpy_view(weight: WeightData) -> tuple[np.ndarray, DType]:
    """The tensor as a numpy array (zero-copy where possible) and its real dtype."""
    carrier = _BIT_VIEWS.get(weight.dtype)
    if carrier is None:
        return np.from_dlpack(weight.data), weight.dtype
    return Buffer.from_dlpack(weight.data).view(carrier).to_numpy(), weight.dtype


def weight_from_numpy(array: np.ndarray, dtype: DType | None, name: str) -> WeightData:
    """`array` as a weight; `dtype` names the real dtype of a bit-pattern carrier (bfloat16
    travelling as uint16), otherwise the array's own dtype is the weight's."""
    array = np.ascontiguousarray(array)
    if dtype in _BIT_VIEWS:
        return WeightData(Buffer.from_numpy(array).view(dtype), name, dtype, array.shape)
    return WeightData.from_numpy(array, name)


def check_weight_files(pipeline_config: Any) -> None:
    """Validates every safetensors file's header and sizes before any tensor is read.

    MAX maps the files lazily; reading a tensor of a truncated file kills the process with a
    segmentation fault and no message, so this must run before the first `.data()`.
    """
    for path in pipeline_config.model.resolved_weight_paths():
        if Path(path).suffix == ".safetensors":
            check_safetensors(path)


class MappedWeights(dict[str, WeightData]):
    """Graph-named weights that remember the mapping table that named them, so the check
    against the graph (which sees graph names only) can name the checkpoint tensor behind a
    missing or wrong weight."""

    def __init__(self, weights: Mapping[str, WeightData], table: MappingTable) -> None:
        super().__init__(weights)
        self.table = table


def _with_checkpoint_name(graph_name: str, table: MappingTable | None) -> str:
    checkpoint = table.checkpoint_name(graph_name) if table is not None else None
    if checkpoint is None or checkpoint == graph_name:
        return graph_name
    return f"{graph_name} (checkpoint tensor {checkpoint})"


def load_adapted_state_dict(model: Any) -> dict[str, Any]:
    """A `PipelineModel`'s weights through its family's adapter, given both configs.

    MAX 26.7 calls a weight adapter with the state dict alone. Ours need the pipeline config
    (to validate the safetensors files before a tensor is read, and to name the checkpoint in
    errors) and the model's arch config (whether its head is tied, and that head's name), so
    families load through here.
    """
    pipeline_config = model.pipeline_config
    weights = dict(model.weights.items())
    if model.adapter is None:
        check_weight_files(pipeline_config)
        state_dict = {name: value.data() for name, value in weights.items()}
    else:
        state_dict = model.adapter(
            weights,
            huggingface_config=pipeline_config.model.huggingface_config,
            pipeline_config=pipeline_config,
            arch_config=model.arch_config,
        )
    log_load_cast(pipeline_config.model.weight_path, state_dict.values(), model.dtype)
    return state_dict


def log_load_cast(files: Sequence[Any], weights: Any, served: DType) -> None:
    """One line when float weights are stored in another dtype than the graph serves (a float16
    or bfloat16 checkpoint on a float32 graph): `conform_to_graph` casts them."""
    stored = sorted(
        {normalize_dtype(w.dtype) for w in weights if w.dtype.is_float() and w.dtype != served}
    )
    if not stored:
        return
    names = sorted(Path(f).name for f in files)
    where = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more shards"
    stores = "stores" if len(names) == 1 else "store"
    logger.info(
        "%s %s %s; casting to %s at load",
        where, stores, " and ".join(stored), normalize_dtype(served),
    )


def adapt_checkpoint(
    state_dict: Mapping[str, Weights],
    table: MappingTable,
    *,
    ctx: Mapping[str, Any] | None = None,
    pipeline_config: Any = None,
) -> MappedWeights:
    """Runs a family's mapping table over a MAX checkpoint; transforms see numpy arrays.

    With the pipeline config, the weight files are validated first and errors name the
    checkpoint.
    """
    source = "checkpoint"
    if pipeline_config is not None:
        source = str(pipeline_config.model.model_path)
        check_weight_files(pipeline_config)
    arrays: dict[str, np.ndarray] = {}
    dtypes: set[DType] = set()
    for name, weights in state_dict.items():
        arrays[name], dtype = numpy_view(weights.data())
        dtypes.add(dtype)
    mapped = apply_mapping(arrays, table, ctx=ctx, source=source)
    # Layout ops keep the numpy dtype, so only carriers need their real dtype back. The hub's
    # GPT-2 stores bool mask buffers beside its weights: the dtype is not one per checkpoint.
    carried = {
        np.dtype(carrier.to_numpy()): real for real, carrier in _BIT_VIEWS.items() if real in dtypes
    }
    return MappedWeights(
        {
            name: weight_from_numpy(array, carried.get(array.dtype), name)
            for name, array in mapped.items()
        },
        table,
    )


@dataclass(frozen=True)
class TableAdapter:
    """A family's safetensors weight adapter (`weight_adapters=` of its registration).

    It runs the mapping table named `table` in module `module`, looked up at call time so the
    bring-up tools can swap a table for one run, and drops the stored head that the arch
    config ties to the embedding (its `tied_head`): Hugging Face ignores that copy, and so do
    we. Whether the head is tied, and its name, are the arch config's to say.
    """

    module: str
    table: str
    # Called with the pipeline config before any tensor is read: a family's own refusal.
    check: Callable[[Any], None] | None = None

    def mapping_table(self) -> MappingTable:
        return getattr(importlib.import_module(self.module), self.table)

    def __call__(
        self,
        state_dict: Mapping[str, Weights],
        huggingface_config: Any = None,
        pipeline_config: Any = None,
        arch_config: Any = None,
        **_: Any,
    ) -> MappedWeights:
        if self.check is not None and pipeline_config is not None:
            self.check(pipeline_config)
        table = self.mapping_table()
        weights = adapt_checkpoint(
            state_dict, table, ctx=transform_context(arch_config), pipeline_config=pipeline_config
        )
        return drop_tied_head(weights, arch_config)


def drop_tied_head(weights: MappedWeights, arch_config: Any) -> MappedWeights:
    """`weights` without the stored head the arch config ties to the embedding (its
    `tied_head`; encoder configs have no LM head): Hugging Face ignores that copy."""
    tied_head = getattr(arch_config, "tied_head", None)
    if tied_head is not None:
        weights.pop(tied_head, None)
    return weights


# The arch config's sizes that row transforms read (`common.transforms`, "_rule" adapters).
CONTEXT_FIELDS = ("num_heads", "head_dim")


def transform_context(sizes: Any) -> dict[str, Any]:
    """The sizes a row transform reads, as the arch config (or its translated fields, a
    mapping) decided them; none without one."""
    if isinstance(sizes, Mapping):
        found = {name: sizes.get(name) for name in CONTEXT_FIELDS}
    else:
        found = {name: getattr(sizes, name, None) for name in CONTEXT_FIELDS}
    return {name: value for name, value in found.items() if value is not None}


def conform_to_graph(
    state_dict: Mapping[str, WeightData],
    graph_weights: Mapping[str, Any],
    *,
    source: str,
    notes: list[str] | None = None,
) -> dict[str, WeightData]:
    """Checks every graph weight is fed with the right shape, casting floats to the graph dtype.

    All problems are reported together; an error names each tensor, expected and found, and
    ends with `notes` (what the config left to defaults, say).
    """
    table = state_dict.table if isinstance(state_dict, MappedWeights) else None
    specs = {name: (list(weight.shape), weight.dtype) for name, weight in graph_weights.items()}
    missing, mismatched, unmapped = check_weights(state_dict, specs, casts_floats=True)
    if missing or unmapped or mismatched:
        raise WeightMappingError(
            source,
            unexpected=sorted(unmapped),
            missing=sorted(_with_checkpoint_name(name, table) for name in missing),
            mismatched=[
                (_with_checkpoint_name(name, table), want, found)
                for name, want, found in mismatched
            ],
            notes=notes,
        )
    # Floats are cast to the graph's dtype (the check let nothing else through).
    out: dict[str, WeightData] = {}
    for name, weight in graph_weights.items():
        value = state_dict[name]
        out[name] = value if value.dtype == weight.dtype else value.astype(weight.dtype)
    return out
