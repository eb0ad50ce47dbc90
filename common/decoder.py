"""What every KV-cached decoder family shares: batch inputs, batching, the pipeline model.

A family's `model.py` subclasses `DecoderPipelineModel` and names its config and graph classes;
the rest (ragged batching, per-token positions, compile and execute) is here.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from max import tree
from max.driver import Buffer, Device
from max.dtype import DType
from max.engine import InferenceSession, Model
from max.graph import DeviceRef, TensorType
from max.graph.weights import Weights, WeightsAdapter
from max.nn.kv_cache import KVCacheInputs
from max.nn.kv_cache.cache_params import KVCacheParamInterface
from max.nn.transformer import ReturnLogits
from max.pipelines.context import TextContext
from max.pipelines.graph_input_stager import InputDescriptor
from max.pipelines.lib import (
    KVCacheConfig,
    ModelInputs,
    ModelOutputs,
    PipelineConfig,
    PipelineModelWithKVCache,
)
from max.pipelines.lib.graph_specs import GraphRole, GraphSpec
from max.pipelines.lib.interfaces.batch_processor import (
    RAGGED_INPUT_ROW_OFFSETS,
    RAGGED_INPUT_TOKENS,
    BatchProcessorRuntime,
    SingleReplicaRaggedBatchProcessor,
    build_single_replica_ragged_token_arrays,
    ragged_batch_inputs,
    single_replica_context_batch,
)
from max.pipelines.lib.log_probabilities import LogProbabilitiesMixin
from max.pipelines.lib.memory_estimation import MemoryPlan

from common.max_weights import conform_to_graph, load_adapted_state_dict

logger = logging.getLogger(__name__)


def decoder_input_tree(
    kv_params: KVCacheParamInterface, device: DeviceRef
) -> OrderedDict[str, object]:
    """The graph's named inputs: tokens, row offsets, logits count, positions, KV cache."""
    batch = ragged_batch_inputs(device)
    batch["positions"] = TensorType(DType.int64, shape=["total_seq_len"], device=device)
    return OrderedDict(batch=batch, kv=kv_params.get_symbolic_inputs())


def token_positions(context_batch: Sequence[TextContext], row_offsets: np.ndarray) -> np.ndarray:
    """Each active token's index in its own sequence, counting tokens already in the KV cache.

    Positions restart per sequence in a ragged batch (`row_offsets`: where each sequence's
    tokens start, and the total last) and continue across decode steps; a prefix-cache hit
    advances `processed_length` past the cached tokens, so it is counted too. Built whole-array
    (token t of the batch, in sequence s, sits at cached[s] + t - row_offsets[s]), not one range
    per sequence, whose cost grew with the batch (docs/BENCHMARKS.md).
    """
    cached = np.array([ctx.tokens.processed_length for ctx in context_batch], dtype=np.int64)
    if row_offsets[-1] == len(context_batch):  # a decode step: one new token per sequence
        return cached
    starts = row_offsets.astype(np.int64)
    return np.arange(starts[-1], dtype=np.int64) - np.repeat(starts[:-1] - cached, np.diff(starts))


@dataclass
class DecoderInputs(ModelInputs):
    """One step's graph inputs for a ragged batch."""

    tokens: Buffer
    input_row_offsets: Buffer
    return_n_logits: Buffer
    positions: Buffer

    @property
    def buffers(self) -> tuple[Buffer, ...]:
        batch = (self.tokens, self.input_row_offsets, self.return_n_logits, self.positions)
        kv = tree.leaves(self.kv_cache_inputs) if self.kv_cache_inputs is not None else ()
        return (*batch, *kv)


TOKEN_POSITIONS = "token_positions"
"""Staged device input holding each active token's position in its own sequence."""


class DecoderBatchProcessor(SingleReplicaRaggedBatchProcessor[TextContext, DecoderInputs]):
    """Ragged batching plus each token's position (a learned position table or rotary angles
    are gathered by it).

    Tokens, row offsets and positions are written into MAX's staging buffers (pinned host
    memory, one asynchronous copy into device buffers kept across steps), as MAX's own
    architectures do: a fresh `Buffer.from_numpy(...).to(device)` per input and step is a
    synchronous copy that keeps the host from preparing the next step while the GPU runs this one.
    """

    def __init__(self, config: Any, runtime: BatchProcessorRuntime) -> None:
        super().__init__(
            config,
            runtime,
            [
                InputDescriptor(
                    name=TOKEN_POSITIONS,
                    dtype=DType.int64,
                    max_shape=(runtime.max_batch_active_tokens,),
                    destinations=[runtime.devices[0]],
                )
            ],
        )
        self._return_n_logits: dict[int, Buffer] = {}

    def prepare_initial_token_inputs(
        self,
        replica_batches: Sequence[Sequence[TextContext]],
        kv_cache_inputs: KVCacheInputs[Buffer, Buffer] | None = None,
        return_n_logits: int = 1,
    ) -> DecoderInputs:
        context_batch = single_replica_context_batch(
            replica_batches, processor_name=type(self).__qualname__
        )
        tokens_np, offsets_np = build_single_replica_ragged_token_arrays(context_batch)
        positions_np = token_positions(context_batch, offsets_np)
        with self._stager.stage() as staging:
            host_tokens, (tokens,) = staging.get(RAGGED_INPUT_TOKENS, tokens_np.shape)
            host_offsets, (row_offsets,) = staging.get(RAGGED_INPUT_ROW_OFFSETS, offsets_np.shape)
            host_positions, (positions,) = staging.get(TOKEN_POSITIONS, positions_np.shape)
            host_tokens.to_numpy()[:] = tokens_np
            host_offsets.to_numpy()[:] = offsets_np
            host_positions.to_numpy()[:] = positions_np
        return DecoderInputs(
            tokens=tokens,
            input_row_offsets=row_offsets,
            return_n_logits=self._return_n_logits_buffer(return_n_logits),
            positions=positions,
            kv_cache_inputs=kv_cache_inputs,
        )

    def _return_n_logits_buffer(self, count: int) -> Buffer:
        """One host buffer per distinct count, so a graph-capture replay has nothing to
        refresh for it."""
        if count not in self._return_n_logits:
            self._return_n_logits[count] = Buffer.from_numpy(np.array([count], dtype=np.int64))
        return self._return_n_logits[count]


class DecoderPipelineModel(
    LogProbabilitiesMixin, PipelineModelWithKVCache[TextContext, Any, Model]
):
    """Compiles a family's graph module over the ragged-batch inputs and runs it.

    Subclasses set `model_config_cls` (whose `finalize(state_dict, return_logits)` completes
    the config from the weights) and `graph_cls` (a `max.nn` module taking that config, with an
    `input_tree()` and `trace()`).
    """

    batch_processor_cls = DecoderBatchProcessor
    graph_cls: ClassVar[type[Any]]
    graph_name: ClassVar[str] = "decoder"

    def __init__(
        self,
        pipeline_config: PipelineConfig,
        session: InferenceSession,
        devices: list[Device],
        kv_cache_config: KVCacheConfig,
        weights: Weights,
        *,
        memory_plan: MemoryPlan,
        adapter: WeightsAdapter | None = None,
        return_logits: ReturnLogits = ReturnLogits.LAST_TOKEN,
        max_batch_size: int = 1,
    ) -> None:
        super().__init__(
            pipeline_config,
            session,
            devices,
            kv_cache_config,
            weights,
            adapter=adapter,
            return_logits=return_logits,
            max_batch_size=max_batch_size,
            memory_plan=memory_plan,
        )
        self._models = self.load_graphs(session)

    @property
    def model(self) -> Model:
        return self._models[GraphRole.DECODER]

    def _create_model_config(self, state_dict: dict[str, Any]) -> Any:
        config = self.arch_config
        config.finalize(state_dict=state_dict, return_logits=self.return_logits)
        return config

    def graph_specs(self, model_config: Any) -> dict[str, GraphSpec]:
        if len(self.devices) > 1:
            raise ValueError(f"{type(self).__name__} runs on one device; got {len(self.devices)}")
        module = self.graph_cls(model_config)
        checked = conform_to_graph(
            self._state_dict,
            module.checkpoint_weights(),
            source=str(self.pipeline_config.model.model_path),
            notes=model_config.defaulted_notes(),
        )
        module.load_state_dict(module.graph_weights(checked), weight_alignment=1, strict=True)
        self._state_dict = {}
        return {
            GraphRole.DECODER: GraphSpec(
                module,
                self.graph_name,
                self._bind_graph_inputs(module.input_tree()),
                weights=module.state_dict(),
            )
        }

    def _load_state_dict(self) -> dict[str, Any]:
        self._state_dict = load_adapted_state_dict(self)
        return self._state_dict

    def execute(self, model_inputs: ModelInputs) -> ModelOutputs:
        assert isinstance(model_inputs, DecoderInputs)
        outputs = self.model.execute(*model_inputs.buffers)
        assert self.batch_processor is not None
        return self.batch_processor.process_outputs(outputs)
