"""Every registered decoder architecture on the GPU against Hugging Face on the same GPU.

Per architecture, config (defaults, every knob), encoding and KV strategy: a ragged batch of
four prompts (1 to 181 tokens, two sharing a 150-token prefix), 32 greedy steps, twice (the
second batch hits the prefix cache). Hugging Face scores MAX's sequences in float32 (the
oracle) and in MAX's dtype (the yardstick for how much error the format itself makes):
- MAX's logit error against float32 HF is at most ERROR_FACTOR times HF's own low-precision
  error (both measured on the run's contending logits), or the format's rounding floor;
- every prompt's worst-step 1 - cosine is at most ERROR_FACTOR**2 times HF's own (1 - cosine
  grows with the square of the error);
- every greedy token is HF float32's argmax, except where the two logits are within twice
  the error measured on this run, capped by the allowed error
  (tooling.parity.token_disagreements).
NaN anywhere fails.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from common.arch_config import GPU_FLOAT32_MAX_HEAD_DIM, translate_hf_config
from families.gpt2 import ARCHITECTURES as GPT2_ARCHITECTURES
from families.llama_style import ARCHITECTURES as LLAMA_ARCHITECTURES
from tests.conftest import SHAKESPEARE_MODEL
from tests.gpt2.conftest import CONFIGS as GPT2_CONFIGS
from tests.gpt2.conftest import build_gpt2_checkpoint
from tests.llama_style.conftest import CONFIGS as LLAMA_CONFIGS
from tests.llama_style.conftest import build_llama_checkpoint
from tooling.checkpoints import build_random_checkpoint
from tooling.metrics import BFLOAT16, FLOAT16, Thresholds, compare_logits
from tooling.parity import (
    compare_with_hf,
    hf_teacher_forced_logits,
    load_max_model,
    logit_noise_bound,
    max_greedy,
    ragged_prompts,
)

from .conftest import DEVICE_MEMORY_SHARE, gpu_encodings, gpu_kv_strategies

NEW_TOKENS = 32
# Differently ordered accumulation and fused kernels round differently from PyTorch's, but by
# the same order; a real fault (a wrong rotation, a lost bias) errs by the logits' own size.
ERROR_FACTOR = 4.0
# The rounding floor of one output in each format, in units of the largest logit: 4 eps of
# the format (float32 matmuls may run in TF32 on the GPU, eps 2**-10).
FLOOR_EPS = {"bfloat16": 4 * 2.0**-8, "float16": 4 * 2.0**-11, "float32": 4 * 2.0**-10}
# float32 on the GPU: TF32 matmuls (eps 2**-10) instead of the CPU's exact float32.
GPU_FLOAT32 = Thresholds(max_rel=1e-2, min_cosine=0.9999, max_kl=1e-3)
THRESHOLDS = {"bfloat16": BFLOAT16, "float16": FLOAT16, "float32": GPU_FLOAT32}


@dataclass(frozen=True)
class Case:
    family: str
    architecture: str
    config: str
    build: Callable[[Path], Path]

    @property
    def id(self) -> str:
        return f"{self.architecture}-{self.config}"


# The head size of each architecture's published checkpoints, at two heads and two layers: on
# a GPU the head size picks the attention kernel (64 and wider take MAX's Hopper kernel on an
# H100/H200), and the CPU suite's tiny checkpoints have 16-wide heads.
_POSITIONS = {"max_position_embeddings": 256}
PUBLISHED_HEADS: dict[str, dict] = {
    # gpt2 to gpt2-xl: 64.
    "GPT2LMHeadModel": {"n_embd": 128, "n_head": 2, "n_positions": 320},
    # pythia-1.4b to -12b: 128.
    "GPTNeoXForCausalLM": {**_POSITIONS, "hidden_size": 256, "num_attention_heads": 2},
    # phi-2: 80, 40% of it rotated.
    "PhiForCausalLM": {
        **_POSITIONS, "hidden_size": 160, "num_attention_heads": 2, "partial_rotary_factor": 0.4
    },
    # gemma-2b, -7b: 256, one KV head on 2b.
    "GemmaForCausalLM": {
        **_POSITIONS,
        "hidden_size": 256,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 256,
    },
    # stablelm-2-1_6b: 64.
    "StableLmForCausalLM": {
        **_POSITIONS, "hidden_size": 128, "num_attention_heads": 2, "num_key_value_heads": 2
    },
    # starcoder2-3b: 128, GQA.
    "Starcoder2ForCausalLM": {
        **_POSITIONS, "hidden_size": 256, "num_attention_heads": 2, "num_key_value_heads": 1
    },
}


def _published_heads(architecture: str, out: Path) -> Path:
    overrides = PUBLISHED_HEADS[architecture]
    return build_random_checkpoint(architecture, out, config_overrides=overrides, seed=13)


def _cases() -> list[Case]:
    cases = [
        Case(
            "families.gpt2",
            "GPT2LMHeadModel",
            name,
            lambda out, n=name: build_gpt2_checkpoint(n, out),
        )
        for name in GPT2_CONFIGS
    ]
    cases.append(
        Case("families.gpt2", "GPT2LMHeadModel", "shakespeare", lambda _: SHAKESPEARE_MODEL)
    )
    cases += [
        Case(
            "families.llama_style",
            arch.name,
            name,
            lambda out, a=arch.name, n=name: build_llama_checkpoint(a, n, out),
        )
        for arch in LLAMA_ARCHITECTURES
        for name in LLAMA_CONFIGS[arch.name]
    ]
    family = {a.name: "families.gpt2" for a in GPT2_ARCHITECTURES}
    family |= {a.name: "families.llama_style" for a in LLAMA_ARCHITECTURES}
    cases += [
        Case(family[name], name, "published-heads", lambda out, a=name: _published_heads(a, out))
        for name in PUBLISHED_HEADS
    ]
    return cases


CASES = _cases()
DECODERS = {arch.name: arch for arch in [*GPT2_ARCHITECTURES, *LLAMA_ARCHITECTURES]}
LISTED = {name: arch.supported_encodings for name, arch in DECODERS.items()}


def test_every_registered_decoder_has_gpu_cases():
    assert {c.architecture for c in CASES} == set(LISTED)


@contextlib.contextmanager
def tf32_matmuls() -> Iterator[None]:
    import torch

    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def head_dim(case: Case, path: Path) -> int:
    """The checkpoint's head size as its family translates the config (one rule, the load's)."""
    from transformers import AutoConfig

    config = DECODERS[case.architecture].config
    return translate_hf_config(config, AutoConfig.from_pretrained(path), "config.json")["head_dim"]


def hf_models(path: Path, encoding: str):
    """(float32 oracle, same-precision yardstick) on the GPU."""
    import torch
    from transformers import AutoModelForCausalLM

    oracle = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).cuda().eval()
    low_dtype = torch.float32 if encoding == "float32" else getattr(torch, encoding)
    low = AutoModelForCausalLM.from_pretrained(path, dtype=low_dtype).cuda().eval()
    return oracle, low


@pytest.mark.slow
@pytest.mark.parametrize("kv", gpu_kv_strategies())
@pytest.mark.parametrize("encoding", gpu_encodings())
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_decoder_matches_hugging_face_on_gpu(case, encoding, kv, tmp_path, record):
    if encoding not in LISTED[case.architecture]:
        pytest.skip(f"{case.architecture}: {encoding} is not listed (docs/SUPPORT.md)")
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    where = dict(
        family=case.family.split(".")[-1],
        architecture=case.architecture,
        config=case.config,
        encoding=encoding,
        kv=kv,
    )
    path = case.build(tmp_path / case.id)
    if encoding == "float32" and head_dim(case, path) > GPU_FLOAT32_MAX_HEAD_DIM:
        # MAX's GPU attention does not run it (common.arch_config): refused by name, and
        # before anything compiles, is what the listing promises here.
        with pytest.raises(ValueError, match="head_dim .* on the GPU in float32") as refusal:
            load_max_model(
                str(path),
                custom_architectures=[case.family],
                devices="gpu",
                encoding=encoding,
                kv=kv,
                device_memory_utilization=DEVICE_MEMORY_SHARE,
            )
        record(**where, ok=True, problems=[], refused=str(refusal.value))
        return
    oracle, same_dtype = hf_models(path, encoding)
    prompts = ragged_prompts(oracle.config.vocab_size)
    start = time.perf_counter()
    model = load_max_model(
        str(path),
        custom_architectures=[case.family],
        devices="gpu",
        encoding=encoding,
        kv=kv,
        max_batch_size=len(prompts),
        device_memory_utilization=DEVICE_MEMORY_SHARE,
    )
    load_s = time.perf_counter() - start
    thresholds = THRESHOLDS[encoding]
    problems: list[str] = []
    attempts = []
    for attempt in range(2):
        run = max_greedy(model, prompts, NEW_TOKENS)
        refs = hf_teacher_forced_logits(oracle, run)
        with tf32_matmuls() if encoding == "float32" else contextlib.nullcontext():
            lows = hf_teacher_forced_logits(same_dtype, run)
        max_err = logit_noise_bound(refs, run.logits)
        hf_err = logit_noise_bound(refs, lows)
        scale = max(float(np.abs(r).max()) for r in refs)
        allowed = max(ERROR_FACTOR * hf_err, FLOOR_EPS[encoding] * scale)
        # A broken graph's own error must not excuse its tokens: the tie bound is capped.
        report = compare_with_hf(
            None, run, thresholds, refs=refs, noise_bound=min(max_err, allowed)
        )
        prompts_out = []
        for p, tokens, ref, low in zip(report.prompts, run.tokens, refs, lows, strict=True):
            agree = NEW_TOKENS if p.first_divergence is None else p.first_divergence
            hf_cosine = compare_logits(ref, low).cosine
            cosine_gap_allowed = ERROR_FACTOR**2 * max(1.0 - hf_cosine, FLOOR_EPS[encoding] ** 2)
            prompts_out.append(
                {
                    "cosine_min": p.metrics.cosine,
                    "hf_same_dtype_cosine_min": hf_cosine,
                    "kl_max": p.metrics.kl,
                    "rel": p.metrics.rel,
                    "first_divergence": p.first_divergence,
                    "near_ties": p.guarded_steps,
                    "tokens_agreeing": agree,
                    "tokens": len(tokens),
                }
            )
            if not 1.0 - p.metrics.cosine <= cosine_gap_allowed:
                problems.append(
                    f"attempt {attempt} prompt {p.prompt_index}: cosine {p.metrics.cosine:.6f}, "
                    f"HF {encoding} {hf_cosine:.6f}: 1 - cosine over {ERROR_FACTOR**2:g}x HF's"
                )
            if p.first_divergence is not None:
                problems.append(
                    f"attempt {attempt} prompt {p.prompt_index}: greedy token differs at step "
                    f"{p.first_divergence} beyond 2 x {report.noise_bound:.3g}"
                )
        if not max_err <= allowed:
            problems.append(
                f"attempt {attempt}: logit error {max_err:.4g} > allowed {allowed:.4g} "
                f"({ERROR_FACTOR} x HF {encoding}'s {hf_err:.4g}, floor "
                f"{FLOOR_EPS[encoding] * scale:.4g})"
            )
        attempts.append(
            {
                "max_error_p99": max_err,
                "hf_same_dtype_error_p99": hf_err,
                "allowed_error": allowed,
                "tie_bound": report.noise_bound,
                "logit_scale": scale,
                "prompts": prompts_out,
            }
        )
    del model
    record(
        **where,
        ok=not problems,
        problems=problems,
        load_s=load_s,
        new_tokens=NEW_TOKENS,
        prompt_lengths=[len(p) for p in prompts],
        attempts=attempts,
    )
    assert not problems, f"{case.id} {encoding} {kv}:\n" + "\n".join(problems)


def test_every_registered_decoder_has_a_published_heads_case():
    assert set(PUBLISHED_HEADS) == set(LISTED)


@pytest.mark.parametrize("architecture", sorted(PUBLISHED_HEADS))
def test_published_heads_checkpoint_has_the_published_head_size(architecture, tmp_path):
    """The config builds, and its heads have the width the comment above names."""
    import json

    config = json.loads((_published_heads(architecture, tmp_path) / "config.json").read_text())
    hidden = config.get("n_embd", config.get("hidden_size"))
    heads = config.get("n_head", config.get("num_attention_heads"))
    head_dim = config.get("head_dim") or hidden // heads
    assert head_dim >= 64, f"{architecture}: {head_dim}-wide heads"
