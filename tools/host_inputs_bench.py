"""The host's time to build one step's batch inputs for our decoders.

Times `DecoderBatchProcessor.prepare_initial_token_inputs` (tokens, row offsets and positions
written into MAX's staging buffers) over real `TextContext`s on the CPU device, for a decode
step (every sequence 128 tokens in, one new token each) and a prefill (128 new tokens each),
at the bench's batch sizes. Median of 7 rounds of 500 calls, microseconds per call.

    python tools/host_inputs_bench.py [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PROMPT, CALLS, ROUNDS = 128, 500, 7


def contexts(batch: int, decode: bool) -> list:
    from max.pipelines.context import TextContext
    from max.pipelines.context.context import TokenBuffer

    out = []
    for seq in range(batch):
        ctx = TextContext(
            max_length=1024, tokens=TokenBuffer(np.arange(PROMPT, dtype=np.int64) + seq)
        )
        if decode:
            ctx.tokens.advance_with_token(seq)
        out.append(ctx)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 128])
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    from max.driver import CPU
    from max.nn.transformer import ReturnLogits
    from max.pipelines.lib.interfaces.batch_processor import BatchProcessorRuntime

    from common.decoder import DecoderBatchProcessor

    runtime = BatchProcessorRuntime(
        pipeline_config=None,  # type: ignore[arg-type]  # not read by a single replica
        devices=[CPU()],
        return_logits=ReturnLogits.LAST_TOKEN,
        max_batch_size=max(args.batches),
        max_seq_len=1024,
        max_batch_input_tokens=max(args.batches) * PROMPT,
    )
    processor = DecoderBatchProcessor(config=None, runtime=runtime)
    results: dict[str, dict[str, float]] = {}
    for step in ("decode", "prefill"):
        results[step] = {}
        for batch in args.batches:
            replica = [contexts(batch, decode=step == "decode")]
            processor.prepare_initial_token_inputs(replica)
            rounds = []
            for _ in range(ROUNDS):
                t0 = time.perf_counter()
                for _ in range(CALLS):
                    processor.prepare_initial_token_inputs(replica)
                rounds.append(1e6 * (time.perf_counter() - t0) / CALLS)
            results[step][str(batch)] = round(statistics.median(rounds), 1)
            print(f"{step} batch {batch}: {results[step][str(batch)]} us", flush=True)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    report = {
        "machine": platform.processor() or platform.machine(),
        "commit": commit,
        "us_per_call": results,
        "command": " ".join(sys.argv),
    }
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
