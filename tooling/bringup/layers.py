"""`diff-layers`: the hidden state after each block, MAX against Hugging Face, and the first
block after which they part.

MAX's served graph returns logits only, and a second graph that returns every block's output
would cost a compile per checkpoint config and would not be the code that serves. Instead the
served graph runs unchanged, once per depth k = 0..L, on a copy of the checkpoint whose blocks
k..L-1 are identities: the family's `debug.IDENTITY_BLOCK_TENSORS` (the projections that end
each residual branch) are zeroed there. That copy's logits are block k-1's output (the
embeddings for k = 0) read through the final norm and the LM head; the head widens the hidden
size into the vocabulary with (in practice) full rank, so any difference shows in the logits.
Hugging Face runs the same copy, and forward hooks check that its zeroed blocks really pass
their input through.
Weights are not part of MAX's compiled graph, so every depth reuses one cached compile.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.mapping import compile_pattern
from tooling.metrics import LogitMetrics, failures

from .family import Family, FamilyError, load_family
from .inspection import checkpoint_files, inspect_checkpoint
from .verify import THRESHOLDS, architecture_of, error_chain, load_hf_causal_lm, load_max, tokenize

DEFAULT_PROMPT = "First Citizen: Before we proceed any further, hear me speak."


@dataclass
class DepthResult:
    depth: int  # blocks kept; the hidden state is the output of block depth - 1
    hf_rms: float  # root mean square of Hugging Face's hidden state there, over the prompt
    metrics: LogitMetrics
    first_divergence: int | None
    reasons: list[str]

    @property
    def ok(self) -> bool:
        return not self.reasons and self.first_divergence is None

    @property
    def label(self) -> str:
        return "embeddings" if self.depth == 0 else f"block {self.depth - 1}"


@dataclass
class DiffResult:
    depths: list[DepthResult]
    lines: list[str]

    @property
    def first_bad(self) -> DepthResult | None:
        return next((d for d in self.depths if not d.ok), None)


def identity_patterns(family: Family) -> tuple[str, ...]:
    debug = family.debug
    patterns = tuple(getattr(debug, "IDENTITY_BLOCK_TENSORS", ()) or ())
    if not patterns:
        raise FamilyError(
            f"{where_debug(family)}: IDENTITY_BLOCK_TENSORS is missing or empty; diff-layers "
            "needs the checkpoint tensors (with a {layer} placeholder) whose zeroing makes a "
            "block pass its input through, e.g. each residual branch's output projection and "
            "its bias"
        )
    for pattern in patterns:
        if "{layer}" not in pattern:
            raise FamilyError(f"{where_debug(family)}: pattern {pattern!r} has no {{layer}}")
    return patterns


def where_debug(family: Family) -> str:
    return f"{family.weight_adapters.__name__.rpartition('.')[0]}.debug"


def block_of_tensors(
    names: Sequence[str], patterns: Sequence[str], family: Family
) -> dict[str, int]:
    """Checkpoint tensor -> the block it silences, for every tensor a pattern names."""
    _, table = family.table()
    out: dict[str, int] = {}
    for name in names:
        for candidate in table.candidates(name):
            for pattern in patterns:
                m = compile_pattern(pattern).match(candidate)
                if m:
                    out[name] = int(m.group("layer"))
    return out


def hf_blocks(model: Any, family: Family, num_layers: int) -> Any:
    """The Hugging Face model's list of blocks: `debug.HF_BLOCKS`, else the first ModuleList
    of `num_layers` modules."""
    import torch

    path = getattr(family.debug, "HF_BLOCKS", None)
    if path:
        return model.get_submodule(path)
    for _, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == num_layers:
            return module
    raise FamilyError(
        f"{type(model).__name__}: no ModuleList of {num_layers} blocks; set HF_BLOCKS in "
        f"{where_debug(family)}"
    )


@contextmanager
def block_io(blocks: Any) -> Iterator[list[tuple[Any, Any]]]:
    """Records (input, output) hidden states of each block while the context is open."""
    records: list[tuple[Any, Any]] = [(None, None)] * len(blocks)

    def hook(index: int) -> Any:
        def record(module: Any, args: Any, kwargs: Any, output: Any) -> None:
            hidden_in = args[0] if args else kwargs["hidden_states"]
            hidden_out = output[0] if isinstance(output, (tuple, list)) else output
            records[index] = (hidden_in.detach(), hidden_out.detach())

        return record

    handles = [
        block.register_forward_hook(hook(i), with_kwargs=True) for i, block in enumerate(blocks)
    ]
    try:
        yield records
    finally:
        for handle in handles:
            handle.remove()


def hf_hidden_rms(model: Any, blocks: Any, ids: list[int]) -> list[float]:
    """RMS of Hugging Face's hidden state at each depth 0..L over the prompt's positions."""
    import torch

    with block_io(blocks) as records, torch.no_grad():
        model(torch.tensor([ids]))
    states = [records[0][0]] + [out for _, out in records]
    return [float(s.float().pow(2).mean().sqrt()) for s in states]


def check_identities(model: Any, blocks: Any, ids: list[int], depth: int, source: str) -> None:
    """The zeroed blocks of a depth-`depth` copy must return their input unchanged."""
    import torch

    with block_io(blocks) as records, torch.no_grad():
        model(torch.tensor([ids]))
    for index in range(depth, len(blocks)):
        hidden_in, hidden_out = records[index]
        change = float((hidden_out - hidden_in).abs().max())
        if change > 1e-6 * float(hidden_in.abs().max()):
            raise FamilyError(
                f"{source}: with its IDENTITY_BLOCK_TENSORS zeroed, Hugging Face's block {index} "
                f"still changes its input (max |out - in| = {change:.3g}); the hook does not "
                "silence this architecture's blocks"
            )


def write_depth_copy(source: Path, out: Path, block_of: dict[str, int], depth: int) -> Path:
    """The checkpoint with every block from `depth` on an identity; other files copied."""
    import torch
    from safetensors.torch import load_file, save_file

    out.mkdir(parents=True, exist_ok=True)
    files = checkpoint_files(source)
    for item in source.iterdir():
        if item.is_file() and item.suffix != ".safetensors":
            shutil.copy2(item, out / item.name)
    for file in files:
        tensors = load_file(file)
        for name, tensor in tensors.items():
            if block_of.get(name, -1) >= depth:
                tensors[name] = torch.zeros_like(tensor)
        save_file(tensors, out / file.name, metadata={"format": "pt"})
    return out


def diff_layers(
    path: str | Path,
    family: str,
    *,
    prompt: str = DEFAULT_PROMPT,
    device: str = "cpu",
    encoding: str = "float32",
    new_tokens: int = 4,
    kv: str = "jenga-noprefix",
    table: str | None = None,
    keep: Path | None = None,
) -> DiffResult:
    import torch

    from tooling.parity import compare_with_hf, max_greedy

    torch.set_num_threads(1)
    path = Path(path)
    if not path.is_dir():
        raise FamilyError(f"{path}: diff-layers needs a checkpoint directory")
    handle = load_family(family, architecture_of(path))
    patterns = identity_patterns(handle)
    # The copies fail to load exactly when the original does; say so naming the original.
    mapping = inspect_checkpoint(path, handle, table_name=table)
    if not mapping.ok:
        raise FamilyError(
            f"{path} does not load with {handle.name}:\n" + "\n".join(mapping.summary_lines())
        )
    names = [n for f in checkpoint_files(path) for n in _tensor_names(f)]
    block_of = block_of_tensors(names, patterns, handle)
    if not block_of:
        raise FamilyError(
            f"{path}: no checkpoint tensor matches {where_debug(handle)}.IDENTITY_BLOCK_TENSORS "
            f"({', '.join(patterns)})"
        )
    num_layers = max(block_of.values()) + 1
    thresholds = THRESHOLDS[encoding]
    (ids,) = tokenize(path, [prompt])

    hf = load_hf_causal_lm(path)
    rms = hf_hidden_rms(hf, hf_blocks(hf, handle, num_layers), ids)
    del hf
    work = Path(keep) if keep is not None else Path(tempfile.mkdtemp(prefix="diff-layers-"))
    depths: list[DepthResult] = []
    try:
        for depth in range(num_layers + 1):
            copy = path
            if depth < num_layers:
                copy = write_depth_copy(path, work / f"depth{depth}", block_of, depth)
            hf = load_hf_causal_lm(copy)
            check_identities(hf, hf_blocks(hf, handle, num_layers), ids, depth, str(copy))
            with handle.table_replaced(table):
                model = load_max(copy, handle, device=device, encoding=encoding, kv=kv)
            run = max_greedy(model, [ids], new_tokens)
            del model
            (parity,) = compare_with_hf(hf, run, thresholds).prompts
            depths.append(
                DepthResult(
                    depth,
                    rms[depth],
                    parity.metrics,
                    parity.first_divergence,
                    failures(parity.metrics, thresholds),
                )
            )
            if keep is None and copy != path:
                shutil.rmtree(copy)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)

    arch = handle.architecture.name if handle.architecture else "?"
    lines = [
        f"diff-layers {path}: {handle.name} ({arch}), {num_layers} blocks, prompt of {len(ids)} "
        f"tokens, {new_tokens} steps, {device} {encoding}",
        f"each row: the hidden state after that block, read through the final norm and LM head "
        f"of a copy whose later blocks are zeroed to identities ({where_debug(handle)}); "
        f"MAX and Hugging Face run the same copy",
        f"{'after':<12} {'hf rms':>9} {'max_abs':>10} {'rel':>10} {'cosine':>12} {'kl':>10}",
    ]
    for d in depths:
        m = d.metrics
        verdict = "ok"
        if not d.ok:
            why = list(d.reasons)
            if d.first_divergence is not None:
                why.append(f"greedy token differs at step {d.first_divergence}")
            verdict = "DIVERGED: " + "; ".join(why)
        lines.append(
            f"{d.label:<12} {d.hf_rms:>9.4g} {m.max_abs:>10.3g} {m.rel:>10.3g} "
            f"{m.cosine:>12.8f} {m.kl:>10.3g}  {verdict}"
        )
    result = DiffResult(depths, lines)
    bad = result.first_bad
    if bad is None:
        lines.append("no divergence: every block's output matches Hugging Face")
    elif bad.depth == 0:
        lines.append(
            "first divergence: the embeddings (or the final norm / LM head that read them out)"
        )
    else:
        lines.append(
            f"first divergence: {bad.label} (layer {bad.depth - 1}'s tensors, its attention or "
            f"MLP); everything before it matches"
        )
    return result


def _tensor_names(file: Path) -> list[str]:
    from common.safe_load import check_safetensors

    return list(check_safetensors(file))


def diff_layers_command(args: Any) -> int:
    """0 when every depth matches, 1 at a divergence, 2 when it cannot run."""
    try:
        result = diff_layers(
            args.checkpoint,
            args.family,
            prompt=args.prompt or DEFAULT_PROMPT,
            device=args.device,
            encoding=args.encoding,
            new_tokens=args.new_tokens,
            table=args.table,
            keep=args.keep,
        )
    except Exception as exc:  # MAX wraps the adapter's and the config's errors
        print(f"diff-layers {args.checkpoint}: could not run:\n{error_chain(exc)}", file=sys.stderr)
        return 2
    print("\n".join(result.lines))
    return 0 if result.first_bad is None else 1
