"""`verify`: the checkpoint through MAX and through Hugging Face on the same prompts.

MAX decodes the prompts greedily as one ragged batch (`tooling.parity.max_greedy`); Hugging
Face (float32, CPU) scores the very same sequences, so each step's logits are compared from
identical prefixes (`tooling.parity.compare_with_hf`) against the encoding's thresholds.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from tooling.metrics import BFLOAT16, FLOAT32, Thresholds, compare_logits, failures

from .family import Family, load_family
from .inspection import hf_config_of

THRESHOLDS: Mapping[str, Thresholds] = MappingProxyType({"float32": FLOAT32, "bfloat16": BFLOAT16})
# Different lengths, so the ragged batch has rows of 1 to ~20 tokens.
DEFAULT_PROMPTS = (
    "The",
    "Once upon a time, there was",
    "First Citizen: Before we proceed any further, hear me speak.",
    "Numbers like 12, 345 and 6789 appear in text, as do dates such as 2024-05-17.",
)


@dataclass
class StepDivergence:
    """The first step of one prompt whose logits break the thresholds."""

    step: int
    max_token: int
    hf_token: int
    reasons: list[str]


def read_prompts(file: Path | None) -> list[str]:
    if file is None:
        return list(DEFAULT_PROMPTS)
    prompts = [line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not prompts:
        raise ValueError(f"{file}: no prompts (expected one per non-empty line)")
    return prompts


def tokenize(path: Path, prompts: Sequence[str]) -> list[list[int]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    ids = [list(tokenizer(p).input_ids) for p in prompts]
    empty = [p for p, i in zip(prompts, ids, strict=True) if not i]
    if empty:
        raise ValueError(f"{path}: the tokenizer gives no tokens for prompt(s) {empty!r}")
    return ids


def load_hf_causal_lm(path: Path) -> Any:
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


def first_bad_steps(
    refs: Sequence[np.ndarray], run: Any, thresholds: Thresholds
) -> list[StepDivergence | None]:
    """Per prompt, the first decoding step whose logits alone break the thresholds."""
    out: list[StepDivergence | None] = []
    for ref, got, tokens in zip(refs, run.logits, run.tokens, strict=True):
        found = None
        for step in range(len(tokens)):
            reasons = failures(compare_logits(ref[step], got[step]), thresholds)
            if reasons:
                found = StepDivergence(step, int(tokens[step]), int(ref[step].argmax()), reasons)
                break
        out.append(found)
    return out


def architecture_of(path: Path) -> str | None:
    config = hf_config_of(path) or {}
    names = config.get("architectures") or [None]
    return names[0]


def load_max(
    path: Path, family: Family, *, device: str, encoding: str, kv: str = "jenga-noprefix"
) -> Any:
    from tooling.parity import load_max_model

    return load_max_model(
        str(path),
        custom_architectures=family.custom_architectures(),
        devices=device,
        encoding=encoding,
        kv=kv,
    )


@dataclass
class VerifyResult:
    ok: bool
    lines: list[str]


def verify(
    path: str | Path,
    family: str,
    *,
    prompts: Sequence[str] = DEFAULT_PROMPTS,
    device: str = "cpu",
    encoding: str = "float32",
    new_tokens: int = 16,
    kv: str = "jenga-noprefix",
    table: str | None = None,
) -> VerifyResult:
    """Runs both models and says, per prompt, how far apart they are and where they part."""
    import torch

    from tooling.parity import compare_with_hf, hf_teacher_forced_logits, max_greedy

    torch.set_num_threads(1)
    path = Path(path)
    handle = load_family(family, architecture_of(path))
    thresholds = THRESHOLDS[encoding]
    ids = tokenize(path, prompts)
    with handle.table_replaced(table):
        model = load_max(path, handle, device=device, encoding=encoding, kv=kv)
    run = max_greedy(model, ids, new_tokens)
    del model
    hf = load_hf_causal_lm(path)
    report = compare_with_hf(hf, run, thresholds)
    bad_steps = first_bad_steps(hf_teacher_forced_logits(hf, run), run, thresholds)
    arch = handle.architecture.name if handle.architecture else "?"
    lines = [
        f"verify {path}: {handle.name} ({arch}{'' if handle.registered else ', unregistered'}), "
        f"{device} {encoding}, {len(ids)} prompts x {new_tokens} new tokens, kv {kv}",
        f"thresholds: rel <= {thresholds.max_rel:g}, cosine >= {thresholds.min_cosine:g}, "
        f"kl <= {thresholds.max_kl:g}",
    ]
    for p, bad, prompt in zip(report.prompts, bad_steps, ids, strict=True):
        reasons = failures(p.metrics, thresholds)
        status = "ok" if not reasons and p.first_divergence is None else "FAIL"
        lines.append(
            f"prompt {p.prompt_index} ({len(prompt)} tokens): {status}  {p.metrics}"
            + (f"  near-tie steps {p.guarded_steps}" if p.guarded_steps else "")
        )
        if bad is not None:
            lines.append(
                f"  first step beyond tolerance: {bad.step} ({'; '.join(bad.reasons)}); "
                f"MAX chose {bad.max_token}, Hugging Face's argmax {bad.hf_token}"
            )
        if p.first_divergence is not None:
            lines.append(f"  first greedy token that differs: step {p.first_divergence}")
    failed = sum(
        bool(failures(p.metrics, thresholds)) or p.first_divergence is not None
        for p in report.prompts
    )
    lines.append("result: PASS" if report.ok else f"result: FAIL ({failed} of {len(ids)} prompts)")
    return VerifyResult(report.ok, lines)


def verify_command(args: Any) -> int:
    """0 on parity, 1 when MAX and Hugging Face disagree, 2 when either cannot run."""
    try:
        prompts = read_prompts(args.prompts)
        result = verify(
            args.checkpoint,
            args.family,
            prompts=prompts,
            device=args.device,
            encoding=args.encoding,
            new_tokens=args.new_tokens,
            kv=args.kv,
            table=args.table,
        )
    except Exception as exc:  # the whole chain: MAX wraps the adapter's and the config's errors
        print(f"verify {args.checkpoint}: could not run:\n{error_chain(exc)}", file=sys.stderr)
        return 2
    print("\n".join(result.lines))
    return 0 if result.ok else 1


def error_chain(exc: BaseException) -> str:
    """Each exception's message, outermost first, without repeats."""
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None:
        text = f"{type(current).__name__}: {current}"
        if text not in parts:
            parts.append(text)
        current = current.__cause__ or current.__context__
    return "\n".join(parts)
