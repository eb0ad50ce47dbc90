"""The sha256 of a family's traced decoder graph (its MLIR text), built but not compiled.

A change meant to leave the graph as it was (a refactor of the layer code, a new hook for a
bench variant) is checked by comparing digests before and after, on any machine, in seconds:
the same text compiles to the same kernels, so GPU results measured on the old graph hold for
the new one. Only the family's own graph is read (its pipeline model's `graph_name`), not
MAX's sampling and log-probability graphs; MAX stops at it, before compiling.

    python tools/graph_digest.py --tiny GPT2LMHeadModel --architectures families.gpt2 \
        [--variant gpt2qkvalone] [--text graph.mlir]

`--tiny ARCH` builds a tiny random checkpoint of a Hugging Face architecture
(`tooling.checkpoints`); a checkpoint directory may be given instead. `--variant` applies one
of `tools/bench.py`'s GPT-2 graph variants first.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tooling.checkpoints import build_random_checkpoint  # noqa: E402
from tools.bench import graph_variant  # noqa: E402


class Traced(Exception):
    """Raised with the family's graph text when MAX is about to compile it."""

    def __init__(self, text: str) -> None:
        super().__init__("traced")
        self.text = text


def graph_name(checkpoint: Path, architectures: str) -> str:
    """The graph name of the pipeline model that serves the checkpoint's architecture."""
    arch = json.loads((checkpoint / "config.json").read_text())["architectures"][0]
    for entry in importlib.import_module(architectures).ARCHITECTURES:
        if entry.name == arch:
            return entry.pipeline_model.graph_name
    raise SystemExit(f"{architectures} does not register {arch} (config.json: architectures)")


@contextlib.contextmanager
def stop_before_compiling(name: str) -> Iterator[None]:
    """MAX's compile of the graph called `name` raises Traced; other graphs compile as usual."""
    from max.engine import InferenceSession

    compile_graph = InferenceSession.compile_reusing_mefs

    def compile_or_stop(self, model, *args, **kwargs):
        if getattr(model, "name", None) == name:
            raise Traced(str(model))
        return compile_graph(self, model, *args, **kwargs)

    InferenceSession.compile_reusing_mefs = compile_or_stop
    try:
        yield
    finally:
        InferenceSession.compile_reusing_mefs = compile_graph


def traced_graph(checkpoint: Path, architectures: str, variant: str) -> str:
    from tooling.parity import load_max_model

    name = graph_name(checkpoint, architectures)
    with graph_variant(variant), stop_before_compiling(name):
        try:
            load_max_model(str(checkpoint), custom_architectures=[architectures])
        except Traced as traced:
            return traced.text
    raise SystemExit(f"MAX built no graph called {name!r}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("checkpoint", type=Path, nargs="?")
    source.add_argument("--tiny", metavar="ARCH", help="a tiny random checkpoint of ARCH")
    p.add_argument(
        "--architectures", default="families.gpt2", help="the custom-architecture package"
    )
    p.add_argument("--variant", default="", help="a GPT-2 graph variant of tools/bench.py")
    p.add_argument("--text", type=Path, help="also write the graph's text here")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or build_random_checkpoint(args.tiny, Path(tmp), seed=0)
        text = traced_graph(checkpoint, args.architectures, args.variant)
    if args.text:
        args.text.write_text(text)
    print(hashlib.sha256(text.encode()).hexdigest(), args.variant or "shipped graph")


if __name__ == "__main__":
    main()
