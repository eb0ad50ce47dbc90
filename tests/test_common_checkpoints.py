"""Tiny random checkpoints load back through transformers' Auto classes, offline."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.safe_load import check_checkpoint_dir, check_safetensors
from tooling.checkpoints import (
    ARCHITECTURES,
    build_random_checkpoint,
    build_tokenizer,
    perturb_constant_parameters,
)
from tooling.metrics import top2_margin

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
torch.set_num_threads(1)

TEXT = "ROMEO: But soft, what light through yonder window breaks?"


def is_causal_lm(model_class: str) -> bool:
    return model_class.endswith(("ForCausalLM", "LMHeadModel"))


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_checkpoint_loads_back(architecture: str, tmp_path: Path) -> None:
    spec = ARCHITECTURES[architecture]
    out = build_random_checkpoint(architecture, tmp_path / architecture)
    check_checkpoint_dir(out)

    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    auto = (
        transformers.AutoModelForCausalLM
        if is_causal_lm(spec.model_class)
        else transformers.AutoModel
    )
    model = auto.from_pretrained(out).eval()
    config = model.config
    assert type(model).__name__ == spec.model_class
    # No all-zero bias or all-one norm left: a dropped or swapped mapping must change the output.
    constant = [
        name for name, p in model.named_parameters() if p.numel() > 1 and p.unique().numel() == 1
    ]
    assert not constant, f"{architecture}: parameters with all entries equal: {constant}"
    assert config.architectures == [spec.model_class]
    assert len(tokenizer) <= config.vocab_size
    assert tokenizer.pad_token_id == config.pad_token_id
    if is_causal_lm(spec.model_class):
        assert tokenizer.bos_token_id == config.bos_token_id
        assert tokenizer.eos_token_id == config.eos_token_id

    inputs = tokenizer(TEXT, return_tensors="pt")
    assert int(inputs["input_ids"].max()) < config.vocab_size
    with torch.no_grad():
        result = model(**inputs)
    if is_causal_lm(spec.model_class):
        logits = result.logits.numpy()
        assert logits.shape == (1, inputs["input_ids"].shape[1], config.vocab_size)
        # initializer_range 0.2: greedy choices are not decided by rounding noise.
        assert float(np.median(top2_margin(logits))) > 0.05
    else:
        assert result.last_hidden_state.shape[-1] == 64


def test_same_seed_same_weights_and_overrides_apply(tmp_path: Path) -> None:
    first = build_random_checkpoint("GPT2LMHeadModel", tmp_path / "a", tokenizer=False)
    second = build_random_checkpoint("GPT2LMHeadModel", tmp_path / "b", tokenizer=False)
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    assert not (first / "tokenizer.json").exists()

    other = build_random_checkpoint(
        "GPT2LMHeadModel", tmp_path / "c", seed=1, config_overrides={"n_layer": 1}, tokenizer=False
    )
    assert json.loads((other / "config.json").read_text())["n_layer"] == 1
    assert not any(
        name.startswith("h.1.") for name in check_safetensors(other / "model.safetensors")
    )


def test_perturbation_touches_parameters_not_buffers() -> None:
    config = transformers.GPT2Config(n_embd=16, n_layer=1, n_head=2, n_positions=8, vocab_size=32)
    model = transformers.GPT2LMHeadModel(config)
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    perturbed = perturb_constant_parameters(model, seed=0)
    assert {
        "transformer.h.0.ln_1.weight",
        "transformer.h.0.ln_2.bias",
        "transformer.h.0.attn.c_attn.bias",
        "transformer.ln_f.weight",
    } <= set(perturbed)
    assert "transformer.wte.weight" not in perturbed
    for name, before in buffers.items():
        assert torch.equal(dict(model.named_buffers())[name], before), name


def test_bfloat16_checkpoint(tmp_path: Path) -> None:
    out = build_random_checkpoint("LlamaForCausalLM", tmp_path, dtype="bfloat16", tokenizer=False)
    dtypes = {dtype for _, dtype in check_safetensors(out / "model.safetensors").values()}
    assert dtypes == {"bfloat16"}
    with pytest.raises(ValueError, match="dtype"):
        build_random_checkpoint("LlamaForCausalLM", tmp_path / "x", dtype="float33")
    with pytest.raises(ValueError, match="no tiny recipe"):
        build_random_checkpoint("NotAModel", tmp_path / "y")


def load_tokenizer(path: Path) -> Any:
    return transformers.AutoTokenizer.from_pretrained(path)


def test_tokenizer_styles(tmp_path: Path) -> None:
    gpt2 = load_tokenizer(build_tokenizer(tmp_path / "gpt2"))
    assert gpt2.convert_ids_to_tokens(0) == "<|endoftext|>"
    assert gpt2.eos_token == gpt2.bos_token == "<|endoftext|>"
    assert gpt2.decode(gpt2(TEXT)["input_ids"]) == TEXT  # byte-level BPE is lossless
    assert "token_type_ids" not in gpt2(TEXT)

    bert = load_tokenizer(build_tokenizer(tmp_path / "bert", kind="wordpiece"))
    ids = bert(TEXT)["input_ids"]
    assert ids[0] == bert.cls_token_id == 2 and ids[-1] == bert.sep_token_id == 3
    assert bert.pad_token_id == 0 and "token_type_ids" in bert(TEXT)

    roberta = load_tokenizer(build_tokenizer(tmp_path / "roberta", special_tokens="roberta"))
    ids = roberta(TEXT)["input_ids"]
    assert (ids[0], ids[-1], roberta.pad_token_id) == (0, 2, 1)
    assert roberta.mask_token == "<mask>"

    with pytest.raises(ValueError, match="needs kind 'wordpiece'"):
        build_tokenizer(tmp_path / "bad", special_tokens="bert")


def test_tokenizer_from_custom_corpus_and_files(tmp_path: Path) -> None:
    corpus = ["the cat sat on the mat"] * 50 + ["a dog ate the log"] * 50
    out = build_tokenizer(tmp_path, vocab_size=300, corpus=corpus, model_max_length=32)
    assert {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"} <= {
        p.name for p in out.iterdir()
    }
    tokenizer = load_tokenizer(out)
    assert len(tokenizer) <= 300
    assert tokenizer.model_max_length == 32
    # Every word of the corpus became one token: the merges came from this corpus.
    assert len(tokenizer("the cat sat on the mat")["input_ids"]) == 6
