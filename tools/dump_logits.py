"""MAX's greedy logits for the tests' tiny rotary-decoder checkpoints, saved to compare two
versions of the code (a change that must not move a number, such as a weight reordering).

    PYTHONPATH=<checkout A> python tools/dump_logits.py GPTNeoXForCausalLM a.npz
    PYTHONPATH=<checkout B> python tools/dump_logits.py GPTNeoXForCausalLM b.npz
    python tools/dump_logits.py --compare a.npz b.npz     # exit 1 unless bit-identical

The checkpoint (tests/llama_style/conftest.py's configs, seed 11), the ragged prompts and the
16 greedy steps are the same for every checkout; MAX runs on the CPU in float32. The families
and tests are imported from PYTHONPATH, so each run measures the checkout it names.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

STEPS = 16


def dump(architecture: str, out: Path) -> None:
    from tests.llama_style.conftest import CONFIGS
    from tooling.checkpoints import build_random_checkpoint
    from tooling.parity import load_max_model, max_greedy, ragged_prompts

    logits = {}
    with tempfile.TemporaryDirectory() as tmp:
        for config, overrides in CONFIGS[architecture].items():
            path = build_random_checkpoint(
                architecture, Path(tmp) / config, config_overrides=overrides, seed=11
            )
            model = load_max_model(
                str(path), custom_architectures=["families.llama_style"], max_batch_size=4
            )
            run = max_greedy(model, ragged_prompts(512), STEPS)
            logits.update({f"{config}{i}": x for i, x in enumerate(run.logits)})
            del model
    np.savez(out, **logits)
    print(f"wrote {out}: {sorted(logits)}")


def compare(a: Path, b: Path) -> bool:
    first, second = np.load(a), np.load(b)
    same = sorted(first.files) == sorted(second.files)
    for key in sorted(first.files):
        equal = key in second.files and np.array_equal(first[key], second[key])
        diff = float(np.abs(first[key] - second[key]).max()) if key in second.files else None
        print(f"{key}: {first[key].shape} bit-identical={equal} max|diff|={diff}")
        same = same and equal
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    parser.add_argument("architecture", nargs="?")
    parser.add_argument("out", nargs="?", type=Path)
    args = parser.parse_args()
    if args.compare:
        return 0 if compare(*args.compare) else 1
    if not (args.architecture and args.out):
        parser.error("ARCHITECTURE OUT, or --compare A B")
    dump(args.architecture, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
