"""A projection's matrix product as a kernel of its own.

MAX's graph compiler folds the elementwise ops that read a matmul's product (a bias, an
activation, a residual) into the matmul's epilogue. On an H200 in float32 such an epilogue made
the matmul slower than MAX's plain kernel plus one separate elementwise kernel (c_fc with its
bias and GELU: docs/BENCHMARKS.md). MAX does not fuse across a subgraph's boundary, so the
product computed in a subgraph runs MAX's plain kernel and what reads it runs after.
"""

from __future__ import annotations

import re

from max.graph import Graph, TensorValue, ops
from max.nn.linear import Linear, linear


def product(layer: Linear, x: TensorValue) -> TensorValue:
    """x through `layer`'s matrix (float, or GGUF blocks), without its bias."""
    return linear(x, layer.weight.to(x.device), layer.weight.quantization_encoding)


def biased(layer: Linear, product: TensorValue) -> TensorValue:
    """`product` (x through `layer`'s matrix) plus the layer's bias, where it has one."""
    return product if layer.bias is None else product + TensorValue(layer.bias)


def product_alone(layer: Linear, x: TensorValue) -> TensorValue:
    """`product(layer, x)` computed in a subgraph, so nothing that reads it joins its kernel.
    One subgraph serves every matrix of the same type and encoding (each is passed in)."""
    weight = layer.weight.to(x.device)
    encoding = layer.weight.quantization_encoding
    graph = Graph.current
    name = re.sub(r"\W+", "_", f"product_{x.type}_{weight.type}_{encoding}")
    # MAX 26.7 keeps a graph's subgraphs by name and has no public lookup.
    subgraph = graph._subgraphs.get(name)
    if subgraph is None:
        with graph.add_subgraph(name, input_types=[x.type, weight.type]) as subgraph:
            inner_x, inner_weight = (value.tensor for value in subgraph.inputs[:2])
            subgraph.output(linear(inner_x, inner_weight, encoding))
    return ops.call(subgraph, x, weight)[0].tensor
