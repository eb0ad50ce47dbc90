"""Train the tiny GPT-2 that the project ships as its offline default model.

Trains a byte-level BPE tokenizer and a Hugging Face ``GPT2LMHeadModel`` from
scratch on Tiny Shakespeare (read from ``../shared/data/``, never copied into the
repository), evaluates it against a unigram baseline on a held-out split, and
writes a checkpoint that ``from_pretrained`` loads offline, with a
``training_metrics.json`` and a model card rendered from those metrics.

Split: the first 90% of the characters train the tokenizer and the model, the
last 10% are held out.

Example (the command that produced ``models/tiny-shakespeare-gpt2``)::

    python tools/train_tiny_gpt2.py --device cpu --threads 1 --steps 330 --max-minutes 10
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tokenizers
import torch
import torch.nn.functional as F
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

logger = logging.getLogger("train_tiny_gpt2")

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO_ROOT.parent / "shared/data/tinyshakespeare.txt"
DEFAULT_OUT = REPO_ROOT / "models/tiny-shakespeare-gpt2"

END_OF_TEXT = "<|endoftext|>"
TRAIN_FRACTION = 0.9
MAX_CHECKPOINT_BYTES = 16 * 1024 * 1024
N_POSITIONS = 256
SAMPLE_PROMPT = "ROMEO:"
SAMPLE_NEW_TOKENS = 200
SAMPLE_TEMPERATURE = 0.8
SAMPLE_TOP_K = 40
CHECKPOINT_FILES = frozenset({
    "config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
    "training_metrics.json", "README.md",
})
# The test recomputes the held-out loss on this many leading held-out blocks.
HELDOUT_SLICE_BLOCKS = 20


@dataclass(frozen=True)
class CorpusSplit:
    """The corpus text cut at a character offset: train first, held-out after."""

    train_text: str
    heldout_text: str
    train_chars: int
    sha256: str


def split_corpus(text: str, train_fraction: float = TRAIN_FRACTION) -> CorpusSplit:
    """Cut ``text`` at ``int(len(text) * train_fraction)`` characters."""
    cut = int(len(text) * train_fraction)
    return CorpusSplit(
        train_text=text[:cut],
        heldout_text=text[cut:],
        train_chars=cut,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def train_bpe_tokenizer(train_text: str, vocab_size: int) -> GPT2Tokenizer:
    """Train a GPT-2 style byte-level BPE on ``train_text`` only.

    The pre-tokenizer and decoder match what ``GPT2Tokenizer`` builds from a
    vocab and merges, so the saved tokenizer reloads to the same pipeline.
    """
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[END_OF_TEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([train_text], trainer=trainer)
    model_state = json.loads(bpe.to_str())["model"]
    tokenizer = GPT2Tokenizer(
        vocab=model_state["vocab"],
        merges=[tuple(pair) for pair in model_state["merges"]],
        unk_token=END_OF_TEXT,
        bos_token=END_OF_TEXT,
        eos_token=END_OF_TEXT,
        clean_up_tokenization_spaces=False,
        model_max_length=N_POSITIONS,
    )
    check = "ROMEO:\nBut, soft! what light through yonder window breaks?"
    if tokenizer.decode(tokenizer(check)["input_ids"]) != check:
        raise RuntimeError("trained tokenizer does not round-trip a line of Shakespeare")
    return tokenizer


def save_tokenizer(tokenizer: GPT2Tokenizer, out_dir: Path) -> None:
    """Write tokenizer.json/tokenizer_config.json plus the legacy GPT-2 files."""
    tokenizer.save_pretrained(out_dir)
    # transformers 5 no longer writes these; older loaders and MAX may look for them.
    tokenizer.backend_tokenizer.model.save(str(out_dir))  # vocab.json, merges.txt
    special = {"bos_token": END_OF_TEXT, "eos_token": END_OF_TEXT, "unk_token": END_OF_TEXT}
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")


def encode(tokenizer: GPT2Tokenizer, text: str) -> np.ndarray:
    return np.asarray(tokenizer.backend_tokenizer.encode(text).ids, dtype=np.int64)


def lr_at(step: int, total_steps: int, peak_lr: float, warmup_steps: int) -> float:
    """Linear warmup, then cosine decay to 10% of the peak."""
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return peak_lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


def sample_batch(
    ids: np.ndarray, batch_size: int, block_size: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    starts = rng.integers(0, len(ids) - block_size - 1, size=batch_size)
    x = np.stack([ids[s : s + block_size] for s in starts])
    y = np.stack([ids[s + 1 : s + 1 + block_size] for s in starts])
    return torch.from_numpy(x), torch.from_numpy(y)


def block_starts(n_tokens: int, block_size: int) -> np.ndarray:
    """Starts of the non-overlapping (input, next-token target) blocks of a token stream."""
    return np.arange(0, n_tokens - block_size, block_size)


@torch.no_grad()
def mean_loss(
    model: GPT2LMHeadModel,
    ids: np.ndarray,
    starts: np.ndarray,
    block_size: int,
    device: torch.device,
    batch_size: int = 16,
) -> tuple[float, int]:
    """Mean next-token cross-entropy (nats) over the blocks at ``starts``."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(starts), batch_size):
        chunk = starts[i : i + batch_size]
        x = torch.from_numpy(np.stack([ids[s : s + block_size] for s in chunk])).to(device)
        y = torch.from_numpy(np.stack([ids[s + 1 : s + 1 + block_size] for s in chunk]))
        logits = model(input_ids=x).logits.float().cpu()
        total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
        count += y.numel()
    return total / count, count


def unigram_loss(
    train_ids: np.ndarray, eval_targets: np.ndarray, vocab_size: int
) -> float:
    """Cross-entropy (nats) of an add-one-smoothed unigram model fitted on train ids."""
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    log_probs = np.log(counts / counts.sum())
    return float(-log_probs[eval_targets].mean())


def targets_of_blocks(ids: np.ndarray, starts: np.ndarray, block_size: int) -> np.ndarray:
    return np.concatenate([ids[s + 1 : s + 1 + block_size] for s in starts])


def repo_relative(path: Path) -> str:
    """``path`` relative to the repository root when it sits beside it, else absolute."""
    path = path.resolve()
    if path.is_relative_to(REPO_ROOT.parent):
        return os.path.relpath(path, REPO_ROOT)
    return str(path)


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def generate_sample(
    model: GPT2LMHeadModel, tokenizer: GPT2Tokenizer, device: torch.device, seed: int
) -> str:
    model.eval()
    torch.manual_seed(seed)
    input_ids = torch.tensor([tokenizer(SAMPLE_PROMPT)["input_ids"]], device=device)
    output = model.generate(
        input_ids,
        attention_mask=torch.ones_like(input_ids),
        do_sample=True,
        temperature=SAMPLE_TEMPERATURE,
        top_k=SAMPLE_TOP_K,
        max_new_tokens=SAMPLE_NEW_TOKENS,
        pad_token_id=tokenizer.eos_token_id,
    )
    return tokenizer.decode(output[0].tolist())


def render_model_card(metrics: dict) -> str:
    """The README.md of the checkpoint, rendered from ``training_metrics.json``."""
    m = metrics
    cfg = m["config"]
    ev = m["eval"]
    tr = m["training"]
    stopped = (
        f"stopped by the {m['args']['max_minutes']}-minute budget after {tr['steps_done']}"
        f" of {tr['steps_planned']} planned steps"
        if tr["stopped_early"]
        else f"all {tr['steps_done']} planned steps"
    )
    return f"""---
license: apache-2.0
library_name: transformers
pipeline_tag: text-generation
tags:
- gpt2
- tiny
- shakespeare
---

# tiny-shakespeare-gpt2

A {m['params'] / 1e6:.2f}M-parameter GPT-2 (`GPT2LMHeadModel`) trained from scratch on
Tiny Shakespeare, with its own byte-level BPE tokenizer. It is this project's
embedded default model: small enough to ship in the repository
({m['size_on_disk_bytes'] / 1e6:.1f} MB on disk, float32 safetensors plus tokenizer)
and to run on a laptop CPU, yet trained, so that generated text is recognisably
Shakespeare-shaped rather than random tokens. It is a test fixture, not a useful
language model.

## Model

| | |
|---|---|
| architecture | `GPT2LMHeadModel` (tied input/output embeddings) |
| parameters | {m['params']:,} |
| layers / heads / width | {cfg['n_layer']} / {cfg['n_head']} / {cfg['n_embd']} |
| context length (`n_positions`) | {cfg['n_positions']} \
(trained on blocks of {m['args']['block_size']}) |
| vocabulary | {cfg['vocab_size']} byte-level BPE tokens, \
`{END_OF_TEXT}` = id {cfg['eos_token_id']} (bos/eos/unk) |
| weights | float32, `model.safetensors` |

## Tokenizer

GPT-2 style byte-level BPE (`tokenizers` BPE with a ByteLevel pre-tokenizer and
decoder, no prefix space), trained on the training split only, saved as
`GPT2Tokenizer` (`tokenizer.json`, `tokenizer_config.json`,
`special_tokens_map.json`, `vocab.json`, `merges.txt`). Any text round-trips
exactly. About {m['data']['chars_per_token']:.2f} characters per token on this corpus.

## Data

Tiny Shakespeare ({m['data']['corpus_chars']:,} characters, SHA-256
`{m['data']['corpus_sha256']}`). The first 90% of the characters
({m['data']['train_chars']:,}; {m['data']['train_tokens']:,} tokens) train the
tokenizer and the model; the last 10% ({m['data']['heldout_tokens']:,} tokens) are
held out.

## Training

| | |
|---|---|
| steps | {tr['steps_done']} ({stopped}) |
| batch | {m['args']['batch_size']} blocks x {m['args']['block_size']} tokens |
| tokens seen | {tr['tokens_seen']:,} ({tr['epochs']:.2f} epochs of the training split) |
| optimizer | AdamW, peak lr {m['args']['lr']}, weight decay {m['args']['weight_decay']}, \
{m['args']['warmup_steps']} warmup steps then cosine decay to 10% |
| device | {tr['device']} ({tr['threads']} thread(s)), {tr['device_name']} |
| training time | {tr['train_seconds'] / 60:.1f} min ({tr['tokens_per_second']:,.0f} tokens/s); \
{m['wall_seconds'] / 60:.1f} min end to end |
| seed | {m['args']['seed']} |

## Evaluation

Mean next-token cross-entropy in nats per token, over non-overlapping blocks of
{m['args']['block_size']} tokens. The unigram baseline is the same tokenizer's
token frequencies on the training split (add-one smoothing), scored on the same
held-out targets.

| | loss | perplexity |
|---|---|---|
| train (sample of {ev['train_blocks']} blocks) | {ev['train_loss']:.4f} | {ev['train_ppl']:.2f} |
| held-out ({ev['heldout_blocks']} blocks, {ev['heldout_targets']:,} tokens) | \
{ev['heldout_loss']:.4f} | {ev['heldout_ppl']:.2f} |
| unigram baseline, held-out | {ev['unigram_loss']:.4f} | {ev['unigram_ppl']:.2f} |

## Sample

`{SAMPLE_PROMPT!r}`, {SAMPLE_NEW_TOKENS} new tokens, temperature \
{SAMPLE_TEMPERATURE}, top-k {SAMPLE_TOP_K}, `torch.manual_seed({m['args']['seed']})`:

```text
{m['sample']['text']}
```

## Use

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

tok = AutoTokenizer.from_pretrained("models/tiny-shakespeare-gpt2")
model = AutoModelForCausalLM.from_pretrained("models/tiny-shakespeare-gpt2")
ids = tok("ROMEO:", return_tensors="pt").input_ids
out = model.generate(ids, do_sample=True, temperature=0.8, top_k=40, max_new_tokens=100)
print(tok.decode(out[0]))
```

## Reproduce

From the repository root, with the corpus at `../shared/data/tinyshakespeare.txt`:

```bash
{m['command']}
```

Batches are drawn with a seeded `numpy.random.Generator` and weights initialised
under `torch.manual_seed`, so a rerun with the same seed reproduces this
checkpoint bitwise on the same device, thread count and library versions
(torch {m['versions']['torch']}, transformers {m['versions']['transformers']},
tokenizers {m['versions']['tokenizers']}), provided it completes the same number of
steps (`--max-minutes` can cut a slower run short). Other devices, thread counts or
CUDA kernels give numerically different, equally good, weights.
All numbers above are in `training_metrics.json`.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--vocab-size", type=int, default=2048)
    parser.add_argument("--n-embd", type=int, default=192)
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--steps", type=int, default=330)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--block-size", type=int, default=N_POSITIONS)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup-steps", type=int, default=30)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--max-minutes", type=float, default=None, help="stop training after this many minutes"
    )
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--train-eval-blocks", type=int, default=160)
    args = parser.parse_args(argv)
    if not 1 <= args.block_size <= N_POSITIONS:
        parser.error(f"--block-size must be in [1, {N_POSITIONS}], got {args.block_size}")
    if args.n_embd % args.n_head:
        parser.error(f"--n-embd {args.n_embd} is not divisible by --n-head {args.n_head}")
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(argv)
    cli_args = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "tools/train_tiny_gpt2.py", *cli_args])
    wall_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    if not args.corpus.is_file():
        logger.error("corpus %s not found (expected Tiny Shakespeare)", args.corpus)
        return 2
    if args.out.is_dir():
        foreign = sorted(f.name for f in args.out.iterdir() if f.name not in CHECKPOINT_FILES)
        if foreign:
            logger.error("--out %s holds files this script does not write: %s; "
                         "choose a new or empty directory", args.out, foreign)
            return 2
    split = split_corpus(args.corpus.read_text(encoding="utf-8"))
    logger.info("corpus %s: %d train chars, %d held-out chars", args.corpus,
                len(split.train_text), len(split.heldout_text))

    tokenizer = train_bpe_tokenizer(split.train_text, args.vocab_size)
    train_ids = encode(tokenizer, split.train_text)
    heldout_ids = encode(tokenizer, split.heldout_text)
    vocab_size = len(tokenizer)
    logger.info("tokenizer: %d tokens; %d train tokens, %d held-out tokens",
                vocab_size, len(train_ids), len(heldout_ids))

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=N_POSITIONS,
        n_embd=args.n_embd,
        n_layer=args.n_layer,
        n_head=args.n_head,
        resid_pdrop=args.dropout,
        embd_pdrop=args.dropout,
        attn_pdrop=args.dropout,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    model = GPT2LMHeadModel(config).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("model: %d parameters (%d layers, %d heads, width %d)",
                n_params, args.n_layer, args.n_head, args.n_embd)

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95),
    )
    rng = np.random.default_rng(args.seed)
    budget_s = None if args.max_minutes is None else args.max_minutes * 60
    tokens_per_step = args.batch_size * args.block_size

    model.train()
    train_start = time.perf_counter()
    window_start, window_steps = train_start, 0
    steps_done = 0
    for step in range(args.steps):
        if budget_s is not None and time.perf_counter() - train_start >= budget_s:
            logger.warning("time budget of %.1f min reached after %d/%d steps",
                           args.max_minutes, step, args.steps)
            break
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr, args.warmup_steps)
        x, y = sample_batch(train_ids, args.batch_size, args.block_size, rng)
        x, y = x.to(device), y.to(device)
        logits = model(input_ids=x).logits
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        steps_done = step + 1
        window_steps += 1
        if steps_done % args.log_every == 0 or steps_done == args.steps:
            if device.type == "cuda":
                torch.cuda.synchronize()
            now = time.perf_counter()
            logger.info("step %d/%d  loss %.4f  lr %.2e  %.0f tokens/s", steps_done, args.steps,
                        loss.item(), optimizer.param_groups[0]["lr"],
                        window_steps * tokens_per_step / (now - window_start))
            window_start, window_steps = now, 0
    if device.type == "cuda":
        torch.cuda.synchronize()
    train_seconds = time.perf_counter() - train_start
    tokens_seen = steps_done * tokens_per_step

    block = args.block_size
    heldout_starts = block_starts(len(heldout_ids), block)
    heldout_loss, heldout_targets = mean_loss(model, heldout_ids, heldout_starts, block, device)
    slice_loss, _ = mean_loss(
        model, heldout_ids, heldout_starts[:HELDOUT_SLICE_BLOCKS], block, device
    )
    all_train_starts = block_starts(len(train_ids), block)
    pick = np.linspace(0, len(all_train_starts) - 1, args.train_eval_blocks).round().astype(int)
    train_starts = all_train_starts[np.unique(pick)]
    train_loss, _ = mean_loss(model, train_ids, train_starts, block, device)
    uni_loss = unigram_loss(
        train_ids, targets_of_blocks(heldout_ids, heldout_starts, block), vocab_size
    )
    logger.info("train loss %.4f (ppl %.2f)  held-out loss %.4f (ppl %.2f)  "
                "unigram %.4f (ppl %.2f)", train_loss, math.exp(train_loss), heldout_loss,
                math.exp(heldout_loss), uni_loss, math.exp(uni_loss))

    sample = generate_sample(model, tokenizer, device, args.seed)
    logger.info("sample:\n%s", sample)

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )
    model.cpu().save_pretrained(out, safe_serialization=True)
    save_tokenizer(tokenizer, out)
    checkpoint_bytes = dir_bytes(out)
    if checkpoint_bytes > MAX_CHECKPOINT_BYTES:
        raise RuntimeError(f"checkpoint in {out} is {checkpoint_bytes} bytes, "
                           f"over the {MAX_CHECKPOINT_BYTES}-byte limit")

    metrics = {
        "params": n_params,
        "config": {k: getattr(config, k) for k in (
            "vocab_size", "n_positions", "n_embd", "n_layer", "n_head",
            "bos_token_id", "eos_token_id")},
        "args": {k: repo_relative(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "command": command,
        "data": {
            "corpus_chars": len(split.train_text) + len(split.heldout_text),
            "corpus_sha256": split.sha256,
            "train_fraction": TRAIN_FRACTION,
            "train_chars": split.train_chars,
            "train_tokens": int(len(train_ids)),
            "heldout_tokens": int(len(heldout_ids)),
            "chars_per_token": len(split.train_text) / len(train_ids),
        },
        "training": {
            "steps_planned": args.steps,
            "steps_done": steps_done,
            "stopped_early": steps_done < args.steps,
            "tokens_seen": tokens_seen,
            "epochs": tokens_seen / len(train_ids),
            "train_seconds": train_seconds,
            "tokens_per_second": tokens_seen / train_seconds if train_seconds else 0.0,
            "device": device.type,
            "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                            else cpu_name()),
            "threads": torch.get_num_threads(),
            "final_batch_loss": loss.item() if steps_done else None,
        },
        "eval": {
            "block_size": block,
            "train_blocks": len(train_starts),
            "train_loss": train_loss,
            "train_ppl": math.exp(train_loss),
            "heldout_blocks": len(heldout_starts),
            "heldout_targets": heldout_targets,
            "heldout_loss": heldout_loss,
            "heldout_ppl": math.exp(heldout_loss),
            "heldout_slice_blocks": HELDOUT_SLICE_BLOCKS,
            "heldout_slice_loss": slice_loss,
            "unigram_loss": uni_loss,
            "unigram_ppl": math.exp(uni_loss),
        },
        "sample": {
            "prompt": SAMPLE_PROMPT,
            "max_new_tokens": SAMPLE_NEW_TOKENS,
            "temperature": SAMPLE_TEMPERATURE,
            "top_k": SAMPLE_TOP_K,
            "seed": args.seed,
            "text": sample,
        },
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
        },
        "checkpoint_bytes": checkpoint_bytes,
        "wall_seconds": time.perf_counter() - wall_start,
    }
    # The card and metrics are counted in the size before they are written: both are a few KB.
    metrics["size_on_disk_bytes"] = checkpoint_bytes
    (out / "README.md").write_text(render_model_card(metrics))
    (out / "training_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    metrics["size_on_disk_bytes"] = dir_bytes(out)
    (out / "README.md").write_text(render_model_card(metrics))
    (out / "training_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    total = dir_bytes(out)
    if total > MAX_CHECKPOINT_BYTES:
        raise RuntimeError(f"{out} holds {total} bytes, over the {MAX_CHECKPOINT_BYTES}-byte limit")
    logger.info("wrote %s (%.2f MB) in %.1f min", out, total / 1e6, metrics["wall_seconds"] / 60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
