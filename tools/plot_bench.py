"""Plots tools/bench.py reports: decode tokens/s per system and batch size, one panel per report.

    python tools/plot_bench.py docs/results/bench-cpu.json docs/results/bench-gpu-h200.json \
        --out docs/bench.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools.bench import MODES  # noqa: E402

LABELS = {
    "max-gpt2": "(a) families.gpt2 on MAX",
    "hf-gpt2": "(b) Hugging Face generate()",
    "max-llama": "(c) MAX built-in Llama, same size",
    "max-neox": "families.llama_style GPT-NeoX, same size",
    "max-phi": "families.llama_style Phi, same size",
    "max-gpt2x1": "families.gpt2, one layer (per-step floor)",
    "max-gpt2split": "families.gpt2, q/k/v split (no fused projection)",
    "max-gpt2fusedqkv": "families.gpt2, c_attn by fused_qkv_ragged_matmul (before f73505e)",
    "max-gpt2noattn": "families.gpt2 without attention (timing only)",
    "max-gpt2nomlp": "families.gpt2 without MLP (timing only)",
    "max-gpt2relu": "families.gpt2 with relu for GELU (timing only)",
    "max-gpt2nobias": "families.gpt2 without projection biases (timing only)",
}


# tools/bench.py's mode suffixes and how a label says them.
MODE_LABELS = {mode.suffix: mode.label for mode in MODES.values()}


def split_mode(system: str) -> tuple[str, str]:
    """(system, mode suffix) of a result name such as `max-gpt2+served`."""
    base, plus, mode = system.partition("+")
    return base, plus + mode


def where_of(report: dict) -> str:
    """The card a report ran on (the first, where the host listed several), or its CPU."""
    return (report.get("gpu") or "").split("\n")[0] or f"CPU {report.get('machine', '')}"


def label(system: str) -> str:
    base, mode = split_mode(system)
    return LABELS.get(base, base) + MODE_LABELS.get(mode, mode)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("reports", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    reports = [json.loads(r.read_text()) for r in args.reports]
    fig, axes = plt.subplots(1, len(reports), figsize=(6 * len(reports), 4.5), squeeze=False)
    for ax, report in zip(axes[0], reports, strict=True):
        systems = list(report["results"])
        batches = list(report["results"][systems[0]])
        width = 0.8 / len(systems)
        for i, system in enumerate(systems):
            values = [report["results"][system][b]["decode_tok_s"] for b in batches]
            xs = [j + i * width for j in range(len(batches))]
            ax.bar(xs, values, width, label=label(system))
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(batches))], batches)
        ax.set_yscale("log")
        ax.set_xlabel("batch size (concurrent sequences)")
        ax.set_ylabel("decode tokens/s (log)")
        where = where_of(report)
        ax.set_title(f"GPT-2 124M, {report['encoding']}, {where}")
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    fig.tight_layout()
    fig.savefig(args.out, dpi=110, bbox_inches="tight")
    for report in reports:
        print(markdown_table(report))


def markdown_table(report: dict) -> str:
    """Absolute figures and the ratios the targets are stated in: (a)/(c) and (a)/(b)."""
    res = report["results"]
    where = where_of(report)
    lines = [
        f"{where}, {report['encoding']}:",
        "",
        "| batch | system | decode tok/s | TTFT ms | TPOT ms | (a)/(c) | (a)/(b) |",
        "|---|---|---|---|---|---|---|",
    ]
    batches = next(iter(res.values()), {})
    for b in batches:
        for system in res:
            r = res[system][b]
            ratios = ["", ""]
            # Each MAX system against MAX's Llama in the same mode.
            suffix = split_mode(system)[1]
            if system.startswith("max-") and not system.startswith("max-llama"):
                a = r["decode_tok_s"]
                ratios = [
                    f"{a / res[s][b]['decode_tok_s']:.2f}" if s in res else "-"
                    for s in ("max-llama" + suffix, "hf-gpt2")
                ]
            lines.append(
                f"| {b} | {label(system)} | {r['decode_tok_s']:.1f} | "
                f"{1000 * r['ttft_s']:.1f} | {r['tpot_ms']:.2f} | {ratios[0]} | {ratios[1]} |"
            )
    bound = report["bound"]
    lines.append("")
    lines.append(
        f"Batch-1 decode bound: {bound['weight_bytes'] / 1e6:.0f} MB of weights per token over "
        f"{bound['measured_bandwidth_GBps']:.0f} GB/s measured copy bandwidth = "
        f"{bound['batch1_decode_bound_tok_s']:.0f} tok/s."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
