"""A checkpoint's ragged batch through MAX twice per KV strategy (the second batch hits the
prefix cache), each compared with Hugging Face float32: the CPU counterpart of the GPU suite's
prefix-cache finding (docs/GPT2.md).

    python tools/prefix_cache_parity.py models/tiny-shakespeare-gpt2 --kv jenga-prefix
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from transformers import AutoModelForCausalLM

    from tooling.metrics import FLOAT32
    from tooling.parity import (
        KV_STRATEGIES,
        compare_with_hf,
        load_max_model,
        max_greedy,
        ragged_prompts,
    )

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--family", default="families.gpt2")
    parser.add_argument("--kv", nargs="+", default=["jenga-prefix"], choices=list(KV_STRATEGIES))
    args = parser.parse_args()
    hf = AutoModelForCausalLM.from_pretrained(args.checkpoint).eval()
    prompts = ragged_prompts(hf.config.vocab_size)
    print("prompt lengths", [len(p) for p in prompts])
    ok = True
    for kv in args.kv:
        model = load_max_model(
            str(args.checkpoint), custom_architectures=[args.family], kv=kv, max_batch_size=4
        )
        for attempt in range(2):
            report = compare_with_hf(hf, max_greedy(model, prompts, 32), FLOAT32)
            ok &= report.ok
            print(f"{kv} attempt {attempt}: {'pass' if report.ok else 'FAIL'}")
            print("\n".join(report.lines()))
        del model
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
