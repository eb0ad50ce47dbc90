"""common.rotary's graph rotation on the GPU in each encoding's dtype, against the numpy
reference on the same inputs: isolates the rotary step of the rotary decoders.

Inputs and outputs cross the graph boundary in the dtype itself (bfloat16 as its 16-bit
pattern), so the only casts on the GPU are the ones under test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from max.dtype import DType

from common.rotary import RotaryTable, apply_rotary, rotary_dim_of, rotary_tables, rotate_numpy

from .conftest import gpu_encodings

HEAD_DIM, HEADS, POSITIONS = 16, 3, 300
DTYPES = {"bfloat16": DType.bfloat16, "float16": DType.float16, "float32": DType.float32}
# Relative rounding of one operation in each dtype (one ulp, twice the half-ulp bound).
ULP = {"bfloat16": 2.0**-8, "float16": 2.0**-11, "float32": 2.0**-23}
POSITIONS_USED = np.array([0, 1, 5, 6, 127, 128, 150, 299], dtype=np.int64)


def to_buffer(x: np.ndarray, encoding: str, device):
    from max.driver import Buffer

    if encoding == "bfloat16":
        bits = torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
        return Buffer.from_numpy(bits).view(DType.bfloat16).to(device)
    return Buffer.from_numpy(x.astype(encoding)).to(device)


def from_buffer(buffer, encoding: str) -> np.ndarray:
    if encoding == "bfloat16":
        bits = buffer.to(buffer.device).view(DType.uint16).to_numpy()
        return torch.from_numpy(bits.view(np.int16)).view(torch.bfloat16).float().numpy()
    return buffer.to_numpy().astype(np.float32)


def run_graph(build, encoding: str, x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    from max.driver import CPU, Accelerator, Buffer
    from max.engine import InferenceSession
    from max.graph import DeviceRef, Graph, TensorType

    device = DeviceRef.GPU()
    with Graph(
        "rotary_gpu",
        input_types=[
            TensorType(DTYPES[encoding], ["tokens", HEADS, HEAD_DIM], device=device),
            TensorType(DType.int64, ["tokens"], device=device),
        ],
    ) as graph:
        x_in, positions_in = (v.tensor for v in graph.inputs)
        graph.output(build(x_in, positions_in, device))
    gpu = Accelerator()
    model = InferenceSession(devices=[gpu]).load(graph)
    (out,) = model.execute(to_buffer(x, encoding, gpu), Buffer.from_numpy(positions).to(gpu))
    return from_buffer(out.to(CPU()), encoding)


def inputs(encoding: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((len(POSITIONS_USED), HEADS, HEAD_DIM)).astype(np.float32)
    rounded = torch.from_numpy(x).to(getattr(torch, encoding)).float().numpy()
    return rounded, POSITIONS_USED


@pytest.mark.slow
@pytest.mark.parametrize("rotate_in", ["float32", "dtype"])
@pytest.mark.parametrize("rotary_pct", [0.25, 1.0])
@pytest.mark.parametrize("encoding", gpu_encodings())
def test_rotation_on_gpu_matches_numpy(encoding, rotary_pct, rotate_in):
    """Rotating in float32 (the families' choice) rounds once, at the output; rotating in the
    dtype (Hugging Face's way) rounds each product and sum too: 4 ulps of the inputs."""
    dim = rotary_dim_of(HEAD_DIM, rotary_pct)
    table_dtype = DType.float32 if rotate_in == "float32" else DTYPES[encoding]

    def build(x, positions, device):
        cos, sin = RotaryTable(dim, POSITIONS, 10000.0, device)(positions, table_dtype)
        return apply_rotary(x, cos, sin)

    x, positions = inputs(encoding)
    got = run_graph(build, encoding, x, positions)
    cos_np, sin_np = rotary_tables(dim, POSITIONS, 10000.0)
    expected = rotate_numpy(x, cos_np[positions], sin_np[positions])
    ulps = 1 if rotate_in == "float32" else 4
    bound = ulps * ULP[encoding] * np.abs(x).max() + 4 * ULP["float32"] * np.abs(x).max()
    worst = float(np.max(np.abs(got - expected)))
    assert worst <= bound, f"{encoding}, rotate in {rotate_in}: off by {worst:.3g} > {bound:.3g}"


@pytest.mark.slow
@pytest.mark.parametrize("encoding", gpu_encodings())
def test_cast_of_a_channel_slice_on_gpu(encoding):
    """The casts the float32 rotation adds, alone: a slice of the head to float32 and back."""

    def build(x, positions, device):
        return x[:, :, 2:6].cast(DType.float32).cast(x.dtype)

    x, positions = inputs(encoding)
    got = run_graph(build, encoding, x, positions)
    np.testing.assert_array_equal(got, x[:, :, 2:6])
