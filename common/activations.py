"""Hugging Face activation names and the MAX op that computes each: one table.

A family serves the names it has verified (`activation_table(...)`); the keys of its table are
its supported set, so the refusal of any other name (`activation_refusal`) cannot drift from
what the graph computes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from max.graph import TensorValue, ops

from common.config import Refusal

Activation = Callable[[TensorValue], TensorValue]

ACTIVATIONS: Mapping[str, Activation] = MappingProxyType(
    {
        "gelu": lambda x: ops.gelu(x),
        "gelu_new": lambda x: ops.gelu(x, approximate="tanh"),
        "gelu_pytorch_tanh": lambda x: ops.gelu(x, approximate="tanh"),
        "gelu_fast": lambda x: ops.gelu(x, approximate="tanh"),
        "quick_gelu": lambda x: ops.gelu(x, approximate="quick"),
        "relu": ops.relu,
        "silu": ops.silu,
        "swish": ops.silu,
        "tanh": ops.tanh,
        "sigmoid": ops.sigmoid,
    }
)


def activation_table(*names: str) -> Mapping[str, Activation]:
    """The entries of `ACTIVATIONS` a family serves, read-only."""
    return MappingProxyType({name: ACTIVATIONS[name] for name in names})


def activation_refusal(key: str, table: Mapping[str, Activation]) -> Refusal:
    """Refuses config key `key` naming an activation outside `table`."""
    return Refusal(
        key,
        lambda v: v is None or v in table,
        f"supported activations: {', '.join(sorted(table))}",
    )
