"""The bring-up checklist for every GPT-2 size: its shape loads, compiles and serves.

    python tools/gpt2_sizes.py [--device cpu|gpu] [--sizes distilgpt2,gpt2,...] [--out FILE]

For each size, a checkpoint of that shape (random weights, GPT-2's real vocabulary size and
context) is served by `max serve`; the time until /health answers (load plus compile), one
streamed `/v1/completions` of NEW_TOKENS tokens, and the memory the server's processes hold
(GPU memory from nvidia-smi on the GPU, resident memory on the CPU) are printed as JSON lines.
tests/gpu/test_gpu_gpt2_sizes.py runs the GPU side as a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (n_layer, n_embd, n_head) of the published checkpoints; all use 50257 tokens and 1024
# positions.
SIZES = {
    "distilgpt2": (6, 768, 12),
    "gpt2": (12, 768, 12),
    "gpt2-medium": (24, 1024, 16),
    "gpt2-large": (36, 1280, 20),
    "gpt2-xl": (48, 1600, 25),
}
VOCAB, POSITIONS, NEW_TOKENS = 50257, 1024, 32
# The KV cache takes this share of the device's free memory: enough for one 1024-token
# sequence at every size, so what is reported is mostly the weights and the graph's buffers.
MEMORY_SHARE = "0.1"


def build_size(size: str, out: Path) -> Path:
    from tooling.checkpoints import build_random_checkpoint

    layers, hidden, heads = SIZES[size]
    return build_random_checkpoint(
        "GPT2LMHeadModel",
        out,
        config_overrides={
            "n_layer": layers,
            "n_embd": hidden,
            "n_head": heads,
            "n_positions": POSITIONS,
        },
        vocab_size=VOCAB,
    )


def _process_tree(root: int) -> set[int]:
    import psutil

    proc = psutil.Process(root)
    return {root, *(child.pid for child in proc.children(recursive=True))}


def memory_mib(server_pid: int, device: str) -> float:
    """Memory the server and its workers hold: GPU memory on the GPU, resident on the CPU."""
    import psutil

    pids = _process_tree(server_pid)
    if device == "cpu":
        return sum(psutil.Process(p).memory_info().rss for p in pids) / 2**20
    out = subprocess.run(
        ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    used = 0.0
    for line in out.strip().splitlines():
        pid, mib = (field.strip() for field in line.split(","))
        if int(pid) in pids:
            used += float(mib)
    return used


def serve_size(size: str, device: str, work: Path) -> dict:
    """Serves one size and streams one completion; the figures as a dict."""
    import openai

    from tests.serving import server_process

    start = time.perf_counter()
    path = build_size(size, work / size)
    built_s = time.perf_counter() - start
    weights = sum(f.stat().st_size for f in path.glob("*.safetensors"))
    args = ["--max-batch-size", "1", "--max-length", str(POSITIONS)]
    # float32, listed everywhere (MAX would pick bfloat16 on a GPU, which GPT-2 does not list).
    args += ["--quantization-encoding", "float32"]
    if device == "gpu":
        # Graph capture off: MAX turns it on by itself in `max serve` on a GPU, and then every
        # size's server held 115-128 GB of the card's 140 (a8a15f4, distilgpt2's weights 312
        # MiB), so two never fit on one card and the figure said nothing about the model. Its
        # correctness is tests/gpu/test_gpu_graph_capture.py's; its memory, docs/GPT2.md's.
        args += ["--device-memory-utilization", MEMORY_SHARE, "--no-device-graph-capture"]
    start = time.perf_counter()
    with server_process(
        path, "families.gpt2", *args, log=work / f"{size}.log", devices=device
    ) as (base, server_pid):
        ready_s = time.perf_counter() - start
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", timeout=600)
        model = client.models.list().data[0].id
        start = time.perf_counter()
        chunks = list(
            client.completions.create(
                model=model,
                prompt="The",
                max_tokens=NEW_TOKENS,
                temperature=0,
                stream=True,
                extra_body={"ignore_eos": True},
                stream_options={"include_usage": True},
            )
        )
        stream_s = time.perf_counter() - start
        text = "".join(c.choices[0].text for c in chunks if c.choices)
        usage = next((c.usage for c in reversed(chunks) if c.usage is not None), None)
        memory = memory_mib(server_pid, device)
    layers, hidden, heads = SIZES[size]
    return {
        "size": size,
        "device": device,
        "n_layer": layers,
        "n_embd": hidden,
        "n_head": heads,
        "weights_mib": round(weights / 2**20, 1),
        "checkpoint_build_s": round(built_s, 1),
        "ready_s": round(ready_s, 1),
        "stream_s": round(stream_s, 2),
        "streamed_chunks": len(chunks),
        # The server's own count: a chunk may carry more than one token.
        "completion_tokens": usage.completion_tokens if usage is not None else None,
        "streamed_chars": len(text),
        "memory_mib": round(memory, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sizes = args.sizes.split(",")
    unknown = sorted(set(sizes) - set(SIZES))
    if unknown:
        parser.error(f"--sizes: unknown {unknown}; known: {list(SIZES)}")
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            try:
                figures = serve_size(size, args.device, Path(tmp))
            except Exception as exc:  # report every size, then fail
                figures = {"size": size, "device": args.device, "error": repr(exc)[:400]}
            print(json.dumps(figures), flush=True)
            lines.append(figures)
    if args.out:
        args.out.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return 1 if any("error" in x for x in lines) else 0


if __name__ == "__main__":
    raise SystemExit(main())
