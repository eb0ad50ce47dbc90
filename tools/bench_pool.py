"""One ratio from many loads: the rounds of `tools/bench.py --rounds` reports, pooled.

On the GPU, one load's whole-step throughput differs from the next load's by more than the
graphs differ (docs/BENCHMARKS.md), so a ratio from one load, or from one report's median
round, moves from run to run. This pools every round of every report given, per system and
batch, and prints, for `--systems A B`: each system's median over all its rounds, their
ratio, and the median and quartiles of A/B over every pair of rounds (one of A's rounds
against one of B's). A difference between the graphs shows as quartiles that leave 1.0.

    python tools/bench_pool.py docs/results/bench-gpu-h200-float32-rounds-*-9b79c2a.json \
        --systems max-gpt2+capture max-llama+capture
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def pooled_rounds(reports: list[dict], system: str) -> dict[str, list[float]]:
    """Every round's decode tokens/s of `system`, per batch, over the reports."""
    rounds: dict[str, list[float]] = {}
    for report in reports:
        for batch, result in report["results"].get(system, {}).items():
            rounds.setdefault(batch, []).extend(result["rounds_decode_tok_s"])
    return rounds


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


def table(reports: list[dict], system: str, baseline: str) -> str:
    ours, theirs = pooled_rounds(reports, system), pooled_rounds(reports, baseline)
    lines = [
        f"| batch | rounds | {system} median | {baseline} median | ratio of medians "
        "| pairwise ratio: median [quartiles] |",
        "|---|---|---|---|---|---|",
    ]
    for batch in sorted(set(ours) & set(theirs), key=int):
        a, b = ours[batch], theirs[batch]
        q1, median, q3 = quartiles([x / y for x in a for y in b])
        lines.append(
            f"| {batch} | {len(a)} / {len(b)} | {statistics.median(a):.0f} "
            f"| {statistics.median(b):.0f} | {statistics.median(a) / statistics.median(b):.2f} "
            f"| {median:.2f} [{q1:.2f}, {q3:.2f}] |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("reports", nargs="+", type=Path, help="tools/bench.py reports run with --rounds")
    p.add_argument("--systems", nargs=2, required=True, metavar=("SYSTEM", "BASELINE"))
    args = p.parse_args()
    reports = [json.loads(path.read_text()) for path in args.reports]
    print(table(reports, *args.systems))


if __name__ == "__main__":
    main()
