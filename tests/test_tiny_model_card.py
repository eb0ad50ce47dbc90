"""The shipped tiny Shakespeare GPT-2 loads, is small, and beats its unigram baseline."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = REPO_ROOT / "models/tiny-shakespeare-gpt2"
CORPUS = REPO_ROOT.parent / "shared/data/tinyshakespeare.txt"
MAX_BYTES = 16 * 1024 * 1024
SLICE_BLOCKS = 20
LINE = "ROMEO:\nBut, soft! what light through yonder window breaks?\n"


@pytest.fixture(scope="module")
def metrics() -> dict:
    return json.loads((CHECKPOINT / "training_metrics.json").read_text())


@pytest.fixture(scope="module")
def tokenizer():
    return transformers.AutoTokenizer.from_pretrained(CHECKPOINT)


@pytest.fixture(scope="module")
def model():
    return transformers.AutoModelForCausalLM.from_pretrained(CHECKPOINT).eval()


def test_checkpoint_fits_in_16_mb() -> None:
    total = sum(f.stat().st_size for f in CHECKPOINT.iterdir() if f.is_file())
    assert total <= MAX_BYTES, f"{CHECKPOINT} holds {total} bytes, limit {MAX_BYTES}"


def test_config_is_gpt2_lm_head(model, tokenizer) -> None:
    config = json.loads((CHECKPOINT / "config.json").read_text())
    assert config["architectures"] == ["GPT2LMHeadModel"]
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert config["bos_token_id"] == tokenizer.bos_token_id
    assert config["eos_token_id"] == tokenizer.eos_token_id
    assert config["vocab_size"] == len(tokenizer)


def test_tokenizer_round_trips_shakespeare(tokenizer) -> None:
    ids = tokenizer(LINE)["input_ids"]
    assert len(ids) < len(LINE), "BPE should merge characters"
    assert tokenizer.decode(ids) == LINE


def test_recorded_heldout_loss_beats_unigram(metrics) -> None:
    ev = metrics["eval"]
    assert ev["heldout_loss"] < ev["unigram_loss"]
    assert math.isclose(ev["heldout_ppl"], math.exp(ev["heldout_loss"]), rel_tol=1e-9)


def test_heldout_slice_loss_recomputes(metrics, tokenizer, model) -> None:
    if not CORPUS.is_file():
        pytest.skip(f"corpus {CORPUS} not present; cannot recompute the held-out loss")
    text = CORPUS.read_text(encoding="utf-8")
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != metrics["data"]["corpus_sha256"]:
        pytest.skip(f"corpus {CORPUS} differs from the one the checkpoint was trained on")
    ev = metrics["eval"]
    block = ev["block_size"]
    heldout = text[metrics["data"]["train_chars"] :]
    ids = torch.tensor(tokenizer.backend_tokenizer.encode(heldout).ids[: SLICE_BLOCKS * block + 1])
    x = ids[:-1].view(SLICE_BLOCKS, block)
    y = ids[1:].view(SLICE_BLOCKS, block)
    with torch.no_grad():
        logits = model(input_ids=x).logits
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten()).item()
    assert ev["heldout_slice_blocks"] == SLICE_BLOCKS
    assert loss == pytest.approx(ev["heldout_slice_loss"], abs=1e-3)
    assert loss < ev["unigram_loss"]
