"""Benchmark: our GPT-2 on MAX (a) vs Hugging Face generate() (b) vs MAX's own Llama (c).

Workload (issue: benchmarks): the GPT-2 124M shape (`GPT2Config()` defaults, random weights),
a 128-token prompt, 128 new tokens, greedy, EOS ignored, batch sizes 1, 8, 32; (c) is a
`LlamaForCausalLM` of the same size (hidden 768, 12 layers, 12 heads, MLP 2048 so the
parameter counts match). All run in this process on the same device and dtype.

More systems (GPU speed issue): `max-neox`, `max-phi` (families.llama_style, hidden 768,
12 layers, 12 heads, MLP 3072 as GPT-2's), and `max-gpt2x1` (GPT-2 with one layer: the
per-step floor of the same inputs, embedding and head), `max-gpt2fusedqkv` (GPT-2 whose c_attn
stores k and v from MAX's fused_qkv_ragged_matmul, as shipped before: an A/B of the plain matmul
and split-and-store kernel), and, for where a layer's time goes,
`max-gpt2noattn`, `max-gpt2nomlp`, `max-gpt2relu`, `max-gpt2nobias` (GRAPH_VARIANTS: other
functions, speed only), and the same function written otherwise: `max-gpt2projepilogue` (the
block before 3077174), `max-gpt2lateres`, `max-gpt2sigmoid`, `max-gpt2fcepilogue`,
`max-gpt2qkvalone`, `max-gpt2layernorm` (the blocks' LayerNorms, before the centered stream);
`max-neoxlayernorm`, `max-philayernorm` (ROTARY_VARIANTS: the same for GPT-NeoX and Phi).
`--graph-capture` picks the MAX modes (MODES): without capture (`<system>`); captured graphs
replayed one synchronous step at a time (`<system>+capture`, AutoModel's default with
capture); and as `max serve` and `max generate` run a GPU by default (`<system>+served`:
capture with the overlap scheduler active, so the host prepares step n+1 while the GPU runs
step n). `both` is the first two, `all` the three. E.g.

    python tools/bench.py --device gpu --batches 1 8 32 128 \
        --systems max-gpt2 max-llama max-gpt2x1 --graph-capture all --host-profile \
        --out docs/results/bench-gpu-h200-capture.json

`--repeats N` times each run N times and keeps the median; `--rounds R` loads and times every
system R times, in reverse order every other round, and keeps the median round (on the GPU
one load's whole-step times differ from the next load's, and the system loaded first ran
slower at batch 1: docs/BENCHMARKS.md, 58aca1c); `--host-profile` adds, per MAX system and
batch, where the host's time goes in one more 128-token run (cProfile, its top
functions by own time, in microseconds per decode step).

MAX runs through `AutoModel.generate` (one ragged batch, the engine's own batching).
Time to first token = a run with 1 new token; time per output token = (full - first) / 127.
Decode tokens/s = batch * 127 / (full - first). Figures are ratios against (c) and (b).

    python tools/bench.py --device cpu --batches 1 8 --out docs/bench-cpu.json
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import logging
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
log = logging.getLogger("bench")
PROMPT_LEN = 128
NEW_TOKENS = 128
# The packages each MAX system's checkpoint runs with (none: MAX's own architecture).
FAMILIES = {
    "gpt2": ["families.gpt2"],
    "gpt2x1": ["families.gpt2"],
    "neox": ["families.llama_style"],
    "phi": ["families.llama_style"],
    "llama": [],
}


def build_checkpoints(root: Path, names: set[str]) -> dict[str, Path]:
    import torch
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        GPTNeoXConfig,
        GPTNeoXForCausalLM,
        LlamaConfig,
        LlamaForCausalLM,
        PhiConfig,
        PhiForCausalLM,
    )

    from tooling.checkpoints import build_tokenizer

    torch.manual_seed(0)
    out = {}
    same_size = {
        "vocab_size": 50257,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "max_position_embeddings": 1024,
        "tie_word_embeddings": True,
        "bos_token_id": 0,
        "eos_token_id": 0,
    }
    recipes = {
        "gpt2": lambda: GPT2LMHeadModel(GPT2Config()),
        "gpt2x1": lambda: GPT2LMHeadModel(GPT2Config(n_layer=1)),
        "llama": lambda: LlamaForCausalLM(
            LlamaConfig(**same_size, intermediate_size=2048, num_key_value_heads=12)
        ),
        "neox": lambda: GPTNeoXForCausalLM(GPTNeoXConfig(**same_size, intermediate_size=3072)),
        "phi": lambda: PhiForCausalLM(PhiConfig(**same_size, intermediate_size=3072)),
    }
    for name in sorted(names):
        model = recipes[name]().eval()
        path = root / name
        model.save_pretrained(path, safe_serialization=True)
        build_tokenizer(path, kind="bpe", vocab_size=50257, special_tokens="gpt2")
        out[name] = path
        log.info("%s: %.1fM parameters", name, sum(p.numel() for p in model.parameters()) / 1e6)
    return out


Patch = tuple[object, str, object]  # (class or module, attribute, replacement)


def _fused_qkv_projection(gpt2) -> list[Patch]:
    """c_attn through MAX's fused_qkv_ragged_matmul, which stores k and v from the matmul (the
    graph before f73505e's step profile)."""
    from max.graph import TensorValue

    from common.attention import fused_qkv_attention

    def attention(self, x, kv_collection, input_row_offsets, rotation):
        attn = fused_qkv_attention(
            self.kv_params,
            layer=self.layer,
            x=x,
            wqkv=TensorValue(self.c_attn.weight),
            bias=TensorValue(self.c_attn.bias),
            num_heads=self.num_heads,
            kv_collection=kv_collection,
            input_row_offsets=input_row_offsets,
            scale=self.scale,
        )
        return gpt2.product(self.c_proj, attn)

    return [(gpt2.GPT2Attention, "__call__", attention)]


def _without_attention(gpt2) -> list[Patch]:
    def block(self, x, kv_collection, input_row_offsets, rotation):
        return x + self.mlp(self.ln_2(x))

    return [(gpt2.GPT2Block, "__call__", block)]


def _without_mlp(gpt2) -> list[Patch]:
    def block(self, x, kv_collection, input_row_offsets, rotation):
        a = self.attn(self.ln_1(x), kv_collection, input_row_offsets, rotation)
        return x + (a + self.attn.output_bias)

    return [(gpt2.GPT2Block, "__call__", block)]


def _activation(gpt2, act) -> list[Patch]:
    """GPT-2's MLP with `act` in place of the checkpoint's activation."""
    mlp_init = gpt2.GPT2MLP.__init__

    def init(self, *args, **kwargs):
        mlp_init(self, *args, **kwargs)
        self.act = act

    return [(gpt2.GPT2MLP, "__init__", init)]


def _relu_activation(gpt2) -> list[Patch]:
    from max.graph import ops

    return _activation(gpt2, ops.relu)


def _without_biases(gpt2) -> list[Patch]:
    """Every projection of a block without its bias (MAX's Llama has none)."""
    unbiased = gpt2.product

    def qkv(self, x):
        return unbiased(self.c_attn, x)

    def mlp(self, x):
        return unbiased(self.c_proj, self.act(unbiased(self.c_fc, x)))

    def block(self, x, kv_collection, input_row_offsets, rotation):
        a = self.attn(self.ln_1(x), kv_collection, input_row_offsets, rotation)
        return x + (a + self.mlp(self.ln_2(x + a)))

    return [
        (gpt2.GPT2Attention, "project_qkv", qkv),
        (gpt2.GPT2MLP, "__call__", mlp),
        (gpt2.GPT2Block, "__call__", block),
    ]


def _projection_epilogue(gpt2) -> list[Patch]:
    """c_proj with its bias, then the residual added to it and the sum materialized: MAX folds
    both adds into c_proj's matmul (the graph before the aee1ca1 step profile)."""

    def block(self, x, kv_collection, input_row_offsets, rotation):
        a = self.attn(self.ln_1(x), kv_collection, input_row_offsets, rotation)
        h = x + (a + self.attn.output_bias)
        return h + self.mlp(self.ln_2(h))

    return [(gpt2.GPT2Block, "__call__", block)]


def _late_residual(gpt2) -> list[Patch]:
    """c_proj's bias in its matmul's epilogue, the residual added where it is read:
    x + (a + mlp(ln_2(x + a))) with a = attention + bias."""

    def block(self, x, kv_collection, input_row_offsets, rotation):
        a = self.attn(self.ln_1(x), kv_collection, input_row_offsets, rotation)
        a = a + self.attn.output_bias
        return x + (a + self.mlp(self.ln_2(x + a)))

    return [(gpt2.GPT2Block, "__call__", block)]


def _fc_epilogue(gpt2) -> list[Patch]:
    """c_fc's bias and activation in its matmul's epilogue (the graph shipped at 3077174)."""

    def mlp(self, x):
        return self.c_proj(self.act(self.c_fc(x)))

    return [(gpt2.GPT2MLP, "__call__", mlp)]


def _qkv_alone(gpt2) -> list[Patch]:
    """c_attn's matmul alone too (`common.matmul.product_alone`), its bias added after (the
    graph at 8b69624)."""

    def qkv(self, x):
        return gpt2.biased(self.c_attn, gpt2.product_alone(self.c_attn, x))

    return [(gpt2.GPT2Attention, "project_qkv", qkv)]


def _sigmoid_gelu(gpt2) -> list[Patch]:
    """gelu_new as x * sigmoid(2u) (= 0.5 x (1 + tanh u), u = sqrt(2/pi) (x + 0.044715 x^3))."""
    from max.graph import ops

    def act(x):
        c = 1.5957691216057308  # 2 sqrt(2 / pi)
        return x * ops.sigmoid(x * (c + (c * 0.044715) * x * x))

    return _activation(gpt2, act)


def _layer_norms(gpt2) -> list[Patch]:
    """The blocks' LayerNorms over the uncentered stream, the checkpoint's weights unfolded
    (the graph before the centered residual; what a GGUF block-format file still runs)."""
    return [(gpt2.GPT2Config, "centered_residual", property(lambda self: False))]


# Timing variants of the GPT-2 graph (where a step's time goes, in one process):
# `gpt2fusedqkv` projects and stores k and v with MAX's fused_qkv_ragged_matmul (shipped
# until the f73505e step profile), an A/B of the split-and-store kernel after a plain matmul;
# `gpt2noattn` and `gpt2nomlp` drop a block's attention or MLP, `gpt2relu` replaces the
# checkpoint's GELU by one relu, `gpt2nobias` drops the projections' biases: these compute
# another function, speed only. The same function written otherwise: `gpt2projepilogue` adds
# c_proj's bias and the residual in c_proj's matmul's epilogue (shipped until the aee1ca1 step
# profile), `gpt2lateres` only its bias there, `gpt2sigmoid` writes gelu_new with a sigmoid,
# `gpt2fcepilogue` puts c_fc's bias and GELU back in its matmul's epilogue (the graph shipped
# at 3077174), `gpt2qkvalone` takes c_attn's bias out of its own (the graph at 8b69624),
# `gpt2layernorm` keeps the blocks' LayerNorms (`families/gpt2/centering.py`).
GRAPH_VARIANTS = {
    "gpt2fusedqkv": _fused_qkv_projection,
    "gpt2noattn": _without_attention,
    "gpt2nomlp": _without_mlp,
    "gpt2relu": _relu_activation,
    "gpt2nobias": _without_biases,
    "gpt2projepilogue": _projection_epilogue,
    "gpt2lateres": _late_residual,
    "gpt2sigmoid": _sigmoid_gelu,
    "gpt2fcepilogue": _fc_epilogue,
    "gpt2qkvalone": _qkv_alone,
    "gpt2layernorm": _layer_norms,
}


def _rotary_layer_norms(rotary_config) -> list[Patch]:
    """A rotary decoder's block LayerNorms over the uncentered stream (the graph before the
    centered stream: families/llama_style/centering.py)."""
    return [(rotary_config.RotaryConfig, "centered_residual", property(lambda self: False))]


# Variants of a llama_style graph: the system whose checkpoint it runs, and the patch to
# families.llama_style.rotary_config.
ROTARY_VARIANTS = {
    "neoxlayernorm": ("neox", _rotary_layer_norms),
    "philayernorm": ("phi", _rotary_layer_norms),
}


def checkpoint_of(arch: str) -> str:
    """The checkpoint (and package) a system runs: a graph variant runs its model's own."""
    if arch in ROTARY_VARIANTS:
        return ROTARY_VARIANTS[arch][0]
    return "gpt2" if arch in GRAPH_VARIANTS else arch


@contextlib.contextmanager
def graph_variant(arch: str):
    """GRAPH_VARIANTS[arch]'s patch to families.gpt2's graph (ROTARY_VARIANTS[arch]'s to
    families.llama_style's) while MAX builds it, undone after."""
    if arch in GRAPH_VARIANTS:
        from families.gpt2 import gpt2

        patches = GRAPH_VARIANTS[arch](gpt2)
    elif arch in ROTARY_VARIANTS:
        from families.llama_style import rotary_config

        patches = ROTARY_VARIANTS[arch][1](rotary_config)
    else:
        yield
        return
    originals = [(owner, name, owner.__dict__[name]) for owner, name, _ in patches]
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def prompts(batch: int, vocab: int) -> list[list[int]]:
    rng = np.random.default_rng(batch)
    return rng.integers(1, vocab, (batch, PROMPT_LEN)).tolist()


class Mode(NamedTuple):
    """A MAX mode: its result-name suffix, device graph capture, the overlap scheduler, and
    how a plot's legend says it."""

    suffix: str
    capture: bool
    overlap: bool
    label: str


MODES = {
    "off": Mode("", False, False, ""),
    "capture": Mode("+capture", True, False, ", graph capture"),
    "served": Mode("+served", True, True, ", as served (capture + overlap)"),
}
MODE_SETS = {
    "off": ["off"],
    "on": ["capture"],
    "served": ["served"],
    "both": ["off", "capture"],
    "all": ["off", "capture", "served"],
}
HOST_PROFILE_TOP = 25


def time_max(
    model, batch: int, vocab: int, repeats: int = 1, host_profile: bool = False
) -> dict[str, Any]:
    ids = prompts(batch, vocab)

    def run(n: int) -> float:
        t0 = time.perf_counter()
        model.generate(ids, max_new_tokens=n, ignore_eos=True, top_k=1)
        return time.perf_counter() - t0

    result: dict[str, Any] = timed(run, batch, repeats)
    if host_profile:
        profiler = cProfile.Profile()
        profiler.runcall(run, NEW_TOKENS)
        result["host_profile_us_per_step"] = top_functions(profiler, NEW_TOKENS)
    return result


def top_functions(profiler: cProfile.Profile, steps: int) -> dict[str, list[dict[str, Any]]]:
    """The profiled run's functions with the most own time (`top`), and this repository's
    packages' functions with the most cumulative time (`ours`), in microseconds per step."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def rows(items, key: int) -> list[dict[str, Any]]:
        ranked = sorted(items, key=lambda item: item[1][key], reverse=True)[:HOST_PROFILE_TOP]
        return [
            {
                "function": f"{Path(file).name}:{line}({name})",
                "calls_per_step": round(calls / steps, 2),
                "own_us": round(1e6 * own / steps, 1),
                "cumulative_us": round(1e6 * cumulative / steps, 1),
            }
            for (file, line, name), (_, calls, own, cumulative, _) in ranked
        ]

    packages = tuple(str(ROOT / package) for package in ("common", "families", "tooling"))
    ours = [item for item in stats.items() if item[0][0].startswith(packages)]
    return {"top": rows(stats.items(), 2), "ours": rows(ours, 3)}


def time_hf(model, batch: int, vocab: int, device: str, repeats: int = 1) -> dict[str, float]:
    import torch

    ids = torch.tensor(prompts(batch, vocab), device=device)
    kw = {"do_sample": False, "pad_token_id": 0, "min_new_tokens": 0}

    def run(n: int) -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.no_grad():
            model.generate(ids, max_new_tokens=n, **kw)
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    return timed(run, batch, repeats)


def timed(run: Callable[[int], float], batch: int, repeats: int) -> dict[str, float]:
    """One warm-up run, then the median of `repeats` runs of 1 new token and of NEW_TOKENS
    (`run(n)`: seconds for a run of n new tokens), summarized."""
    run(2)
    first = statistics.median(run(1) for _ in range(repeats))
    full = statistics.median(run(NEW_TOKENS) for _ in range(repeats))
    return summarize(batch, first, full)


def brief(result: dict[str, Any]) -> dict[str, Any]:
    """A result without its host profile, for the log."""
    return {k: v for k, v in result.items() if k != "host_profile_us_per_step"}


def summarize(batch: int, first: float, full: float) -> dict[str, float]:
    decode = max(full - first, 1e-9)
    return {
        "ttft_s": first,
        "tpot_ms": 1000 * decode / (NEW_TOKENS - 1),
        "decode_tok_s": batch * (NEW_TOKENS - 1) / decode,
        "total_s": full,
    }


def weight_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.glob("*.safetensors"))


def measure_bandwidth(device: str) -> float:
    """Bytes/s of a large on-device copy (read + write), the bound for batch-1 decode."""
    import torch

    n = (512 if device == "cuda" else 128) * 2**20 // 4
    x = torch.ones(n, device=device)
    y = torch.empty_like(x)
    y.copy_(x)
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    reps = 20 if device == "cuda" else 5
    for _ in range(reps):
        y.copy_(x)
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * x.numel() * 4 * reps / (time.perf_counter() - t0)


def seconds_per_run(run: Callable[[], object], device: Any, runs: int, warmups: int) -> float:
    """Seconds per `run()` over `runs` back-to-back calls after `warmups` more, the device
    synchronized before and after the timed ones (so the device's time, not only the launches)."""
    for _ in range(warmups):
        run()
    device.synchronize()
    t0 = time.perf_counter()
    for _ in range(runs):
        run()
    device.synchronize()
    return (time.perf_counter() - t0) / runs


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    p.add_argument(
        "--encoding",
        default=None,
        help="float32 (default): the one float encoding both our decoders and MAX's Llama list",
    )
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--systems", nargs="+", default=["max-gpt2", "hf-gpt2", "max-llama"])
    p.add_argument(
        "--graph-capture",
        choices=list(MODE_SETS),
        default="off",
        help="MAX modes: off, on (capture, synchronous steps), served (capture and overlap, "
        "as max serve runs a GPU), both (off and on) or all",
    )
    p.add_argument("--repeats", type=int, default=1, help="median of this many timed runs")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="load and time every system this many times, in reverse order every other round, "
        "and keep the median round (the whole-step time of one load varies)",
    )
    p.add_argument(
        "--host-profile",
        action="store_true",
        help="one more run per MAX system and batch under cProfile: the host's top functions",
    )
    p.add_argument(
        "--kv",
        default="jenga-prefix",
        help="MAX's KV-cache strategy (tooling.parity.KV_STRATEGIES); prefix caching on, as served",
    )
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "bench.json")
    args = p.parse_args()
    encoding = args.encoding or "float32"
    torch_device = "cuda" if args.device == "gpu" else "cpu"
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        arches = {checkpoint_of(system.split("-")[1]) for system in args.systems} | {"gpt2"}
        ckpts = build_checkpoints(Path(tmp), arches)
        bytes_per_param = 2 if encoding in ("bfloat16", "float16") else 4
        gpt2_bytes = weight_bytes(ckpts["gpt2"]) * bytes_per_param // 4
        bandwidth = measure_bandwidth(torch_device)
        report = {
            "device": args.device,
            "machine": platform.processor() or platform.machine(),
            "gpu": gpu_name() if args.device == "gpu" else None,
            "encoding": encoding,
            "workload": {"prompt_tokens": PROMPT_LEN, "new_tokens": NEW_TOKENS},
            "results": results,
            "bound": {
                "weight_bytes": gpt2_bytes,
                "measured_bandwidth_GBps": bandwidth / 1e9,
                "batch1_decode_bound_tok_s": bandwidth / gpt2_bytes,
            },
            "kv": args.kv,
            "repeats": args.repeats,
            "rounds": args.rounds,
            "command": " ".join(sys.argv),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)

        def write() -> None:
            """The report so far: a run cut short keeps the systems it finished."""
            args.out.write_text(json.dumps(report, indent=2))
            log.info("wrote %s", args.out)

        runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for round_ in range(args.rounds):
            # Every other round runs the systems in reverse order, so that what comes first in
            # a process (or after a given system) falls to each system alike.
            order = args.systems if round_ % 2 == 0 else args.systems[::-1]
            for system in order:
                for name, by_batch in measure(system, ckpts, encoding, torch_device, args):
                    for b, result in by_batch.items():
                        runs.setdefault(name, {}).setdefault(b, []).append(result)
                    results[name] = {b: median_round(rounds) for b, rounds in runs[name].items()}
                    write()


def measure(system: str, ckpts: dict[str, Path], encoding: str, torch_device: str, args):
    """Yields (name, {batch: result}) for each of `system`'s modes: one model loaded, every
    batch timed, the model let go."""
    import torch
    from transformers import AutoModelForCausalLM

    from tooling.parity import load_max_model

    kind, arch = system.split("-")
    path = ckpts[checkpoint_of(arch)]
    packages = FAMILIES[checkpoint_of(arch)]
    if kind != "max":
        dtype = getattr(torch, encoding)
        hf = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(torch_device).eval()
        by_batch = {}
        for b in args.batches:
            by_batch[str(b)] = time_hf(hf, b, 50257, torch_device, args.repeats)
            log.info("%s batch %d: %s", system, b, by_batch[str(b)])
        del hf
        yield system, by_batch
        return
    for mode in MODE_SETS[args.graph_capture]:
        run = MODES[mode]
        name = system + run.suffix
        with graph_variant(arch):
            model = load_max_model(
                str(path),
                custom_architectures=packages,
                devices=args.device,
                encoding=encoding,
                max_batch_size=max(args.batches),
                device_graph_capture=run.capture,
                enable_overlap_scheduler=run.overlap,
                kv=args.kv,
                # The largest batch's prompts in one prefill (generate() does not chunk; at
                # 128 x 128 tokens MAX's default budget of 9216 refused).
                max_batch_input_tokens=max(args.batches) * PROMPT_LEN,
            )
        by_batch = {}
        for b in args.batches:
            by_batch[str(b)] = time_max(model, b, 50257, args.repeats, args.host_profile)
            log.info("%s batch %d: %s", name, b, brief(by_batch[str(b)]))
        del model
        yield name, by_batch


def median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median decode throughput (the lower of the two middle ones for an
    even count), with every round's throughput beside it when there was more than one."""
    ranked = sorted(rounds, key=lambda result: result["decode_tok_s"])
    result = dict(ranked[(len(ranked) - 1) // 2])
    if len(rounds) > 1:
        result["rounds_decode_tok_s"] = [r["decode_tok_s"] for r in rounds]
    return result


def gpu_name() -> str:
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[0]  # the cards of one host are alike


if __name__ == "__main__":
    main()
