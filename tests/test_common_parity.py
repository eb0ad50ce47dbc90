"""The near-tie rule of the parity harness: a greedy token may differ from Hugging Face's only
where the two logits are within the error measured on the same run, so a wrong token at a
clear margin always fails, however large the logits."""

from __future__ import annotations

import numpy as np
import pytest

from tooling.metrics import BFLOAT16, FLOAT32
from tooling.parity import (
    DecoderRun,
    compare_runs,
    compare_tokens,
    compare_with_hf,
    logit_noise_bound,
    token_disagreements,
)

VOCAB, STEPS = 64, 16


def reference_logits(seed: int = 0, scale: float = 30.0) -> np.ndarray:
    """[STEPS, VOCAB] logits whose argmax leads by at least 1.0 at every step."""
    rng = np.random.default_rng(seed)
    ref = rng.normal(0.0, scale / 4, (STEPS, VOCAB))
    best = ref.argmax(-1)
    ref[np.arange(STEPS), best] = np.sort(ref, -1)[:, -2] + 1.0
    return ref


def run_of(ref: np.ndarray, tokens: list[int], noise: float, seed: int = 1) -> DecoderRun:
    rng = np.random.default_rng(seed)
    got = ref + rng.uniform(-noise, noise, ref.shape)
    return DecoderRun(prompts=[[1]], tokens=[tokens], logits=[got])


def test_noise_bound_is_the_measured_error_of_the_contenders():
    ref = reference_logits()
    run = run_of(ref, [], noise=1e-3)
    bound = logit_noise_bound([ref], run.logits)
    assert 5e-4 < bound <= 1e-3


def test_argmax_tokens_pass():
    ref = reference_logits()
    tokens = ref.argmax(-1).tolist()
    assert token_disagreements(ref, tokens, noise_bound=1e-3) == ([], None)


def test_wrong_token_at_a_clear_margin_fails():
    """Step 5 takes Hugging Face's second choice, 1.0 behind: far beyond 2 x the 1e-3 noise."""
    ref = reference_logits()
    tokens = ref.argmax(-1).tolist()
    tokens[5] = int(np.argsort(ref[5])[-2])
    assert token_disagreements(ref, tokens, noise_bound=1e-3) == ([], 5)

    run = run_of(ref, tokens, noise=1e-3)
    report = compare_with_hf(None, run, FLOAT32, refs=[ref])
    assert report.prompts[0].first_divergence == 5
    assert not report.ok
    # bfloat16's loose logit thresholds do not excuse it either: the bound is measured.
    assert not compare_with_hf(None, run, BFLOAT16, refs=[ref]).ok


def test_the_old_rule_would_have_excused_it():
    """What this rule replaced: a tie below 10 x max_rel x max|logit| (half the largest logit
    in bfloat16) excused the same wrong token."""
    ref = reference_logits()
    tokens = ref.argmax(-1).tolist()
    tokens[5] = int(np.argsort(ref[5])[-2])
    old_margin = 10 * BFLOAT16.max_rel * float(np.abs(ref).max())
    assert ref[5].max() - ref[5, tokens[5]] < old_margin


def test_swap_within_the_noise_is_a_near_tie():
    ref = reference_logits()
    ref[7, 3] = ref[7].max() + 1e-4  # a real near tie at step 7
    tokens = ref.argmax(-1).tolist()
    tokens[7] = int(np.argsort(ref[7])[-2])
    guarded, diverged = token_disagreements(ref, tokens, noise_bound=1e-3)
    assert guarded == [7] and diverged is None


def test_a_third_choice_is_judged_by_its_own_gap():
    """Not the top-2 margin: a token ranked third is as far behind as it really is."""
    ref = reference_logits()
    ref[2, :] = np.linspace(0.0, 1.0, VOCAB)
    ref[2, -2] = 1.0 - 1e-4  # top-2 margin tiny
    tokens = ref.argmax(-1).tolist()
    tokens[2] = int(np.argsort(ref[2])[-3])  # but the third choice is ~0.016 behind
    assert token_disagreements(ref, tokens, noise_bound=1e-3) == ([], 2)


@pytest.mark.parametrize("percentile_entries", [1, 3])
def test_noise_bound_ignores_entries_outside_the_contenders(percentile_entries):
    ref = reference_logits()
    got = ref.copy()
    low = np.argsort(ref, -1)[:, :percentile_entries]
    np.put_along_axis(got, low, ref.min() - 100.0, -1)  # huge error far from the argmax
    assert logit_noise_bound([ref], [got]) == 0.0


def test_runs_of_the_same_function_compare_clean():
    """Two MAX runs (e.g. with and without graph capture) within the format's rounding."""
    ref = reference_logits()
    tokens = ref.argmax(-1).tolist()
    base = DecoderRun(prompts=[[1]], tokens=[tokens], logits=[ref])
    assert compare_runs(base, run_of(ref, tokens, noise=1e-3), floor=1e-2) == []


def test_runs_differing_beyond_the_floor_or_at_a_clear_margin_fail():
    ref = reference_logits()
    tokens = ref.argmax(-1).tolist()
    base = DecoderRun(prompts=[[1]], tokens=[tokens], logits=[ref])
    # Logits off by up to 0.1 with a floor of 0.01.
    assert compare_runs(base, run_of(ref, tokens, noise=0.1), floor=1e-2)
    # One token the reference's second choice, 1.0 behind, with logits within the floor.
    wrong = list(tokens)
    wrong[5] = int(np.argsort(ref[5])[-2])
    problems = compare_runs(base, run_of(ref, wrong, noise=1e-3), floor=1e-2)
    assert problems == [
        f"prompt 0: greedy token differs at step 5 beyond 2 x {problems[0].split()[-1]}"
    ]


def test_tokens_only_runs_compare_up_to_their_first_difference():
    """A run that returns tokens only (overlap scheduler) against a run with logits."""
    ref = reference_logits()
    tokens = ref.argmax(-1).tolist()
    base = DecoderRun(prompts=[[1]], tokens=[tokens], logits=[ref])
    assert compare_tokens(base, [tokens], floor=1e-2) == []
    # The second choice at step 5, 1.0 behind: a wrong token at a clear margin.
    wrong = list(tokens)
    wrong[5] = int(np.argsort(ref[5])[-2])
    assert compare_tokens(base, [wrong], floor=1e-2) == [
        f"prompt 0: token {wrong[5]} at step 5, expected {tokens[5]} 1 ahead (beyond 2 x 0.01)"
    ]
    # The same swap is a near tie when the floor allows it; later steps are not compared.
    assert compare_tokens(base, [wrong[:6] + [0] * (STEPS - 6)], floor=0.5) == []
    assert compare_tokens(base, [tokens[:-1]], floor=1e-2) == [
        f"prompt 0: {STEPS - 1} tokens, expected {STEPS}"
    ]
