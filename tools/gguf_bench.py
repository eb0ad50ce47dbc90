"""MAX against llama.cpp on the same GPT-2 GGUF files, batch 1 on the CPU, in one run.

    python tools/gguf_bench.py --out docs/results/gguf-bench-cpu.json --plot docs/gguf-bench.png

A GPT-2 124M-shaped random checkpoint (`GPT2Config()` sizes, vocab 50257) is written under
--work with llama.cpp's converter and quantizer (tools/make_gguf_fixtures.py's
`convert_and_quantize`: F32, Q4_K_M, Q6_K), then on the same prompt length and new-token count:

- MAX families.gpt2: q4_k on the Q4_K_M file (whose head and some `attn_qkv`/`ffn_down` are
  Q6_K), q6_k on the Q6_K file, float32 on the safetensors checkpoint
  (tools/gguf_speed.py's `max_speed`: TTFT = a 1-token `generate`, decode = new tokens over
  the rest of a (1 + new)-token `generate`, median of --repeats);
- llama.cpp's `llama-bench` (built from the fixture tool's pinned sources) on the Q4_K_M,
  Q6_K and F32 files with each of --threads: TTFT = a --prompt-tokens prefill (`-p`),
  decode = --new-tokens generated after that many tokens of context (`-n -d`).

Beside the speeds: the bytes of weights each decode step reads (the file's tensors, the tied
head once, one row of `position_embd`) and the rate each system reads them at (bytes x tok/s).
The machine is shared: every figure carries `other_cpus_busy`, the CPUs other processes kept
busy while it was measured. Where MAX's q4_k step time goes:
`matmul_times` (the file's quantized matmuls alone, and the tied 50257-row head alone, as MAX
graphs) and the same pipeline's step on the tiny test fixture (the engine's per-step floor).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.bench import measure_bandwidth  # noqa: E402
from tools.gguf_speed import OtherLoad, max_speed  # noqa: E402
from tools.make_gguf_fixtures import (  # noqa: E402
    CACHE,
    LLAMA_CPP_PYTHON,
    build_tool,
    convert_and_quantize,
    llama_cpp_sources,
)

log = logging.getLogger("gguf_bench")
# GPT2Config() sizes; n_ctx is the legacy key llama.cpp's converter reads.
GPT2_124M = {"n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024, "n_ctx": 1024}
VOCAB = 50257
TINY = ROOT / "tests" / "gpt2" / "gguf" / "quantized"
SEED = 0
# (system, file, MAX encoding or None for llama.cpp)
MAX_RUNS = (
    ("max q4_k", "gpt2-q4_k_m.gguf", "q4_k"),
    ("max q6_k", "gpt2-q6_k.gguf", "q6_k"),
    ("max float32", "model.safetensors", "float32"),
)
LLAMA_FILES = (("Q4_K_M", "gpt2-q4_k_m.gguf"), ("Q6_K", "gpt2-q6_k.gguf"),
               ("F32", "gpt2-f32.gguf"))


def make_files(work: Path, cache: Path) -> Path:
    """The checkpoint and its GGUF files in `work/hf` (reused when already there)."""
    from tooling.checkpoints import build_random_checkpoint

    model_dir = work / "hf"
    if all((model_dir / f).is_file() for _, f in LLAMA_FILES):
        return model_dir
    build_random_checkpoint("GPT2LMHeadModel", model_dir, config_overrides=GPT2_124M,
                            seed=SEED, vocab_size=VOCAB)
    convert_and_quantize(model_dir, model_dir, [t for t, _ in LLAMA_FILES], cache)
    return model_dir


def step_bytes(path: Path) -> int:
    """Bytes of weights one decode step reads: every tensor once, one row of the position table."""
    if path.suffix == ".gguf":
        import gguf

        tensors = {t.name: int(t.n_bytes) for t in gguf.GGUFReader(path).tensors}
        positions = "position_embd.weight"
    else:
        from safetensors import safe_open

        with safe_open(path, "np") as f:
            tensors = {k: f.get_slice(k).get_shape() for k in f.keys()}  # noqa: SIM118
        tensors = {k: 4 * math.prod(s) for k, s in tensors.items()}
        positions = "transformer.wpe.weight"
    return sum(tensors.values()) - tensors[positions] * (1 - 1 / GPT2_124M["n_positions"])


def matmul_times(path: Path, repeats: int = 30) -> dict[str, float]:
    """MAX's time for one batch-1 step's quantized matmuls alone (every Q4_K/Q6_K tensor of the
    file, the tied head included) and for the head alone, as `ops.qmatmul` graphs on the file's
    own tensors: the kernels' share of a decode step, without attention, norms or the engine."""
    import gguf
    import numpy as np
    from max.driver import CPU, Buffer
    from max.dtype import DType
    from max.engine import InferenceSession
    from max.graph import DeviceRef, Graph, TensorType, Weight, ops
    from max.graph.quantization import QuantizationEncoding

    kinds = {gguf.GGMLQuantizationType.Q4_K: QuantizationEncoding.Q4_K,
             gguf.GGMLQuantizationType.Q6_K: QuantizationEncoding.Q6_K}
    tensors = [t for t in gguf.GGUFReader(path).tensors if t.tensor_type in kinds]
    widths = sorted({int(t.shape[0]) for t in tensors})  # GGML order: shape[0] is the row width
    inputs = {w: np.random.default_rng(w).standard_normal((1, w), np.float32) for w in widths}
    session = InferenceSession(devices=[CPU()])
    times = {}
    for label, chosen in (("all", tensors), ("head", [t for t in tensors
                                                      if t.name == "token_embd.weight"])):
        types = [TensorType(DType.float32, (1, w), device=DeviceRef.CPU()) for w in widths]
        with Graph(f"qmatmuls_{label}", input_types=types) as graph:
            x = dict(zip(widths, graph.inputs, strict=True))
            outs = []
            for t in chosen:
                w = Weight(t.name, DType.uint8, tuple(t.data.shape), device=DeviceRef.CPU(),
                           quantization_encoding=kinds[t.tensor_type])
                outs.append(ops.qmatmul(kinds[t.tensor_type], None, x[int(t.shape[0])].tensor, w))
            graph.output(*outs)
        model = session.load(graph, weights_registry={t.name: np.asarray(t.data) for t in chosen})
        args = [Buffer.from_numpy(inputs[w]) for w in widths]
        model.execute(*args)
        samples = []
        with OtherLoad() as other:
            for _ in range(repeats):
                start = time.perf_counter()
                model.execute(*args)
                samples.append(time.perf_counter() - start)
        times[f"{label}_ms"] = round(1000 * statistics.median(samples), 2)
        times[f"{label}_other_cpus_busy"] = other.cpus
        times[f"{label}_bytes"] = sum(int(t.n_bytes) for t in chosen)
    return times


def llama_bench(binary: Path, path: Path, threads: int, prompt: int, new: int,
                repeats: int) -> dict[str, object]:
    """llama-bench's prefill of `prompt` tokens and decode of `new` tokens at depth `prompt`."""
    cmds = {
        "prefill": [str(binary), "-m", str(path), "-t", str(threads), "-r", str(repeats),
                    "-p", str(prompt), "-n", "0", "-o", "json"],
        "decode": [str(binary), "-m", str(path), "-t", str(threads), "-r", str(repeats),
                   "-p", "0", "-n", str(new), "-d", str(prompt), "-o", "json"],
    }
    times = {}
    for test, cmd in cmds.items():
        log.info("$ %s", " ".join(cmd))
        with OtherLoad() as other:
            out = subprocess.run(cmd, check=True, capture_output=True,  # noqa: S603
                                 text=True).stdout
        (row,) = json.loads(out)
        times[test] = [ns / 1e9 for ns in row["samples_ns"]]
    rates = [new / s for s in times["decode"]]
    return {
        "threads": threads,
        "prompt_tokens": prompt,
        "new_tokens": new,
        "ttft_ms": round(1000 * min(times["prefill"]), 1),
        "decode_tok_s": round(statistics.median(rates), 2),
        "decode_tok_s_samples": [round(r, 2) for r in rates],
        "other_cpus_busy": other.cpus,
        "commands": [" ".join([binary.name, *c[1:]]) for c in cmds.values()],
    }


def wait_for_quiet(limit_s: float, busy: float = 0.3) -> float:
    """Waits (at most `limit_s`) until other processes keep under `busy` CPUs busy for a second;
    returns what they kept busy in the last second."""
    deadline = time.monotonic() + limit_s
    while True:
        with OtherLoad() as other:
            time.sleep(1.0)
        if other.cpus < busy or time.monotonic() > deadline:
            return other.cpus
        log.info("other processes keep %.2f CPUs busy; waiting", other.cpus)


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def ratio(a: dict, b: dict) -> float:
    return round(a["decode_tok_s"] / b["decode_tok_s"], 3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/gguf-bench"),
                   help="where the checkpoint and GGUF files are written (reused)")
    p.add_argument("--cache", type=Path, default=CACHE)
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                   help="llama.cpp thread counts (MAX uses every core; cpu_busy says how many)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "gguf-bench-cpu.json")
    p.add_argument("--plot", type=Path, default=None)
    p.add_argument("--quiet-wait", type=float, default=0.0,
                   help="before each measurement, wait up to this many seconds for the other "
                   "processes on this shared machine to go quiet")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    model_dir = make_files(args.work, args.cache)
    bench = build_tool(llama_cpp_sources(args.cache), "llama-bench")
    load_before = os.getloadavg()
    bandwidth = [measure_bandwidth("cpu")]
    results: dict[str, dict] = {}
    for system, name, encoding in MAX_RUNS:
        wait_for_quiet(args.quiet_wait)
        results[system] = max_speed(model_dir, name, encoding, args.prompt_tokens,
                                    args.new_tokens, args.repeats)
        log.info("%s: %s", system, results[system])
    # The engine's per-step floor: the same code path on the test fixture (256 wide, 2 layers,
    # vocab 512, 128 positions), whose matmuls take microseconds.
    wait_for_quiet(args.quiet_wait)
    tiny = max_speed(TINY, "gpt2-q4_k_m.gguf", "q4_k", 32, 64, args.repeats)
    wait_for_quiet(args.quiet_wait)
    matmuls = matmul_times(model_dir / "gpt2-q4_k_m.gguf")
    for gguf_type, name in LLAMA_FILES:
        for threads in args.threads:
            system = f"llama.cpp {gguf_type} t{threads}"
            wait_for_quiet(args.quiet_wait)
            results[system] = {"file": name, **llama_bench(
                bench, model_dir / name, threads, args.prompt_tokens, args.new_tokens,
                args.repeats)}
            log.info("%s: %s", system, results[system])
    bandwidth.append(measure_bandwidth("cpu"))
    for r in results.values():
        r["step_weight_bytes"] = step_bytes(model_dir / r["file"])
        r["weights_read_GBps"] = round(r["step_weight_bytes"] * r["decode_tok_s"] / 1e9, 2)
    breakdown = {
        "max q4_k step_ms": round(1000 / results["max q4_k"]["decode_tok_s"], 2),
        "max q4_k tiny fixture step_ms": round(1000 / tiny["decode_tok_s"], 2),
        "max q4_k tiny fixture other_cpus_busy": tiny["other_cpus_busy"],
        **{f"max q4_k qmatmuls {k}": v for k, v in matmuls.items()},
        **{f"llama.cpp Q4_K_M t{t} step_ms":
           round(1000 / results[f"llama.cpp Q4_K_M t{t}"]["decode_tok_s"], 2)
           for t in args.threads},
    }
    log.info("breakdown: %s", breakdown)
    ratios = {"max q4_k / max float32": ratio(results["max q4_k"], results["max float32"])}
    for threads in args.threads:
        for kind, enc in (("Q4_K_M", "q4_k"), ("Q6_K", "q6_k")):
            ratios[f"max {enc} / llama.cpp {kind} t{threads}"] = ratio(
                results[f"max {enc}"], results[f"llama.cpp {kind} t{threads}"])
    report = {
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "tools": {"llama.cpp": f"vendored in llama-cpp-python {LLAMA_CPP_PYTHON} (PyPI sdist)",
                  "max": _version("modular") or _version("max")},
        "model": {"config": GPT2_124M, "vocab_size": VOCAB, "seed": SEED},
        "workload": {"batch": 1, "prompt_tokens": args.prompt_tokens,
                     "new_tokens": args.new_tokens, "repeats": args.repeats},
        "copy_bandwidth_GBps": [round(b / 1e9, 2) for b in bandwidth],
        "results": results,
        "ratios": ratios,
        "where_the_time_goes": breakdown,
        "command": " ".join(["python", *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    log.info("wrote %s", args.out)
    print(markdown_table(report))
    if args.plot:
        plot(report, args.plot)


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def markdown_table(report: dict) -> str:
    lines = ["| system | file | TTFT ms | decode tok/s | weights per step | read at | "
             "other CPUs busy |", "|---|---|---|---|---|---|---|"]
    for system, r in report["results"].items():
        lines.append(f"| {system} | {r['file']} | {r['ttft_ms']} | {r['decode_tok_s']} | "
                     f"{r['step_weight_bytes'] / 1e6:.0f} MB | {r['weights_read_GBps']} GB/s | "
                     f"{r['other_cpus_busy']} |")
    lines += ["", *(f"- {k}: {v}" for k, v in report["ratios"].items())]
    return "\n".join(lines)


def plot(report: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(report["results"])
    colors = ["tab:blue" if s.startswith("max") else "tab:orange" for s in systems]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, key, title in ((axes[0], "decode_tok_s", "decode tokens/s (higher is better)"),
                           (axes[1], "ttft_ms", "time to first token, ms (lower is better)")):
        values = [report["results"][s][key] for s in systems]
        ax.barh([f"{s} [others {report['results'][s]['other_cpus_busy']:.1f} CPU]"
                 for s in systems], values, color=colors)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:g}", va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title)
    w = report["workload"]
    fig.suptitle(f"GPT-2 124M (random weights), batch 1, {w['prompt_tokens']}-token prompt, "
                 f"{w['new_tokens']} new tokens; CPU {report['machine']['cpu']}, "
                 f"{report['machine']['cores']} cores")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
