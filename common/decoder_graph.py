"""The top module of a ragged, paged decoder graph: its inputs and how MAX traces it.

A family's top module subclasses `PositionedDecoder` and defines only its layers and
`hidden_states(tokens, positions, kv_collection, input_row_offsets)`, the final hidden states
before the last norm; the input tree (with per-token positions, see `common.decoder`), the
logits (MAX's `LogitsPostprocessMixin`: `norm`, `lm_head`, `return_logits`) and the tracing
are the same for all.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from max import tree
from max.graph import DeviceRef, Graph, TensorValue, Type, Value, Weight
from max.graph import Module as GraphModule
from max.nn.kv_cache import KVCacheInputsPerDevice, KVCacheParams, PagedCacheValues
from max.nn.layer import Module
from max.nn.transformer import LogitsPostprocessMixin

from common.decoder import decoder_input_tree


class PositionedDecoder(LogitsPostprocessMixin, Module):
    """Needs `self.config` with `kv_params` and `devices`, set by the subclass, and its
    `hidden_states(tokens, positions, kv_collection, input_row_offsets)`: [tokens, hidden]
    after the last block (before the final norm)."""

    config: Any
    hidden_states: Callable[..., TensorValue]

    def __call__(
        self,
        tokens: TensorValue,
        positions: TensorValue,
        kv_collection: PagedCacheValues,
        return_n_logits: TensorValue,
        input_row_offsets: TensorValue,
    ) -> tuple[TensorValue, ...]:
        h = self.hidden_states(tokens, positions, kv_collection, input_row_offsets)
        return self._postprocess_logits(h, input_row_offsets, return_n_logits)

    def checkpoint_weights(self) -> dict[str, Any]:
        """The weights a checkpoint feeds this graph (graph name to a weight with its shape and
        dtype): the graph's own and the vectors `graph_weights` folds away (`folded_vectors`)."""
        weights = self.raw_state_dict()
        config = self.config
        for name in self.folded_vectors():
            weights[name] = Weight(name, config.dtype, [config.hidden_size], device=DeviceRef.CPU())
        return weights

    def folded_vectors(self) -> list[str]:
        """The checkpoint's hidden-size vectors (norm biases, gains) that `graph_weights` folds
        into other weights, so the graph binds none of them: none unless a family says so."""
        return []

    def graph_weights(self, checked: Mapping[str, Any]) -> Mapping[str, Any]:
        """The checkpoint's weights, checked against `checkpoint_weights`, as the graph binds
        them."""
        return checked

    def input_tree(self) -> OrderedDict[str, object]:
        return decoder_input_tree(self.config.kv_params, self.config.devices[0])

    def trace(
        self,
        *input_types: Type[Any],
        name: str | None = None,
        module: GraphModule | None = None,
        custom_extensions: Iterable[Path] = (),
        is_device_graph: bool = False,
    ) -> Graph:
        kv_params: KVCacheParams = self.config.kv_params

        def forward(
            tokens: Value[Any],
            input_row_offsets: Value[Any],
            return_n_logits: Value[Any],
            positions: Value[Any],
            *kv_inputs: Value[Any],
        ) -> tuple[TensorValue, ...]:
            kv_collection = tree.leaves(
                kv_params.unflatten_kv_inputs(iter(kv_inputs)), leaf=KVCacheInputsPerDevice
            )[0]
            return self(
                tokens.tensor,
                positions.tensor,
                kv_collection,
                return_n_logits.tensor,
                input_row_offsets.tensor,
            )

        return Graph(
            name or type(self).__qualname__,
            forward,
            input_types=input_types,
            custom_extensions=list(custom_extensions),
            module=module,
            is_device_graph=is_device_graph,
        )
