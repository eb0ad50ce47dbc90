"""Times the pieces of a decoder layer alone on one device: GPT-2's projections, MLP and norm
beside the MAX Llama counterparts of the bench's equal-size Llama (hidden 768, MLP 2048), in
float32, at the bench's batch sizes (one decode token per sequence).

Each piece is one small MAX graph: an input x [m, K] and REPEAT independent sets of weights
(so nothing is shared or folded, and the weights stream from memory as in a 12-layer step),
returning REPEAT results. A graph runs RUNS times back to back, then the device synchronizes;
a piece's time is (that graph's time per run - the empty graph's) / REPEAT, in microseconds.
The empty graph (x + 1) carries the fixed cost of one run, launch included.

    python tools/op_bench.py --device gpu --out docs/results/op-bench-gpu-h200.json
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools.bench import gpu_name, seconds_per_run  # noqa: E402

log = logging.getLogger("op_bench")
HIDDEN, GPT2_INNER, LLAMA_INNER = 768, 3072, 2048
REPEAT, RUNS = 16, 20


@dataclass(frozen=True)
class Piece:
    """x [m, width] through weights of `shapes` (one set per repeat) by `apply`."""

    width: int
    shapes: tuple[tuple[int, ...], ...]
    apply: Callable[..., object]


def _linear(bias: bool, act: str | None = None) -> Callable[..., object]:
    def apply(x, w, *b):
        from max.graph import ops

        y = x @ w.T
        if bias:
            y = y + b[0]
        if act == "gelu_tanh":
            y = ops.gelu(y, approximate="tanh")
        return y

    return apply


def _gate_up_silu(x, w):
    from max.graph import ops

    gate, up = ops.split(x @ w.T, [LLAMA_INNER, LLAMA_INNER], axis=-1)
    return ops.silu(gate) * up


def _layer_norm(x, gamma, beta):
    from max.graph import ops

    return ops.layer_norm(x, gamma=gamma, beta=beta, epsilon=1e-5)


def _rms_norm(x, gamma):
    from max.graph import ops

    return ops.rms_norm(x, gamma, 1e-5)


# In the order they run, most telling first (a run cut short keeps what it finished).
PIECES: dict[str, Piece] = {
    "gpt2 mlp.c_proj (3072->768, bias)": Piece(
        GPT2_INNER, ((HIDDEN, GPT2_INNER), (HIDDEN,)), _linear(bias=True)
    ),
    "llama mlp.down_proj (2048->768)": Piece(LLAMA_INNER, ((HIDDEN, LLAMA_INNER),), _linear(False)),
    "gpt2 mlp.c_fc + gelu_tanh (768->3072, bias)": Piece(
        HIDDEN, ((GPT2_INNER, HIDDEN), (GPT2_INNER,)), _linear(bias=True, act="gelu_tanh")
    ),
    "llama mlp.gate_up + silu*up (768->2x2048)": Piece(
        HIDDEN, ((2 * LLAMA_INNER, HIDDEN),), _gate_up_silu
    ),
    "matmul 3072->768 (no bias)": Piece(GPT2_INNER, ((HIDDEN, GPT2_INNER),), _linear(False)),
    "matmul 768->3072 (no bias)": Piece(HIDDEN, ((GPT2_INNER, HIDDEN),), _linear(False)),
    "gpt2 attn.c_attn (768->2304, bias)": Piece(
        HIDDEN, ((3 * HIDDEN, HIDDEN), (3 * HIDDEN,)), _linear(bias=True)
    ),
    "gpt2 ln (layer_norm 768)": Piece(HIDDEN, ((HIDDEN,), (HIDDEN,)), _layer_norm),
    "llama norm (rms_norm 768)": Piece(HIDDEN, ((HIDDEN,),), _rms_norm),
}


def compile_piece(session, device_ref, piece: Piece | None, repeat: int):
    """The piece's graph (None: the empty graph) and its weight buffers' numpy values."""
    from max.dtype import DType
    from max.graph import Graph, TensorType

    width = piece.width if piece else HIDDEN
    shapes = [s for _ in range(repeat) for s in piece.shapes] if piece else []
    types = [TensorType(DType.float32, ["m", width], device=device_ref)]
    types += [TensorType(DType.float32, list(s), device=device_ref) for s in shapes]
    with Graph("piece", input_types=types) as graph:
        x, *weights = (v.tensor for v in graph.inputs)
        if piece is None:
            graph.output(x + 1.0)
        else:
            per = len(piece.shapes)
            graph.output(
                *(piece.apply(x, *weights[i * per : (i + 1) * per]) for i in range(repeat))
            )
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype(np.float32) * 0.02 for s in shapes]
    return session.load(graph), values


def time_runs(model, device, inputs) -> float:
    """Seconds per run of RUNS back-to-back runs (after three warm-up runs)."""
    return seconds_per_run(lambda: model.execute(*inputs), device, RUNS, warmups=3)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 128])
    p.add_argument("--pieces", nargs="+", default=list(PIECES), choices=list(PIECES))
    p.add_argument("--repeat", type=int, default=REPEAT)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "op-bench.json")
    args = p.parse_args()
    from max.driver import CPU, Accelerator, Buffer
    from max.engine import InferenceSession
    from max.graph import DeviceRef

    device = Accelerator() if args.device == "gpu" else CPU()
    device_ref = DeviceRef.GPU() if args.device == "gpu" else DeviceRef.CPU()
    session = InferenceSession(devices=[device])
    rng = np.random.default_rng(1)
    report: dict[str, object] = {
        "device": args.device,
        "machine": platform.processor() or platform.machine(),
        "gpu": gpu_name() if args.device == "gpu" else None,
        "encoding": "float32",
        "repeat": args.repeat,
        "runs": RUNS,
        "command": " ".join(sys.argv),
        "empty_us_per_run": {},
        "us_per_piece": {},
    }

    def x_of(width: int, m: int) -> Buffer:
        return Buffer.from_numpy(rng.standard_normal((m, width)).astype(np.float32)).to(device)

    t0 = time.perf_counter()
    empty, _ = compile_piece(session, device_ref, None, 0)
    log.info("empty graph compiled in %.1f s", time.perf_counter() - t0)
    base = {m: time_runs(empty, device, [x_of(HIDDEN, m)]) for m in args.batches}
    report["empty_us_per_run"] = {str(m): round(1e6 * t, 1) for m, t in base.items()}
    for name in args.pieces:
        piece = PIECES[name]
        t0 = time.perf_counter()
        model, values = compile_piece(session, device_ref, piece, args.repeat)
        log.info("%s compiled in %.1f s", name, time.perf_counter() - t0)
        weights = [Buffer.from_numpy(v).to(device) for v in values]
        report["us_per_piece"][name] = row = {}
        for m in args.batches:
            per_run = time_runs(model, device, [x_of(piece.width, m), *weights])
            row[str(m)] = round(1e6 * (per_run - base[m]) / args.repeat, 1)
        log.info("%s: %s us per piece at batch %s", name, row, args.batches)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
