"""The parity harness: the same prompts through Hugging Face and through MAX, compared.

MAX runs the prompts as one ragged batch with greedy decoding and returns, per prompt, the
generated tokens and the logits behind each. Hugging Face then scores the very same sequences
(teacher forcing), so every step compares logits computed from identical prefixes; a greedy
token may differ from Hugging Face's argmax only where Hugging Face's own top-2 margin is
within float noise.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.metrics import LogitMetrics, Thresholds, compare_logits, passes, top2_margin

logger = logging.getLogger(__name__)

# How each KV-cache strategy name sets up MAX 26.7 (manager env var, prefix caching flag).
KV_STRATEGIES: dict[str, tuple[str, bool]] = {
    "jenga-prefix": ("0", True),
    "jenga-noprefix": ("0", False),
    "legacy-prefix": ("1", True),
    "legacy-noprefix": ("1", False),
}


@dataclass
class DecoderRun:
    """Per prompt: the new tokens and the [steps, vocab] logits that produced them."""

    prompts: list[list[int]]
    tokens: list[list[int]]
    logits: list[np.ndarray]


@dataclass
class PromptParity:
    prompt_index: int
    metrics: LogitMetrics
    first_divergence: int | None
    guarded_steps: list[int] = field(default_factory=list)


@dataclass
class ParityReport:
    prompts: list[PromptParity]
    thresholds: Thresholds

    @property
    def ok(self) -> bool:
        return all(
            passes(p.metrics, self.thresholds) and p.first_divergence is None for p in self.prompts
        )

    def lines(self) -> list[str]:
        out = []
        for p in self.prompts:
            m = p.metrics
            out.append(
                f"prompt {p.prompt_index}: max_abs={m.max_abs:.3e} rel={m.rel:.3e} "
                f"cosine={m.cosine:.7f} kl={m.kl:.3e} first_divergence={p.first_divergence}"
                + (f" (near-tie steps {p.guarded_steps})" if p.guarded_steps else "")
            )
        return out


@contextlib.contextmanager
def kv_strategy_env(kv: str) -> Iterator[bool]:
    """Sets MAX's KV manager for the pipelines built inside; yields whether prefix caching is on."""
    legacy, prefix = KV_STRATEGIES[kv]
    before = os.environ.get("MODULAR_USE_LEGACY_KV_CACHE")
    os.environ["MODULAR_USE_LEGACY_KV_CACHE"] = legacy
    try:
        yield prefix
    finally:
        if before is None:
            os.environ.pop("MODULAR_USE_LEGACY_KV_CACHE", None)
        else:
            os.environ["MODULAR_USE_LEGACY_KV_CACHE"] = before


def load_max_model(
    model_path: str,
    *,
    custom_architectures: Sequence[str],
    devices: str = "cpu",
    encoding: str = "float32",
    kv: str = "jenga-noprefix",
    max_batch_size: int = 8,
    **overrides: Any,
) -> Any:
    """A MAX `AutoModel` for the checkpoint, on the given KV-cache strategy."""
    from max.pipelines import AutoModel

    with kv_strategy_env(kv) as prefix:
        return AutoModel(
            model_path,
            devices=devices,
            max_batch_size=max_batch_size,
            custom_architectures=list(custom_architectures),
            quantization_encoding=encoding,
            enable_prefix_caching=prefix,
            **overrides,
        )


def ragged_prompts(vocab_size: int, seed: int = 0) -> list[list[int]]:
    """Four prompts of different lengths; the last two share a 150-token prefix (> one KV page)."""
    rng = np.random.default_rng(seed)
    shared = rng.integers(1, vocab_size, 150).tolist()
    return [
        rng.integers(1, vocab_size, 1).tolist(),
        rng.integers(1, vocab_size, 9).tolist(),
        shared + rng.integers(1, vocab_size, 3).tolist(),
        shared + rng.integers(1, vocab_size, 31).tolist(),
    ]


def max_greedy(model: Any, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> DecoderRun:
    """Greedy decoding of all prompts as one ragged batch, with per-step logits."""
    result = model.generate(
        [list(p) for p in prompts],
        max_new_tokens=max_new_tokens,
        ignore_eos=True,
        top_k=1,
        output_logits=True,
    )
    prompts = [list(p) for p in prompts]
    tokens = [seq[len(p) :] for seq, p in zip(result.sequences, prompts, strict=True)]
    return DecoderRun(prompts, tokens, [np.asarray(x) for x in result.logits])


def hf_teacher_forced_logits(hf_model: Any, run: DecoderRun) -> list[np.ndarray]:
    """Hugging Face's next-token logits at every position where MAX produced a token."""
    import torch

    out = []
    for prompt, tokens in zip(run.prompts, run.tokens, strict=True):
        seq = torch.tensor([prompt + tokens[:-1]])
        with torch.no_grad():
            logits = hf_model(seq).logits[0].float().numpy()
        out.append(logits[len(prompt) - 1 :])
    return out


def compare_with_hf(
    hf_model: Any, run: DecoderRun, thresholds: Thresholds, *, tie_margin: float | None = None
) -> ParityReport:
    """Logit metrics per prompt, and the first step whose greedy token is not Hugging Face's.

    A step where Hugging Face's top-2 margin is below `tie_margin` (default: 10x the logit
    tolerance) is a near tie: either token is a correct argmax, so it is not a divergence.
    """
    refs = hf_teacher_forced_logits(hf_model, run)
    report = []
    for i, (ref, got, tokens) in enumerate(zip(refs, run.logits, run.tokens, strict=True)):
        metrics = compare_logits(ref, got)
        margin = tie_margin
        if margin is None:
            margin = 10 * thresholds.max_rel * float(np.abs(ref).max())
        margins = top2_margin(ref)
        ref_argmax = ref.argmax(-1)
        guarded, diverged = [], None
        for step, token in enumerate(tokens):
            if token == int(ref_argmax[step]):
                continue
            if margins[step] < margin:
                guarded.append(step)
                continue
            diverged = step
            break
        report.append(PromptParity(i, metrics, diverged, guarded))
    return ParityReport(report, thresholds)
