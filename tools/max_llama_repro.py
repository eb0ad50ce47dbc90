"""MAX's own LlamaForCausalLM against Hugging Face, with no code of this project loaded.

    python tools/max_llama_repro.py --encoding bfloat16 --hidden 768 --heads 12 [--single]
        [--kv jenga-prefix|jenga-noprefix|legacy-prefix|legacy-noprefix] [--stored bfloat16]

Builds a random Llama checkpoint with transformers (stored in --stored), serves it with MAX's
built-in architecture through `max.pipelines.AutoModel` (no --custom-architectures, nothing
from this repository imported), runs the GPU suite's ragged batch (prompts of 1, 9, 153 and
181 tokens, the last two sharing a 150-token prefix; 32 greedy steps; twice, so the second
attempt hits the prefix cache), and prints one JSON line: per prompt and step, MAX's largest
logit error against HF float32 (teacher-forced on MAX's tokens) beside HF's own in the same
encoding. A MAX error many times HF's own, with this repository's code out of the picture,
is MAX's. `--device cpu` runs the same graph on MAX's CPU kernels (bfloat16 allowed there for
this control). Written for the bfloat16 finding in docs/LLAMA_STYLE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

NEW_TOKENS = 32


def prompts(vocab: int) -> list[list[int]]:
    rng = np.random.default_rng(0)
    shared = rng.integers(1, vocab, 150).tolist()
    return [
        rng.integers(1, vocab, 1).tolist(),
        rng.integers(1, vocab, 9).tolist(),
        shared + rng.integers(1, vocab, 3).tolist(),
        shared + rng.integers(1, vocab, 31).tolist(),
    ]


def save_tokenizer(path: Path, vocab: int) -> None:
    """A word-level tokenizer with exactly `vocab` entries (MAX samples only ids the tokenizer
    covers)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {f"t{i}": i for i in range(vocab)}
    tok = Tokenizer(models.WordLevel(words, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="t0", eos_token="t1")
    fast.save_pretrained(path)


def teacher_forced(model, prompt: list[int], tokens: list[int]) -> np.ndarray:
    import torch

    seq = torch.tensor([prompt + tokens[:-1]], device=next(model.parameters()).device)
    with torch.no_grad():
        logits = model(seq).logits[0, len(prompt) - 1 :].float().cpu().numpy()
    return logits


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--encoding", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    p.add_argument("--stored", default=None, help="checkpoint dtype (default: --encoding)")
    p.add_argument("--hidden", type=int, default=768)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--vocab", type=int, default=1024)
    p.add_argument("--kv", default="jenga-prefix")
    p.add_argument("--single", action="store_true", help="each prompt as a batch of its own")
    p.add_argument("--device", default="gpu")
    args = p.parse_args()
    manager, prefix = args.kv.split("-")
    if manager == "legacy":
        os.environ["MODULAR_USE_LEGACY_KV_CACHE"] = "1"

    if args.device == "cpu" and args.encoding != "float32":
        # MAX refuses bfloat16 and float16 on the CPU by a device check; its CPU kernels run
        # them, which is what makes the CPU a control for the GPU here. (As
        # tooling.parity.allow_low_precision_on_cpu, written out: this tool imports nothing of
        # the repository.)
        import max.pipelines.lib.config.model_config as model_config

        model_config.supported_encoding_supported_on = lambda *_, **__: True

    import torch
    from max.pipelines import AutoModel
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    torch.backends.cuda.matmul.allow_tf32 = False
    where = "cuda" if args.device == "gpu" else "cpu"
    config = LlamaConfig(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        num_attention_heads=args.heads,
        num_key_value_heads=args.heads,
        num_hidden_layers=args.layers,
        intermediate_size=args.hidden * 8 // 3 // 64 * 64,
        max_position_embeddings=512,
        bos_token_id=1,
        eos_token_id=1,
    )
    torch.manual_seed(11)
    stored = getattr(torch, args.stored or args.encoding)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "llama"
        LlamaForCausalLM(config).to(stored).save_pretrained(path)
        save_tokenizer(path, args.vocab)
        oracle = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(where).eval()
        low = (
            AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, args.encoding))
            .to(where)
            .eval()
        )
        model = AutoModel(
            str(path),
            devices=args.device,
            quantization_encoding=args.encoding,
            enable_prefix_caching=prefix == "prefix",
            max_batch_size=1 if args.single else 4,
            device_memory_utilization=0.05,
        )
        batch = prompts(args.vocab)
        out = {**vars(args), "head_dim": args.hidden // args.heads}
        for attempt in range(2):
            groups = [[q] for q in batch] if args.single else [batch]
            rows = []
            for group in groups:
                result = model.generate(
                    group, max_new_tokens=NEW_TOKENS, ignore_eos=True, top_k=1, output_logits=True
                )
                for prompt, seq, logits in zip(group, result.sequences, result.logits, strict=True):
                    tokens = seq[len(prompt) :]
                    ref = teacher_forced(oracle, prompt, tokens)
                    same = teacher_forced(low, prompt, tokens)
                    mine = np.asarray(logits)
                    rows.append(
                        {
                            "prompt_len": len(prompt),
                            "max_error": np.abs(mine - ref).max(-1).round(4).tolist(),
                            "hf_error": np.abs(same - ref).max(-1).round(4).tolist(),
                            "tokens_hf_argmax": int((ref.argmax(-1) == np.asarray(tokens)).sum()),
                        }
                    )
            out[f"attempt{attempt}"] = rows
    print("REPRO " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
