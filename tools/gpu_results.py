"""GPU results: merge the GPU suite's per-test records into docs/results/gpu-<family>-<card>.json,
and write docs/SUPPORT.md's GPU table from those files.

    python tools/gpu_results.py merge RECORDS --commit SHA --command "pytest -m gpu ..."
    python tools/gpu_results.py table          # rewrites the table in docs/SUPPORT.md
    python tools/gpu_results.py table --check  # exit 1 if SUPPORT.md is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
SUPPORT = ROOT / "docs" / "SUPPORT.md"
START, END = "<!-- gpu-table:start -->", "<!-- gpu-table:end -->"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-").lower()


def merge(records: Path, *, commit: str, command: str, out_dir: Path = RESULTS) -> list[Path]:
    """One results file per (family, card), each entry stamped with its run's commit and command.

    A test's newest record replaces its older ones, except that a newer failure keeps the
    test's last pass beside it: the file says when it last passed and what broke since."""
    grouped: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for file in sorted(records.glob("*.json")):
        entry = json.loads(file.read_text())
        grouped[(entry["family"], entry["card"])].append(
            {**entry, "commit": commit, "command": command}
        )
    written = []
    for (family, card), entries in sorted(grouped.items()):
        path = out_dir / f"gpu-{family}-{slug(card)}.json"
        kept = [e for e in _earlier_entries(path) if _still_relevant(e, entries)]
        doc = {
            "family": family,
            "card": card,
            "commit": commit,
            "command": command,
            "results": sorted([*kept, *entries], key=lambda e: (e["test"], not e["ok"])),
        }
        path.write_text(json.dumps(doc, indent=1, default=float) + "\n")
        written.append(path)
    return written


def _earlier_entries(path: Path) -> list[dict]:
    """The entries a results file holds, each with its own commit and command."""
    if not path.exists():
        return []
    doc = json.loads(path.read_text())
    return [
        {**e, "commit": e.get("commit", doc["commit"]), "command": e.get("command", doc["command"])}
        for e in doc.get("results", [])
    ]


def _still_relevant(earlier: dict, newer: list[dict]) -> bool:
    """An earlier entry stays when no newer run has its test, or as the last pass before a
    newer failure."""
    same = [e for e in newer if e["test"] == earlier["test"]]
    return not same or (earlier["ok"] and not any(e["ok"] for e in same))


def _figure(entry: dict) -> str:
    if "refused" in entry:
        return f"refused before compiling: {entry['refused']}"[:200]
    if "ready_s" in entry:
        return (
            f"serves: ready in {entry['ready_s']:.0f} s, GPU memory {entry['memory_mib']:.0f} MiB "
            f"(weights {entry['weights_mib']:.0f} MiB), {entry['streamed_chunks']} streamed chunks"
        )
    if "attempts" not in entry and "max_error" not in entry:
        return "; ".join(entry.get("problems", []))[:200]
    if "attempts" in entry:
        worst = min(p["cosine_min"] for a in entry["attempts"] for p in a["prompts"])
        agree = min(p["tokens_agreeing"] for a in entry["attempts"] for p in a["prompts"])
        err = max(a["max_error_p99"] / max(a["allowed_error"], 1e-30) for a in entry["attempts"])
        tokens = f"{agree}/{entry['new_tokens']} tokens"
        return f"cosine >= {worst:.5f}, {tokens}, error {err:.2f} of allowed"
    ratio = entry["max_error"] / max(entry["allowed_error"], 1e-30)
    return f"cosine >= {entry['cosine_min']:.6f}, error {ratio:.2f} of allowed"


def table(results_dir: Path = RESULTS) -> str:
    """The GPU table: one row per architecture, config, encoding and KV strategy run."""
    rows = []
    for path in sorted(results_dir.glob("gpu-*.json")):
        doc = json.loads(path.read_text())
        if "results" not in doc:
            continue  # an older tool's file, kept as history
        for e in doc["results"]:
            verdict = "pass" if e["ok"] else "**FAIL**"
            commit = e.get("commit", doc["commit"])[:10]
            rows.append(
                f"| `{e['architecture']}` | {e['config']} | {e['encoding']} | {e['kv']} | "
                f"{doc['card']} | {verdict} | {_figure(e)} | `{commit}` "
                f"([{path.name}](results/{path.name})) |"
            )
    head = [
        "| architecture | config | encoding | KV | card | result | figures | commit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join([START, *head, *rows, END])


def replace_table(text: str, new_table: str) -> str:
    if START not in text or END not in text:
        raise ValueError(f"{SUPPORT}: markers {START} ... {END} not found")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    return before + new_table + after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command_name", required=True)
    m = sub.add_parser("merge", help="records folder -> docs/results/gpu-<family>-<card>.json")
    m.add_argument("records", type=Path)
    m.add_argument("--commit", required=True)
    m.add_argument("--command", required=True)
    m.add_argument("--out-dir", type=Path, default=RESULTS)
    t = sub.add_parser("table", help="rewrite docs/SUPPORT.md's GPU table from the results")
    t.add_argument("--check", action="store_true", help="exit 1 if the table is out of date")
    args = parser.parse_args(argv)
    if args.command_name == "merge":
        for path in merge(
            args.records, commit=args.commit, command=args.command, out_dir=args.out_dir
        ):
            print(path)
        return 0
    text = SUPPORT.read_text()
    new = replace_table(text, table())
    if args.check:
        if new != text:
            print(f"{SUPPORT} is out of date: run python tools/gpu_results.py table")
            return 1
        return 0
    SUPPORT.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
