"""Batch-1 speed of families.gpt2 on a GGUF file on the CPU: time to first token and decode rate.

    python tools/gguf_speed.py MODEL_DIR FILE.gguf ENCODING [--prompt-tokens 128] [--new-tokens 128]

MODEL_DIR holds config.json and the tokenizer beside FILE.gguf (as `max generate --model-path`
takes them). A random prompt of --prompt-tokens ids is generated greedily through
`AutoModel.generate`: TTFT is the best of three 1-token generations, decode rate is
--new-tokens further tokens over the time a (1 + new)-token generation takes beyond TTFT.
Compare with llama.cpp on the same file: `llama-bench -m FILE.gguf -p 128 -n 128 -t 1`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("gguf_file")
    parser.add_argument("encoding")
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=128)
    args = parser.parse_args()

    from tooling.parity import load_max_model

    start = time.perf_counter()
    model = load_max_model(
        str(args.model_dir),
        custom_architectures=["families.gpt2"],
        encoding=args.encoding,
        weight_path=[str((args.model_dir / args.gguf_file).resolve())],
        max_batch_size=1,
    )
    load_s = time.perf_counter() - start
    vocab = json.loads((args.model_dir / "config.json").read_text())["vocab_size"]
    prompt = np.random.default_rng(0).integers(1, vocab, args.prompt_tokens).tolist()

    def generate(n: int) -> float:
        start = time.perf_counter()
        model.generate([prompt], max_new_tokens=n, ignore_eos=True, top_k=1)
        return time.perf_counter() - start

    generate(4)  # warm-up
    ttft = min(generate(1) for _ in range(3))
    total = generate(1 + args.new_tokens)
    figures = {
        "file": args.gguf_file,
        "encoding": args.encoding,
        "load_and_compile_s": round(load_s, 1),
        "prompt_tokens": args.prompt_tokens,
        "ttft_ms": round(1000 * ttft, 1),
        "decode_tok_s": round(args.new_tokens / (total - ttft), 1),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
