"""Tiny random Hugging Face checkpoints and tokenizers for tests, built offline.

`build_random_checkpoint` writes a real `save_pretrained` directory (config.json, safetensors,
tokenizer) for an architecture in `ARCHITECTURES`, so family tests run against genuine Hugging
Face layouts without the hub. torch and transformers are imported lazily: they are test
dependencies, not runtime ones.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

TokenizerStyle = Literal["gpt2", "roberta", "bert", "distilbert"]

# The test tokenizers' corpus is built in, so a checkpoint built here tokenizes the same on every
# machine, whatever sits next to the repository.
_BUILTIN_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "A model reads tokens and predicts the next one, one step at a time.",
    "Weights are stored in safetensors files next to a config and a tokenizer.",
    "Every layer normalises its input, attends to earlier positions, and mixes features.",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
    "It was the best of times, it was the worst of times; it was the age of wisdom.",
    "Numbers like 12, 345 and 6789 appear in text, as do dates such as 2024-05-17.",
    'Questions? Answers! Quotes "like these" and (parentheses) test the byte-level rules.',
    "First Citizen: Before we proceed any further, hear me speak.",
    "All: Speak, speak. First Citizen: You are all resolved rather to die than to famish?",
    "All: Resolved. resolved. First Citizen: First, you know Caius Marcius is chief enemy.",
    "ROMEO: But soft, what light through yonder window breaks? It is the east.",
    "JULIET: O Romeo, Romeo, wherefore art thou Romeo? Deny thy father and refuse thy name.",
    "KING RICHARD: Now is the winter of our discontent made glorious summer by this sun.",
    "HAMLET: To be, or not to be, that is the question.",
    "MACBETH: Tomorrow, and tomorrow, and tomorrow, creeps in this petty pace from day to day.",
    "Call me Ishmael. Some years ago, never mind how long precisely, I went to sea.",
    "It is a truth universally acknowledged that a single man must be in want of a wife.",
    "In the beginning the server was empty, and requests came one after another.",
    "Attention heads look back over the cache; positions count from zero in every sequence.",
    "Learned position embeddings add a vector per index; rotary ones turn pairs of features.",
    "The river ran cold and clear under the old stone bridge, past the mill and the church.",
    "He counted one, two, three, four, five, six, seven, eight, nine and ten apples.",
    "Why would anyone write tests? Because the oracle says what the answer must be.",
)

# Token strings per style, in id order: the first is id 0.
_SPECIALS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "gpt2": ("<|endoftext|>",),
        "roberta": ("<s>", "<pad>", "</s>", "<unk>", "<mask>"),
        "bert": ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
        "distilbert": ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
    }
)
# PreTrainedTokenizerFast keyword -> token, per style.
_BERT_ROLES = MappingProxyType(
    {
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }
)
_ROLES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "gpt2": MappingProxyType(
            {
                "bos_token": "<|endoftext|>",
                "eos_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>",
            }
        ),
        "roberta": MappingProxyType(
            {
                "bos_token": "<s>",
                "eos_token": "</s>",
                "sep_token": "</s>",
                "cls_token": "<s>",
                "unk_token": "<unk>",
                "pad_token": "<pad>",
                "mask_token": "<mask>",
            }
        ),
        "bert": _BERT_ROLES,
        "distilbert": _BERT_ROLES,
    }
)
_ALL_ROLES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)
# GPT-2 adds wte(token_type_ids) when given them and DistilBERT refuses them: only BERT gets them.
_INPUT_NAMES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "gpt2": ("input_ids", "attention_mask"),
        "roberta": ("input_ids", "attention_mask"),
        "bert": ("input_ids", "token_type_ids", "attention_mask"),
        "distilbert": ("input_ids", "attention_mask"),
    }
)


class ArchSpec(NamedTuple):
    """How to build one tiny architecture: HF class names, tokenizer style, config kwargs."""

    config_class: str
    model_class: str
    tokenizer_style: TokenizerStyle
    config_kwargs: Mapping[str, Any]


# Shared tiny sizes: 64 hidden, 2 layers, 4 heads of 16, 128 positions.
_DECODER = MappingProxyType(
    {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 256,
        "max_position_embeddings": 128,
    }
)
_GQA = MappingProxyType({**_DECODER, "num_key_value_heads": 2})
_ENCODER = MappingProxyType({**_DECODER, "type_vocab_size": 2})
# RoBERTa positions start at pad_id + 1, so 128 tokens need 130 rows (as 512 need 514).
_ROBERTA = MappingProxyType({**_ENCODER, "max_position_embeddings": 130, "type_vocab_size": 1})

ARCHITECTURES: Mapping[str, ArchSpec] = MappingProxyType(
    {
        "GPT2LMHeadModel": ArchSpec(
            "GPT2Config",
            "GPT2LMHeadModel",
            "gpt2",
            MappingProxyType({"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128}),
        ),
        "GPTNeoXForCausalLM": ArchSpec("GPTNeoXConfig", "GPTNeoXForCausalLM", "gpt2", _DECODER),
        "PhiForCausalLM": ArchSpec("PhiConfig", "PhiForCausalLM", "gpt2", _DECODER),
        "Phi3ForCausalLM": ArchSpec("Phi3Config", "Phi3ForCausalLM", "gpt2", _GQA),
        # Gemma's default head_dim is 256; keep heads * head_dim == hidden.
        "GemmaForCausalLM": ArchSpec(
            "GemmaConfig", "GemmaForCausalLM", "gpt2", MappingProxyType({**_GQA, "head_dim": 16})
        ),
        "StableLmForCausalLM": ArchSpec("StableLmConfig", "StableLmForCausalLM", "gpt2", _GQA),
        "Starcoder2ForCausalLM": ArchSpec(
            "Starcoder2Config", "Starcoder2ForCausalLM", "gpt2", _GQA
        ),
        "GPTBigCodeForCausalLM": ArchSpec(
            "GPTBigCodeConfig",
            "GPTBigCodeForCausalLM",
            "gpt2",
            MappingProxyType(
                {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128, "multi_query": True}
            ),
        ),
        "LlamaForCausalLM": ArchSpec("LlamaConfig", "LlamaForCausalLM", "gpt2", _GQA),
        "MistralForCausalLM": ArchSpec("MistralConfig", "MistralForCausalLM", "gpt2", _GQA),
        "Qwen2ForCausalLM": ArchSpec("Qwen2Config", "Qwen2ForCausalLM", "gpt2", _GQA),
        "BertModel": ArchSpec("BertConfig", "BertModel", "bert", _ENCODER),
        "RobertaModel": ArchSpec("RobertaConfig", "RobertaModel", "roberta", _ROBERTA),
        "XLMRobertaModel": ArchSpec("XLMRobertaConfig", "XLMRobertaModel", "roberta", _ROBERTA),
        # Embeddings narrower than hidden exercise ELECTRA's projection.
        "ElectraModel": ArchSpec(
            "ElectraConfig",
            "ElectraModel",
            "bert",
            MappingProxyType({**_ENCODER, "embedding_size": 32}),
        ),
        "DistilBertModel": ArchSpec(
            "DistilBertConfig",
            "DistilBertModel",
            "distilbert",
            MappingProxyType(
                {
                    "dim": 64,
                    "n_layers": 2,
                    "n_heads": 4,
                    "hidden_dim": 256,
                    "max_position_embeddings": 128,
                }
            ),
        ),
    }
)

# HF's default init (std 0.02) gives near-flat logits; 0.2 makes greedy argmax margins usable.
INITIALIZER_RANGE = 0.2
DEFAULT_MAX_LENGTH = 128


def default_corpus() -> list[str]:
    """Varied built-in English, the same on every machine."""
    # Rotating the sentences gives the trainer varied contexts for merges.
    n = len(_BUILTIN_SENTENCES)
    return [" ".join(_BUILTIN_SENTENCES[(i + j) % n] for j in range(3)) for i in range(n * 8)]


def _style_for(kind: str, special_tokens: str | None) -> str:
    style = special_tokens or ("gpt2" if kind == "bpe" else "bert")
    if style not in _SPECIALS:
        raise ValueError(f"special_tokens: expected one of {sorted(_SPECIALS)}, found {style!r}")
    expected_kind = "wordpiece" if style in ("bert", "distilbert") else "bpe"
    if kind != expected_kind:
        raise ValueError(f"special_tokens {style!r} needs kind {expected_kind!r}, found {kind!r}")
    return style


def _train_tokenizer(style: str, vocab_size: int, corpus: Iterable[str]) -> Any:
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    specials = list(_SPECIALS[style])
    if style in ("bert", "distilbert"):
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##")
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size, special_tokens=specials, show_progress=False
        )
        tok.train_from_iterator(corpus, trainer)
        tok.model = _deterministic_wordpiece(tok.get_vocab(), specials)
        cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
        )
        return tok

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    if style == "roberta":
        tok.post_processor = processors.RobertaProcessing(
            sep=("</s>", tok.token_to_id("</s>")),
            cls=("<s>", tok.token_to_id("<s>")),
            trim_offsets=True,
            add_prefix_space=False,
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def _deterministic_wordpiece(vocab: dict[str, int], specials: list[str]) -> Any:
    """Renumber a trained WordPiece vocab: the trainer's ids vary run to run, its token set not."""
    from tokenizers import models

    rest = sorted((t for t in vocab if t not in specials), key=lambda t: (len(t), t))
    ordered = {token: i for i, token in enumerate([*specials, *rest])}
    return models.WordPiece(vocab=ordered, unk_token="[UNK]", max_input_chars_per_word=100)


def _fill_vocab(tok: Any, vocab_size: int) -> None:
    """Pad a trained vocabulary that came out short with unused special tokens.

    The tokenizer must cover the model's whole vocabulary: MAX samples only ids below the
    tokenizer's length, so a short tokenizer would make MAX and Hugging Face pick different
    argmaxes whenever a random model favours an id past it.
    """
    from tokenizers import AddedToken

    short = vocab_size - tok.get_vocab_size()
    if short > 0:
        start = tok.get_vocab_size()
        tok.add_tokens([AddedToken(f"<unused{start + i}>", special=True) for i in range(short)])


@functools.lru_cache(maxsize=16)
def _default_tokenizer_json(style: str, vocab_size: int) -> str:
    # Tests build many checkpoints; train once per (style, size) on the default corpus.
    return _train_tokenizer(style, vocab_size, default_corpus()).to_str()


def build_tokenizer(
    out_dir: str | os.PathLike[str],
    *,
    kind: Literal["bpe", "wordpiece"] = "bpe",
    vocab_size: int = 512,
    corpus: Iterable[str] | None = None,
    model_max_length: int = DEFAULT_MAX_LENGTH,
    special_tokens: TokenizerStyle | None = None,
) -> Path:
    """Train a tokenizer and save it so AutoTokenizer.from_pretrained(out_dir) works offline.

    `special_tokens` picks the style: "gpt2" (byte-level BPE, <|endoftext|> as bos/eos/unk, the
    default for bpe), "roberta" (byte-level BPE, <s> <pad> </s> <unk> <mask>), "bert" (WordPiece,
    [PAD] [UNK] [CLS] [SEP] [MASK], the default for wordpiece) or "distilbert" (as bert, without
    token_type_ids). Special tokens take the first ids in the order listed.
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    style = _style_for(kind, special_tokens)
    if corpus is None:
        tok = Tokenizer.from_str(_default_tokenizer_json(style, vocab_size))
    else:
        tok = _train_tokenizer(style, vocab_size, corpus)
    if tok.get_vocab_size() > vocab_size:
        raise ValueError(
            f"trained tokenizer has {tok.get_vocab_size()} tokens, expected <= {vocab_size}"
        )
    _fill_vocab(tok, vocab_size)

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        model_max_length=model_max_length,
        model_input_names=list(_INPUT_NAMES[style]),
        **_ROLES[style],
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out)
    # Null roles must be written out: some AutoTokenizer classes (Qwen2) default a pad otherwise.
    config_file = out / "tokenizer_config.json"
    tokenizer_config = json.loads(config_file.read_text(encoding="utf-8"))
    for role in _ALL_ROLES:
        tokenizer_config[role] = _ROLES[style].get(role)
    config_file.write_text(json.dumps(tokenizer_config, indent=2) + "\n", encoding="utf-8")
    # transformers 5 no longer writes this file; older loaders and MAX tooling still read it.
    (out / "special_tokens_map.json").write_text(
        json.dumps(dict(_ROLES[style]), indent=2) + "\n", encoding="utf-8"
    )
    return out


def special_token_ids(style: TokenizerStyle) -> dict[str, int | None]:
    """pad/bos/eos ids of a tokenizer style (specials take the first ids), for the model config."""
    ids = {token: i for i, token in enumerate(_SPECIALS[style])}
    roles = _ROLES[style]
    return {
        "pad_token_id": ids.get(roles.get("pad_token", "")),
        "bos_token_id": ids.get(roles.get("bos_token", "")),
        "eos_token_id": ids.get(roles.get("eos_token", "")),
    }


def build_random_checkpoint(
    architecture: str,
    out_dir: str | os.PathLike[str],
    *,
    config_overrides: dict[str, Any] | None = None,
    seed: int = 0,
    dtype: str = "float32",
    vocab_size: int = 512,
    tokenizer: bool = True,
) -> Path:
    """Save a tiny randomly initialised `architecture` (and its tokenizer) to `out_dir`."""
    import torch
    import transformers

    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"architecture {architecture!r} has no tiny recipe; expected one of "
            f"{', '.join(sorted(ARCHITECTURES))}"
        )
    spec = ARCHITECTURES[architecture]
    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype):
        raise ValueError(f"dtype: expected a torch dtype name such as 'bfloat16', found {dtype!r}")

    kwargs: dict[str, Any] = {
        **spec.config_kwargs,
        "vocab_size": vocab_size,
        "initializer_range": INITIALIZER_RANGE,
        **special_token_ids(spec.tokenizer_style),
        **(config_overrides or {}),
    }
    config = getattr(transformers, spec.config_class)(**kwargs)
    config.architectures = [spec.model_class]
    torch.manual_seed(seed)
    model = getattr(transformers, spec.model_class)(config).eval()
    perturb_constant_parameters(model, seed)
    model = model.to(torch_dtype)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    if tokenizer:
        style = spec.tokenizer_style
        build_tokenizer(
            out,
            kind="wordpiece" if style in ("bert", "distilbert") else "bpe",
            vocab_size=int(config.vocab_size),
            model_max_length=min(DEFAULT_MAX_LENGTH, _max_positions(config)),
            special_tokens=style,
        )
    return out


def perturb_constant_parameters(model: Any, seed: int) -> list[str]:
    """Adds seeded noise (std INITIALIZER_RANGE) to every parameter whose entries are all equal.

    Hugging Face initialises biases to 0 and norm weights to 1 (Gemma's to 0): with those, a
    dropped bias or a swapped norm maps to the same numbers and every parity test passes anyway.
    Buffers (GPT-2's causal `attn.bias` masks, position ids) are not parameters and stay as
    they are. Returns the names perturbed.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    perturbed = []
    with torch.no_grad():
        for name, param in model.named_parameters():
            flat = param.reshape(-1)
            if flat.numel() and bool((flat == flat[0]).all()):
                noise = torch.randn(param.shape, generator=generator, dtype=torch.float32)
                param.add_((noise * INITIALIZER_RANGE).to(param.dtype))
                perturbed.append(name)
    return perturbed


def _max_positions(config: Any) -> int:
    for key in ("max_position_embeddings", "n_positions"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    return DEFAULT_MAX_LENGTH
