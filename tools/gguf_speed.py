"""Batch-1 speed of families.gpt2 on a GGUF file on the CPU: time to first token and decode rate.

    python tools/gguf_speed.py MODEL_DIR FILE.gguf ENCODING [--prompt-tokens 128] [--new-tokens 128]

MODEL_DIR holds config.json and the tokenizer beside FILE.gguf (as `max generate --model-path`
takes them). A random prompt of --prompt-tokens ids is generated greedily through
`AutoModel.generate`: TTFT is the best of three 1-token generations, decode rate is
--new-tokens further tokens over the time a (1 + new)-token generation takes beyond TTFT.
`tools/gguf_bench.py` runs this beside llama.cpp on the same files.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class OtherLoad:
    """CPUs kept busy by other processes while the block runs: the machine's busy time
    (/proc/stat) less this process's and its waited-for children's, over the wall time."""

    def __enter__(self) -> OtherLoad:
        self._start = self._read()
        return self

    def __exit__(self, *exc: object) -> None:
        busy, own, wall = (b - a for a, b in zip(self._start, self._read(), strict=True))
        self.cpus = round(max(busy - own, 0.0) / wall, 2)

    @staticmethod
    def _read() -> tuple[float, float, float]:
        # user nice system idle iowait irq softirq steal
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
        usages = (resource.getrusage(resource.RUSAGE_SELF),
                  resource.getrusage(resource.RUSAGE_CHILDREN))
        return busy, sum(u.ru_utime + u.ru_stime for u in usages), time.perf_counter()


def max_speed(
    model_dir: Path, weight_file: str, encoding: str, prompt_tokens: int, new_tokens: int,
    repeats: int = 1,
) -> dict[str, object]:
    """MAX's batch-1 TTFT and decode rate on `model_dir / weight_file` (GGUF or safetensors).

    Decode is the median of `repeats` (1 + new)-token generations, each less TTFT; `cpu_busy`
    is the process's CPU seconds over wall seconds during them (the threads MAX keeps busy),
    `other_cpus_busy` what other processes took meanwhile.
    """
    from tooling.parity import load_max_model

    start = time.perf_counter()
    model = load_max_model(
        str(model_dir),
        custom_architectures=["families.gpt2"],
        encoding=encoding,
        weight_path=[str((model_dir / weight_file).resolve())],
        max_batch_size=1,
    )
    load_s = time.perf_counter() - start
    vocab = json.loads((model_dir / "config.json").read_text())["vocab_size"]
    prompt = np.random.default_rng(0).integers(1, vocab, prompt_tokens).tolist()

    def generate(n: int) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        model.generate([prompt], max_new_tokens=n, ignore_eos=True, top_k=1)
        return time.perf_counter() - wall, time.process_time() - cpu

    generate(4)  # warm-up
    ttft = min(generate(1)[0] for _ in range(3))
    with OtherLoad() as other:
        runs = [generate(1 + new_tokens) for _ in range(repeats)]
    rates = [new_tokens / (wall - ttft) for wall, _ in runs]
    return {
        "file": weight_file,
        "encoding": encoding,
        "load_and_compile_s": round(load_s, 1),
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "ttft_ms": round(1000 * ttft, 1),
        "decode_tok_s": round(statistics.median(rates), 2),
        "decode_tok_s_samples": [round(r, 2) for r in rates],
        "cpu_busy": round(sum(c for _, c in runs) / sum(w for w, _ in runs), 2),
        "other_cpus_busy": other.cpus,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("gguf_file")
    parser.add_argument("encoding")
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=128)
    args = parser.parse_args()
    figures = max_speed(
        args.model_dir, args.gguf_file, args.encoding, args.prompt_tokens, args.new_tokens
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
