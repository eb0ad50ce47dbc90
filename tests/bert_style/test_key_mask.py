"""The encoder's additive key mask in every float dtype, run on the CPU as MAX graph ops (MAX
runs float16 and bfloat16 elementwise ops there, though it serves only float32 pipelines).

A padded key's score must be the dtype's most negative finite value and a real key's exactly
0: float32's lowest cast to float16 is -inf, and 0 * -inf made every score NaN on the GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
from max.driver import CPU, Buffer
from max.dtype import DType
from max.engine import InferenceSession
from max.graph import DeviceRef, Graph, TensorType, ops

from families.bert_style.encoder import LOWEST, additive_key_mask

MASK = np.array([[1, 1, 0], [1, 0, 0]], np.float32)


def run_mask(dtype: DType) -> np.ndarray:
    mask_type = TensorType(DType.float32, ["batch", "seq"], device=DeviceRef.CPU())
    with Graph("key_mask", input_types=[mask_type]) as graph:
        graph.output(ops.cast(additive_key_mask(graph.inputs[0].tensor, dtype), DType.float32))
    model = InferenceSession(devices=[CPU()]).load(graph)
    return model.execute(Buffer.from_numpy(MASK))[0].to_numpy()


@pytest.mark.parametrize("dtype", [DType.float32, DType.float16, DType.bfloat16])
def test_padded_keys_get_the_lowest_finite_score(dtype):
    out = run_mask(dtype).reshape(MASK.shape)
    assert np.isfinite(out).all(), f"{dtype}: {out}"
    np.testing.assert_array_equal(out[MASK == 1], 0.0)
    np.testing.assert_array_equal(out[MASK == 0], np.float32(LOWEST[dtype]))


def test_float16_lowest_is_finite_there():
    assert LOWEST[DType.float16] == -65504.0
    assert LOWEST[DType.bfloat16] == -(2 - 2**-7) * 2.0**127
