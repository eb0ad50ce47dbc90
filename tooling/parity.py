"""The parity harness: the same prompts through Hugging Face and through MAX, compared.

MAX runs the prompts as one ragged batch with greedy decoding and returns, per prompt, the
generated tokens and the logits behind each. Hugging Face then scores the very same sequences
(teacher forcing), so every step compares logits computed from identical prefixes; a greedy
token may differ from Hugging Face's argmax only where Hugging Face's gap between the two is
within the logit error measured on the same run.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from tooling.metrics import LogitMetrics, Thresholds, compare_logits, passes

logger = logging.getLogger(__name__)

# How each KV-cache strategy name sets up MAX 26.7 (manager env var, prefix caching flag).
KV_STRATEGIES: Mapping[str, tuple[str, bool]] = MappingProxyType(
    {
        "jenga-prefix": ("0", True),
        "jenga-noprefix": ("0", False),
        "legacy-prefix": ("1", True),
        "legacy-noprefix": ("1", False),
    }
)


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
    noise_bound: float = 0.0  # the run's logit error the near-tie rule allowed

    @property
    def ok(self) -> bool:
        return all(
            passes(p.metrics, self.thresholds) and p.first_divergence is None for p in self.prompts
        )

    def lines(self) -> list[str]:
        out = [f"near-tie bound: 2 x {self.noise_bound:.3e} (the run's logit error)"]
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


def allow_low_precision_on_cpu() -> None:
    """Lets MAX build bfloat16 and float16 pipelines on the CPU, for diagnostics only: MAX 26.7
    refuses them there by a device check, not for want of kernels, and a graph right on the CPU
    but wrong on the GPU puts the fault in the GPU kernels. The family must list the encoding
    too (run from a copy, tools/explore_copy.py)."""
    from max.pipelines.lib.config import model_config

    model_config.supported_encoding_supported_on = lambda *_, **__: True


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


def ragged_prompts(vocab_size: int, seed: int = 0, shared_length: int = 150) -> list[list[int]]:
    """Four prompts of different lengths; the last two share a 150-token prefix (> one KV page;
    shorter for a model with fewer positions)."""
    rng = np.random.default_rng(seed)
    shared = rng.integers(1, vocab_size, shared_length).tolist()
    return [
        rng.integers(1, vocab_size, 1).tolist(),
        rng.integers(1, vocab_size, 9).tolist(),
        shared + rng.integers(1, vocab_size, 3).tolist(),
        shared + rng.integers(1, vocab_size, 31).tolist(),
    ]


def max_greedy(
    model: Any, prompts: Sequence[Sequence[int]], max_new_tokens: int, *, logits: bool = True
) -> DecoderRun:
    """Greedy decoding of all prompts as one ragged batch, with per-step logits (none with
    `logits=False`: a pipeline with MAX's overlap scheduler active returns tokens only)."""
    result = model.generate(
        [list(p) for p in prompts],
        max_new_tokens=max_new_tokens,
        ignore_eos=True,
        top_k=1,
        output_logits=logits,
    )
    prompts = [list(p) for p in prompts]
    tokens = [seq[len(p) :] for seq, p in zip(result.sequences, prompts, strict=True)]
    return DecoderRun(prompts, tokens, [np.asarray(x) for x in result.logits or []])


def hf_teacher_forced_logits(hf_model: Any, run: DecoderRun) -> list[np.ndarray]:
    """Hugging Face's next-token logits at every position where MAX produced a token, as
    float32 numpy, computed on whatever device the model sits on."""
    import torch

    device = next(hf_model.parameters()).device
    out = []
    for prompt, tokens in zip(run.prompts, run.tokens, strict=True):
        seq = torch.tensor([prompt + tokens[:-1]], device=device)
        with torch.no_grad():
            logits = hf_model(seq).logits[0].float().cpu().numpy()
        out.append(logits[len(prompt) - 1 :])
    return out


# The entries that compete for a greedy token: Hugging Face's top few of each step.
CONTENDERS = 8
NOISE_PERCENTILE = 99.0


def logit_noise_bound(
    refs: Sequence[np.ndarray], tests: Sequence[np.ndarray], percentile: float = NOISE_PERCENTILE
) -> float:
    """The logit error measured on this run: the 99th percentile (or `percentile`) of
    |test - ref| over the reference's top-`CONTENDERS` entries of every step of every prompt.

    Those are the entries a greedy choice is made between, and in low precision their error
    (which grows with the logit) is larger than the vocabulary-wide median.
    """
    errors = []
    for ref, test in zip(refs, tests, strict=True):
        ref64, test64 = np.asarray(ref, np.float64), np.asarray(test, np.float64)
        k = min(CONTENDERS, ref64.shape[-1])
        top = np.argpartition(ref64, -k, axis=-1)[..., -k:]
        errors.append(
            np.abs(np.take_along_axis(test64, top, -1) - np.take_along_axis(ref64, top, -1))
        )
    if not errors:
        return 0.0
    return float(np.percentile(np.concatenate([e.ravel() for e in errors]), percentile))


def token_disagreements(
    ref: np.ndarray, tokens: Sequence[int], noise_bound: float
) -> tuple[list[int], int | None]:
    """(near-tie steps, first real divergence) of greedy `tokens` against reference logits.

    A token other than the reference's argmax a is a near tie when ref[a] - ref[token] is at
    most 2 * noise_bound: an error of noise_bound on each of the two entries can swap them.
    Any larger gap is a wrong token, however large the logits are.
    """
    ref = np.asarray(ref, np.float64)
    guarded: list[int] = []
    for step, token in enumerate(tokens):
        best = int(ref[step].argmax())
        if token == best:
            continue
        if ref[step, best] - ref[step, token] <= 2 * noise_bound:
            guarded.append(step)
            continue
        return guarded, step
    return guarded, None


def compare_with_hf(
    hf_model: Any,
    run: DecoderRun,
    thresholds: Thresholds,
    *,
    noise_bound: float | None = None,
    refs: Sequence[np.ndarray] | None = None,
) -> ParityReport:
    """Logit metrics per prompt, and the first step whose greedy token is not Hugging Face's.

    A greedy token may differ from Hugging Face's argmax only at a near tie, judged against
    the logit error measured on this very run (`logit_noise_bound`, unless given).
    `refs` are Hugging Face's teacher-forced logits when the caller has them already.
    """
    if refs is None:
        refs = hf_teacher_forced_logits(hf_model, run)
    if noise_bound is None:
        noise_bound = logit_noise_bound(refs, run.logits)
    report = []
    for i, (ref, got, tokens) in enumerate(zip(refs, run.logits, run.tokens, strict=True)):
        guarded, diverged = token_disagreements(ref, tokens, noise_bound)
        report.append(PromptParity(i, compare_logits(ref, got), diverged, guarded))
    return ParityReport(report, thresholds, noise_bound)


def compare_runs(reference: DecoderRun, test: DecoderRun, floor: float) -> list[str]:
    """What differs between two MAX runs of one model on the same prompts that must compute
    the same function (with and without device graph capture, say): each prompt's logits must
    agree within `floor` (the format's rounding of one output), and each greedy token must be
    the reference's argmax unless the reference's own top-2 margin there is within twice the
    difference measured (a near tie). An empty list means the same function."""
    problems = []
    for i, (ref, got, tokens) in enumerate(
        zip(reference.logits, test.logits, test.tokens, strict=True)
    ):
        if ref.shape != got.shape:
            problems.append(f"prompt {i}: logits of shape {got.shape}, expected {ref.shape}")
            continue
        diff = float(np.abs(np.asarray(ref, np.float64) - got).max())
        if not diff <= floor:
            problems.append(f"prompt {i}: logits differ by {diff:.4g} > {floor:.4g}")
        _, diverged = token_disagreements(ref, tokens, diff)
        if diverged is not None:
            problems.append(
                f"prompt {i}: greedy token differs at step {diverged} beyond 2 x {diff:.4g}"
            )
    return problems


def compare_tokens(
    reference: DecoderRun, tokens: Sequence[Sequence[int]], floor: float
) -> list[str]:
    """What differs between a reference run's greedy tokens and another run's `tokens` of the
    same function where only the tokens come back (MAX's overlap scheduler, as `max serve`
    runs graph capture, returns no logits). Each prompt's tokens must equal the reference's
    up to the first that differs, and there the reference's own logits must rank the two
    within 2 x `floor` (a near tie the format's rounding can swap); past it the two runs
    continue from different prefixes, so nothing later is compared. Empty: the same tokens."""
    problems = []
    for i, (ref_logits, ref_tokens, got) in enumerate(
        zip(reference.logits, reference.tokens, tokens, strict=True)
    ):
        if len(got) != len(ref_tokens):
            problems.append(f"prompt {i}: {len(got)} tokens, expected {len(ref_tokens)}")
            continue
        step = next(
            (s for s, (a, b) in enumerate(zip(ref_tokens, got, strict=True)) if a != b), None
        )
        if step is None:
            continue
        row = np.asarray(ref_logits[step], np.float64)
        gap = float(row[ref_tokens[step]] - row[got[step]])
        if not gap <= 2 * floor:
            problems.append(
                f"prompt {i}: token {got[step]} at step {step}, expected {ref_tokens[step]} "
                f"{gap:.4g} ahead (beyond 2 x {floor:.4g})"
            )
    return problems
