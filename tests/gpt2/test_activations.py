"""Every activation in the GPT-2 family's ACTIVATIONS table, as the MAX graph computes it,
against Hugging Face's ACT2FN evaluated in float64.

All activations share one small graph (one compile, seconds) rather than one GPT-2 pipeline
each (about two minutes of cold compile per activation on a CPU); the model-level parity tests
cover gelu_new and gelu end to end. The list comes from the table itself, so an activation
added there is tested here without an edit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers.activations import ACT2FN

from families.gpt2.gpt2 import ACTIVATIONS

EPS32 = float(np.finfo(np.float32).eps)
# Every float32 activation is x * g(x) or g(x) with |g| <= 1 (or relu, exact): an error of a few
# ulp in g, or in g's float32 argument (1.702 x, x + 0.044715 x^3), moves f by at most
# ULPS * eps32 * max(1, |x|).
ULPS = 8
NAMES = sorted(ACTIVATIONS)
# Past |x| = 10 every listed activation is flat or linear to float32 precision.
X = np.concatenate([np.linspace(-10.0, 10.0, 2001), [-1e-3, 1e-3, 1e-6]]).astype(np.float32)


@pytest.fixture(scope="module")
def max_outputs() -> dict[str, np.ndarray]:
    """{name: ACTIVATIONS[name](X)} from one MAX graph on the CPU, in float32."""
    from max.driver import CPU, Buffer
    from max.dtype import DType
    from max.engine import InferenceSession
    from max.graph import DeviceRef, Graph, TensorType

    device = DeviceRef.CPU()
    input_type = TensorType(DType.float32, [len(X)], device=device)
    with Graph("gpt2_activations", input_types=[input_type]) as graph:
        x = graph.inputs[0].tensor
        graph.output(*(ACTIVATIONS[name](x) for name in NAMES))
    model = InferenceSession(devices=[CPU()]).load(graph)
    outputs = model.execute(Buffer.from_numpy(X))
    return {name: out.to_numpy() for name, out in zip(NAMES, outputs, strict=True)}


def hf_reference(name: str) -> np.ndarray:
    with torch.no_grad():
        return ACT2FN[name](torch.from_numpy(X.astype(np.float64))).numpy()


def excess(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|got - ref| in units of the float32 bound: above 1 is more than rounding explains."""
    bound = ULPS * EPS32 * np.maximum(1.0, np.abs(X.astype(np.float64)))
    return np.abs(got.astype(np.float64) - ref) / bound


@pytest.mark.parametrize("name", NAMES)
def test_activation_matches_hugging_face(name, max_outputs):
    ratio = excess(max_outputs[name], hf_reference(name))
    worst = int(np.argmax(ratio))
    assert ratio[worst] <= 1.0, (
        f"{name}: at x={X[worst]:.6g} MAX gives {max_outputs[name][worst]:.9g}, Hugging Face "
        f"{hf_reference(name)[worst]:.9g}: {ratio[worst]:.3g}x the {ULPS}-ulp bound"
    )


@pytest.mark.parametrize("name", NAMES)
def test_bound_tells_every_other_activation_apart(name, max_outputs):
    """Mapping `name` to another entry's op would fail: the bound is tighter than the gap
    between any two activations Hugging Face computes differently (aliases excepted)."""
    got = max_outputs[name]
    for other in NAMES:
        ref = hf_reference(other)
        if excess(hf_reference(name).astype(np.float32), ref).max() <= 1.0:
            continue  # the same function under another name (silu/swish, the tanh gelus)
        ratio = excess(got, ref).max()
        assert ratio > 1.0, f"{name}'s op passes as {other} ({ratio:.3g}x the bound)"
