"""common.text_stream and the tokenizer's two text paths, without a pipeline: pieces of a
sequence's text join up to Hugging Face's decode of its generated ids, and a character split
across tokens never shows as U+FFFD (tests/test_split_characters.py runs them through MAX)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from max.pipelines.context import SamplingParams
from max.pipelines.modeling.types import RequestID, TextGenerationRequest
from transformers import AutoTokenizer

from common.text_stream import TextStream
from common.tokenizer import CompletionTokenizer
from tooling.checkpoints import build_tokenizer

SCRIPTS = "é ж 中 🙂 λ ҩ ñ 한 ✓ 𝔘"
EOS = 0  # <|endoftext|> in the test tokenizers


@pytest.fixture(scope="module")
def tokenizer_path(tmp_path_factory):
    return build_tokenizer(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="module")
def hf(tokenizer_path):
    return AutoTokenizer.from_pretrained(tokenizer_path)


def decode(hf, ids) -> str:
    return hf.decode(list(ids), skip_special_tokens=True)


def token_pool(hf) -> list[int]:
    """Byte tokens of 2-, 3- and 4-byte characters, whole words, and the end-of-text token."""
    return sorted({*hf(SCRIPTS).input_ids, *hf(" the quick fox").input_ids, EOS})


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_pieces_join_up_to_hugging_face_decode(hf, data):
    pool = token_pool(hf)
    prompt = data.draw(st.lists(st.sampled_from(pool), max_size=6))
    generated = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=24))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(generated) - 1)))))
    bounds = [0, *(c for c in cuts if c < len(generated)), len(generated)]
    stream = TextStream(lambda ids: decode(hf, ids), prompt)
    pieces = [stream.add(generated[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    pieces.append(stream.flush())
    whole = decode(hf, generated)
    assert "".join(pieces) == whole
    if "\ufffd" not in whole:
        assert not any("\ufffd" in piece for piece in pieces), pieces


def test_a_split_character_is_held_until_whole_and_a_cut_one_flushed(hf):
    ids = hf("中🙂").input_ids  # 3 + 4 byte tokens
    stream = TextStream(lambda i: decode(hf, i))
    assert [stream.add([t]) for t in ids[:5]] == ["", "", "中", "", ""]
    assert stream.flush() == "\ufffd"  # two of the emoji's four bytes, as decode shows them


def test_a_prompt_ending_inside_a_character_gives_no_context(hf):
    ids = hf("ж中").input_ids
    # The prompt ends with 中's first byte; the completion's two bytes do not complete it.
    stream = TextStream(lambda i: decode(hf, i), ids[:3])
    assert stream.add(ids[3:]) + stream.flush() == decode(hf, ids[3:]) == "\ufffd\ufffd"


def run(coroutine):
    return asyncio.run(coroutine)


def new_context(tokenizer, prompt, max_tokens: int):
    request = TextGenerationRequest(
        request_id=RequestID(),
        prompt=prompt,
        model_name="test",
        sampling_params=SamplingParams(max_new_tokens=max_tokens),
    )
    return run(tokenizer.new_context(request))


@pytest.fixture(scope="module")
def tokenizer(tokenizer_path):
    return CompletionTokenizer(str(tokenizer_path), None)


@pytest.mark.parametrize("ending", ["max_tokens", "eos"])
def test_max_generate_decode_per_step_flushes_at_the_end(tokenizer, hf, ending):
    """max generate: `decode(step's tokens)` after each step of a context run in this process."""
    generated = hf("λ中🙂").input_ids[:-2]  # ends inside the emoji
    if ending == "eos":
        generated.append(EOS)
    context = new_context(tokenizer, "é", len(generated) + (5 if ending == "eos" else 0))
    printed = []
    for token in generated:
        context.update(token)
        printed.append(run(tokenizer.decode([token], skip_special_tokens=True)))
    assert printed[:5] == ["", "λ", "", "", "中"]
    assert "".join(printed) == decode(hf, generated) == "λ中\ufffd"


def test_max_serve_takes_the_tokenizers_detokenizer(tokenizer, hf):
    from max.serve.pipelines import llm

    prompt = "ROMEO: \ufffd"  # DecodeStream returned the whole prompt with the first token
    generated = hf(" ж🙂 ok").input_ids
    context = new_context(tokenizer, prompt, len(generated))
    detokenizer = llm.create_buffered_detokenizer(tokenizer, context.tokens.prompt, True)
    chunks = [generated[:2], generated[2:4], generated[4:]]
    text = "".join(run(detokenizer.decode(chunk)) for chunk in chunks)
    assert text == decode(hf, generated) == " ж🙂 ok"


def test_a_token_decoded_alone_stays_a_plain_decode(tokenizer, hf):
    """Log-probability keys decode one token at a time, while requests stream."""
    split = hf("中").input_ids
    new_context(tokenizer, "é", 8)
    for token in split:
        assert run(tokenizer.decode(token, skip_special_tokens=True)) == "\ufffd"
    assert run(tokenizer.decode(np.array(split), skip_special_tokens=True)) == "中"
