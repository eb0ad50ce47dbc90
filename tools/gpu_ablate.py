"""Where a rotary decoder goes wrong on the GPU: the same step removed or replaced on both sides.

    python tools/gpu_ablate.py ARCHITECTURE CONFIG ENCODING VARIANT [--kv KV] [--override JSON]

Builds the tests' tiny checkpoint (tests/llama_style/conftest.py), applies VARIANT to MAX's graph
and, where the variant changes the model's function, to Hugging Face's too, then runs the GPU
suite's comparison (a ragged batch, 32 greedy steps, HF float32 teacher-forced on MAX's tokens)
and prints one JSON line: MAX's logit error against HF float32 next to HF's own error in
ENCODING. A variant that brings MAX's error down to HF's names the step at fault.

Variants (the shipped graph rotates in MAX's split-and-store kernel, or, with q/k norms, with
MAX's fused rope kernel after storing k and v; the graph-rotation variants take the latter
path for every layout):
  baseline        the graph as shipped
  no-rotary       neither side rotates q and k (same function on both sides)
  graph-rotation  the rotation as graph ops over a table gathered by position, in float32,
                  before k is stored (common.rotary.apply_rotary; shipped until 2026-11-29)
  rotate-dtype    graph-rotation in the encoding's dtype (HF's own order)
  rotate-half     graph-rotation written as HF's x * cos + rotate_half(x) * sin
  table-on-device graph-rotation with the cos/sin constants made on the GPU
  max-rope        MAX's rope_ragged_with_position_ids kernel rotates, before k is stored
  f32-norm        MAX's LayerNorm computed by hand in float32, cast back after
ARCHITECTURE LlamaForCausalLM runs MAX's built-in Llama (the control; config "defaults");
GPT2LMHeadModel with config "shakespeare" runs the shipped trained model (models/).
Any variant takes --override '{"hidden_act": "gelu_new"}' etc. (config.json keys, both sides).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HF_MODULES = {
    "GPTNeoXForCausalLM": "gpt_neox",
    "PhiForCausalLM": "phi",
    "GemmaForCausalLM": "gemma",
    "StableLmForCausalLM": "stablelm",
    "Starcoder2ForCausalLM": "starcoder2",
    # The control: MAX's own Llama (no custom architecture) on a tiny checkpoint of the same
    # sizes. Wrong there too means MAX's kernels, not our graph.
    "LlamaForCausalLM": "llama",
    # The other control: our GPT-2 (no rotation, same common attention).
    "GPT2LMHeadModel": "gpt2",
}


def _table(rope, positions, dtype=None):
    """(cos, sin) rows gathered by position, as common.rotary.RotaryTable gives them."""
    from max.dtype import DType

    return rope(positions, dtype or DType.float32)


def _table_on_device(rope, positions):
    from max.dtype import DType
    from max.graph import ops

    from common.rotary import rotary_tables

    out = []
    for table in rotary_tables(rope.rotary_dim, rope.max_positions, rope.theta):
        constant = ops.constant(table, DType.float32, device=rope.device)
        out.append(ops.unsqueeze(ops.gather(constant, positions, axis=0), 1))
    return out[0], out[1]


def _rotate_half(x, cos, sin):
    from max.graph import ops

    half = int(cos.shape[-1])
    head_dim = int(x.shape[-1])
    wide = x.cast(cos.dtype)
    rot = wide[:, :, : 2 * half]
    cos_full = ops.concat([cos, cos], axis=-1)
    sin_full = ops.concat([sin, sin], axis=-1)
    halved = ops.concat([-rot[:, :, half:], rot[:, :, :half]], axis=-1)
    out = rot * cos_full + halved * sin_full
    if 2 * half < head_dim:
        out = ops.concat([out, wide[:, :, 2 * half :]], axis=-1)
    return out.cast(x.dtype)


def _max_rope(rope, positions):
    """A rotation function over MAX's rope_ragged_with_position_ids kernel."""
    from max.dtype import DType
    from max.graph import ops
    from max.nn.kernels import rope_ragged_with_position_ids

    freqs = rope.shipped_freqs_cis()
    ids = positions.cast(DType.uint32)

    def rotate(x):
        wide = x.cast(freqs.dtype)
        rotary_dim = int(freqs.shape[-1])
        out = rope_ragged_with_position_ids(wide[:, :, :rotary_dim], freqs, ids, interleaved=False)
        if rotary_dim < int(x.shape[-1]):
            out = ops.concat([out, wide[:, :, rotary_dim:]], axis=-1)
        return out.cast(x.dtype)

    return rotate


def _f32_layer_norm(self, x):
    from max.dtype import DType
    from max.graph import ops

    wide = x.cast(DType.float32)
    mean = ops.mean(wide, axis=-1)
    centred = wide - mean
    var = ops.mean(centred * centred, axis=-1)
    out = centred * ops.rsqrt(var + self.eps) * self.weight.cast(DType.float32)
    if self.bias is not None:
        out = out + self.bias.cast(DType.float32)
    return out.cast(x.dtype)


def _graph_rotation(make_rotate):
    """Patches the decoder to rotate q and k with graph ops before k is stored:
    `make_rotate(rope_table, positions)` returns the function applied to q and to k."""
    from families.llama_style import layers

    shipped_call, shipped_attention = layers.RotaryDecoder.__call__, layers.rotary_attention
    # Every layout through the path that stores k and v as projected (`rotary_attention`),
    # not the split-and-store kernel, which rotates inside.
    layers.RotaryConfig.splits_and_stores = property(lambda config: False)

    def decoder_call(self, tokens, positions, *rest):
        self.rope.rotate = make_rotate(self.rope, positions)
        return shipped_call(self, tokens, positions, *rest)

    def attention(config, layer, q, k, v, step):
        rotate, unrotated = step.freqs_cis, step._replace(freqs_cis=None)
        return shipped_attention(config, layer, rotate(q), rotate(k), v, unrotated)

    layers.RotaryTable.shipped_freqs_cis = layers.RotaryTable.freqs_cis
    layers.RotaryTable.freqs_cis = lambda table: table.rotate
    layers.RotaryDecoder.__call__ = decoder_call
    layers.rotary_attention = attention


def _with_table(rotation, table=_table):
    def make(rope, positions):
        cos, sin = table(rope, positions)
        return lambda x: rotation(x, cos, sin)

    return make


def apply_variant(variant: str, architecture: str) -> None:
    import importlib

    from common.rotary import apply_rotary

    if variant == "no-rotary":
        _graph_rotation(lambda rope, positions: lambda x: x)
        name = HF_MODULES[architecture]
        hf = importlib.import_module(f"transformers.models.{name}.modeling_{name}")
        hf.apply_rotary_pos_emb = lambda q, k, cos, sin, *a, **kw: (q, k)
    elif variant == "graph-rotation":
        _graph_rotation(_with_table(apply_rotary))
    elif variant == "rotate-dtype":
        _graph_rotation(
            _with_table(lambda x, c, s: apply_rotary(x, c.cast(x.dtype), s.cast(x.dtype)))
        )
    elif variant == "rotate-half":
        _graph_rotation(_with_table(_rotate_half))
    elif variant == "table-on-device":
        _graph_rotation(_with_table(apply_rotary, _table_on_device))
    elif variant == "max-rope":
        _graph_rotation(_max_rope)
    elif variant == "f32-norm":
        from max.nn.norm import LayerNorm

        LayerNorm.__call__ = _f32_layer_norm


VARIANTS = (
    "baseline",
    "no-rotary",
    "graph-rotation",
    "rotate-dtype",
    "rotate-half",
    "table-on-device",
    "max-rope",
    "f32-norm",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("architecture", choices=sorted(HF_MODULES))
    parser.add_argument("config")
    parser.add_argument("encoding", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("--kv", default="jenga-prefix")
    parser.add_argument("--device", default="gpu")
    parser.add_argument("--override", default="{}", help="JSON config.json keys to set")
    parser.add_argument("--single", action="store_true", help="each prompt as its own batch of one")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    from tooling.metrics import compare_logits
    from tooling.parity import (
        DecoderRun,
        allow_low_precision_on_cpu,
        hf_teacher_forced_logits,
        load_max_model,
        logit_noise_bound,
        max_greedy,
        ragged_prompts,
    )

    if args.device == "cpu" and args.encoding != "float32":
        allow_low_precision_on_cpu()  # the CPU as the GPU's control
    apply_variant(args.variant, args.architecture)
    torch.backends.cuda.matmul.allow_tf32 = False
    where = "cuda" if args.device == "gpu" else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        from tests.gpt2.conftest import CONFIGS as GPT2_CONFIGS
        from tests.llama_style.conftest import CONFIGS
        from tooling.checkpoints import build_random_checkpoint

        control = args.architecture == "LlamaForCausalLM"
        gpt2 = args.architecture == "GPT2LMHeadModel"
        if gpt2 and args.config == "shakespeare":
            from tests.conftest import SHAKESPEARE_MODEL as path  # trained, shipped weights
        else:
            if control:
                base = {"max_position_embeddings": 256}
            else:
                base = (GPT2_CONFIGS if gpt2 else CONFIGS[args.architecture])[args.config]
            overrides = {**base, **json.loads(args.override)}
            path = build_random_checkpoint(
                args.architecture, Path(tmp) / "ckpt", config_overrides=overrides, seed=11
            )
        oracle = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(where).eval()
        low_dtype = getattr(torch, args.encoding)
        low = AutoModelForCausalLM.from_pretrained(path, dtype=low_dtype).to(where).eval()
        prompts = ragged_prompts(oracle.config.vocab_size)
        model = load_max_model(
            str(path),
            custom_architectures=[]
            if control
            else ["families.gpt2" if gpt2 else "families.llama_style"],
            devices=args.device,
            encoding=args.encoding,
            kv=args.kv,
            max_batch_size=1 if args.single else len(prompts),
            device_memory_utilization=0.05,
        )
        out = {
            "architecture": args.architecture,
            "config": args.config,
            "encoding": args.encoding,
            "variant": args.variant,
            "kv": args.kv,
            "override": args.override,
            "single": args.single,
        }
        for attempt in range(2):
            if args.single:
                runs = [max_greedy(model, [p], 32) for p in prompts]
                run = DecoderRun(
                    prompts,
                    [r.tokens[0] for r in runs],
                    [r.logits[0] for r in runs],
                )
            else:
                run = max_greedy(model, prompts, 32)
            refs = hf_teacher_forced_logits(oracle, run)
            lows = hf_teacher_forced_logits(low, run)
            out[f"attempt{attempt}"] = {
                "max_error_p99": round(logit_noise_bound(refs, run.logits), 5),
                "hf_error_p99": round(logit_noise_bound(refs, lows), 5),
                "scale": round(max(float(np.abs(r).max()) for r in refs), 3),
                "max_cosine_min": [
                    round(compare_logits(r, t).cosine, 6)
                    for r, t in zip(refs, run.logits, strict=True)
                ],
                # Does MAX take its own logits' argmax (the recorded logits are what it
                # sampled from), and HF's?
                "tokens_own_argmax": [
                    float(np.mean(np.argmax(t, -1) == np.asarray(tok)))
                    for t, tok in zip(run.logits, run.tokens, strict=True)
                ],
                "tokens_hf_argmax": [
                    float(np.mean(np.argmax(r, -1) == np.asarray(tok)))
                    for r, tok in zip(refs, run.tokens, strict=True)
                ],
                "step_error": [
                    [round(float(np.abs(r[i] - t[i]).max()), 3) for i in (0, 1, 2, 8, 31)]
                    for r, t in zip(refs, run.logits, strict=True)
                ],
                "first_step_error": [
                    round(float(np.abs(r[0] - t[0]).max()), 5)
                    for r, t in zip(refs, run.logits, strict=True)
                ],
            }
    print("ABLATE " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
