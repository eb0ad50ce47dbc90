"""Where a rotary decoder goes wrong on the GPU: the same step removed or replaced on both sides.

    python tools/gpu_ablate.py ARCHITECTURE CONFIG ENCODING VARIANT [--kv KV]

Builds the tests' tiny checkpoint (tests/llama_style/conftest.py), applies VARIANT to MAX's graph
and, where the variant changes the model's function, to Hugging Face's too, then runs the GPU
suite's comparison (a ragged batch, 32 greedy steps, HF float32 teacher-forced on MAX's tokens)
and prints one JSON line: MAX's logit error against HF float32 next to HF's own error in
ENCODING. A variant that brings MAX's error down to HF's names the step at fault.

Variants:
  baseline       the graph as shipped
  no-rotary      neither side rotates q and k (same function on both sides)
  rotate-dtype   MAX rotates in the encoding's dtype instead of float32 (HF's own order)
  rotate-half    MAX rotates Hugging Face's way: x * cos + rotate_half(x) * sin, full width
  f32-norm       MAX's LayerNorm computed by hand in float32, cast back after
  no-rotary-no-table   as no-rotary, and the cos/sin table is not built either
  table-on-device      the cos/sin constants made on the GPU, not on the host and transferred
  max-rope       MAX's own rope kernel (rope_ragged_with_position_ids, NeoX order) rotates
  max-fused-rope k and v stored as they are, then MAX's fused_qk_ragged_rope rotates q and the
                 cached k (MAX's own Llama-family path; partial rotary by a narrower table)
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

VARIANTS = (
    "baseline",
    "no-rotary",
    "rotate-dtype",
    "rotate-half",
    "f32-norm",
    "no-rotary-no-table",
    "table-on-device",
    "max-rope",
    "max-fused-rope",
)
HF_MODULES = {
    "GPTNeoXForCausalLM": "gpt_neox",
    "PhiForCausalLM": "phi",
    "GemmaForCausalLM": "gemma",
    "StableLmForCausalLM": "stablelm",
    "Starcoder2ForCausalLM": "starcoder2",
}


def _rotate_dtype(x, cos, sin):
    from common import rotary

    return rotary.apply_rotary(x, cos.cast(x.dtype), sin.cast(x.dtype))


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


def _table_on_device(self, positions, dtype=None):
    from max.dtype import DType
    from max.graph import ops

    from common.rotary import rotary_tables

    out = []
    for table in rotary_tables(self.rotary_dim, self.max_positions, self.theta):
        constant = ops.constant(table, DType.float32, device=self.device)
        out.append(ops.unsqueeze(ops.gather(constant, positions, axis=0), 1))
    return out[0], out[1]


def _max_rope_table(self, positions, dtype=None):
    """(positions as uint32, freqs_cis [max_positions, rotary_dim] as (cos, sin) pairs)."""
    from max.dtype import DType
    from max.graph import DeviceRef, ops

    from common.rotary import rotary_tables

    cos, sin = rotary_tables(self.rotary_dim, self.max_positions, self.theta)
    pairs = np.stack([cos, sin], axis=-1).reshape(self.max_positions, self.rotary_dim)
    freqs = ops.constant(pairs, DType.float32, device=DeviceRef.CPU()).to(self.device)
    return positions.cast(DType.uint32), freqs


def _max_rope(x, positions, freqs):
    from max.graph import ops
    from max.nn.kernels import rope_ragged_with_position_ids

    rotary_dim = int(freqs.shape[-1])
    wide = x.cast(freqs.dtype)
    rotated = rope_ragged_with_position_ids(
        wide[:, :, :rotary_dim], freqs, positions, interleaved=False
    )
    if rotary_dim < int(x.shape[-1]):
        rotated = ops.concat([rotated, wide[:, :, rotary_dim:]], axis=-1)
    return rotated.cast(x.dtype)


def _freqs_only(self, positions, dtype=None):
    return _max_rope_table(self, positions)[1], None


def _fused_rope_attention(
    config, layer, *, q, k, v, rope, kv_collection, input_row_offsets, sliding_window=None
):
    from max.dtype import DType
    from max.graph import DeviceRef, ops
    from max.nn.attention.mask_config import MHAMaskVariant
    from max.nn.kernels import (
        flash_attention_ragged,
        fused_qk_ragged_rope,
        store_k_cache_ragged,
        store_v_cache_ragged,
    )

    freqs, _ = rope
    layer_idx = ops.constant(layer, DType.uint32, device=DeviceRef.CPU())
    store_k_cache_ragged(kv_collection, k, input_row_offsets, layer_idx)
    store_v_cache_ragged(kv_collection, v, input_row_offsets, layer_idx)
    q = fused_qk_ragged_rope(
        config.kv_params, q, input_row_offsets, kv_collection, freqs, layer_idx, interleaved=False
    )
    out = flash_attention_ragged(
        config.kv_params,
        input=q,
        kv_collection=kv_collection,
        layer_idx=layer_idx,
        input_row_offsets=input_row_offsets,
        mask_variant=MHAMaskVariant.CAUSAL_MASK
        if sliding_window is None
        else MHAMaskVariant.SLIDING_WINDOW_CAUSAL_MASK,
        scale=config.attention_scale,
        local_window_size=-1 if sliding_window is None else sliding_window,
    )
    return out.reshape((q.shape[0], -1))


def apply_variant(variant: str, architecture: str) -> None:
    import importlib

    from common.rotary import RotaryTable
    from families.llama_style import layers

    if variant == "no-rotary-no-table":
        RotaryTable.__call__ = lambda self, positions, dtype=None: (None, None)
    if variant in ("no-rotary", "no-rotary-no-table"):
        layers.apply_rotary = lambda x, cos, sin: x
        hf = importlib.import_module(
            f"transformers.models.{HF_MODULES[architecture]}.modeling_{HF_MODULES[architecture]}"
        )
        hf.apply_rotary_pos_emb = lambda q, k, cos, sin, *a, **kw: (q, k)
    elif variant == "rotate-dtype":
        layers.apply_rotary = _rotate_dtype
    elif variant == "rotate-half":
        layers.apply_rotary = _rotate_half
    elif variant == "table-on-device":
        RotaryTable.__call__ = _table_on_device
    elif variant == "max-rope":
        RotaryTable.__call__ = _max_rope_table
        layers.apply_rotary = _max_rope
    elif variant == "max-fused-rope":
        RotaryTable.__call__ = _freqs_only
        import families.llama_style  # noqa: F401  (imports every architecture's graph module)

        for module in list(sys.modules.values()):
            name = getattr(module, "__name__", "")
            if name.startswith("families.llama_style") and hasattr(module, "rotary_attention"):
                module.rotary_attention = _fused_rope_attention
    elif variant == "f32-norm":
        from max.nn.norm import LayerNorm

        LayerNorm.__call__ = _f32_layer_norm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("architecture", choices=sorted(HF_MODULES))
    parser.add_argument("config")
    parser.add_argument("encoding", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("--kv", default="jenga-prefix")
    parser.add_argument("--device", default="gpu")
    parser.add_argument("--override", default="{}", help="JSON config.json keys to set")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    from tooling.metrics import compare_logits
    from tooling.parity import (
        hf_teacher_forced_logits,
        load_max_model,
        logit_noise_bound,
        max_greedy,
        ragged_prompts,
    )

    apply_variant(args.variant, args.architecture)
    torch.backends.cuda.matmul.allow_tf32 = False
    where = "cuda" if args.device == "gpu" else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        from tests.llama_style.conftest import CONFIGS
        from tooling.checkpoints import build_random_checkpoint

        overrides = {**CONFIGS[args.architecture][args.config], **json.loads(args.override)}
        path = build_random_checkpoint(
            args.architecture, Path(tmp) / "ckpt", config_overrides=overrides, seed=11
        )
        oracle = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(where).eval()
        low_dtype = getattr(torch, args.encoding)
        low = AutoModelForCausalLM.from_pretrained(path, dtype=low_dtype).to(where).eval()
        prompts = ragged_prompts(oracle.config.vocab_size)
        model = load_max_model(
            str(path),
            custom_architectures=["families.llama_style"],
            devices=args.device,
            encoding=args.encoding,
            kv=args.kv,
            max_batch_size=len(prompts),
            device_memory_utilization=0.05,
        )
        out = {
            "architecture": args.architecture,
            "config": args.config,
            "encoding": args.encoding,
            "variant": args.variant,
            "kv": args.kv,
            "override": args.override,
        }
        for attempt in range(2):
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
                "first_step_error": [
                    round(float(np.abs(r[0] - t[0]).max()), 5)
                    for r, t in zip(refs, run.logits, strict=True)
                ],
            }
    print("ABLATE " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
