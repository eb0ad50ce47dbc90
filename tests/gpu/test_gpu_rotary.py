"""common.rotary's graph rotation on the GPU in each encoding's dtype, against the numpy
reference on the same (rounded) inputs: isolates the rotary step of the rotary decoders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from max.dtype import DType

from common.rotary import RotaryTable, apply_rotary, rotary_dim_of, rotary_tables, rotate_numpy

from .conftest import gpu_encodings

HEAD_DIM, HEADS, POSITIONS = 16, 3, 300
# The rotation runs in float32 (a few float32 eps of the inputs' size), then the output is cast
# to the dtype (half an ulp of the result: 2**-9 relative for bfloat16; 2**-8 allows both).
REL = {"bfloat16": 2.0**-8, "float16": 2.0**-11, "float32": 0.0}
FLOAT32_EPS = 2.0**-23


@pytest.mark.slow
@pytest.mark.parametrize("rotary_pct", [0.25, 1.0])
@pytest.mark.parametrize("encoding", gpu_encodings())
def test_rotation_on_gpu_matches_numpy(encoding, rotary_pct):
    from max.driver import Accelerator, Buffer
    from max.engine import InferenceSession
    from max.graph import DeviceRef, Graph, TensorType

    dtype = {"bfloat16": DType.bfloat16, "float16": DType.float16, "float32": DType.float32}
    dim = rotary_dim_of(HEAD_DIM, rotary_pct)
    device = DeviceRef.GPU()
    table = RotaryTable(dim, POSITIONS, 10000.0, device)
    with Graph(
        "rotary_gpu",
        input_types=[
            TensorType(DType.float32, ["tokens", HEADS, HEAD_DIM], device=device),
            TensorType(DType.int64, ["tokens"], device=device),
        ],
    ) as graph:
        x, positions = (v.tensor for v in graph.inputs)
        cos, sin = table(positions)
        rotated = apply_rotary(x.cast(dtype[encoding]), cos, sin)
        graph.output(rotated.cast(DType.float32))
    gpu = Accelerator()
    model = InferenceSession(devices=[gpu]).load(graph)

    rng = np.random.default_rng(3)
    positions_np = np.array([0, 1, 5, 6, 127, 128, 150, 299], dtype=np.int64)
    x_np = rng.standard_normal((len(positions_np), HEADS, HEAD_DIM)).astype(np.float32)
    torch_dtype = getattr(torch, encoding)
    x_rounded = torch.from_numpy(x_np).to(torch_dtype).float().numpy()
    (out,) = model.execute(
        Buffer.from_numpy(x_np).to(gpu), Buffer.from_numpy(positions_np).to(gpu)
    )
    cos_np, sin_np = rotary_tables(dim, POSITIONS, 10000.0)
    expected = rotate_numpy(x_rounded, cos_np[positions_np], sin_np[positions_np])
    got = out.to_numpy()
    bound = REL[encoding] * np.abs(expected) + 4 * FLOAT32_EPS * np.abs(x_rounded).max()
    worst = float(np.max(np.abs(got - expected) / bound))
    assert worst <= 1.0, f"{encoding}: rotation off by {worst:.3g} x the rounding bound"
