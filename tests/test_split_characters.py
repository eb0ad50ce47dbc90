"""Characters whose UTF-8 bytes byte-level BPE splits across tokens come out whole, in every
decoder family: `max generate`'s printed text and `/v1/completions` (plain and streamed) equal
Hugging Face's decode of the same generated ids, a final partial character included (U+FFFD).

A successor checkpoint (tests/successor.py) makes the greedy continuation cycle through the byte
tokens of CHAIN: Latin, Cyrillic, CJK, emoji and Greek, 2, 3 and 4 bytes a character.
"""

from __future__ import annotations

import openai
import pytest
from transformers import AutoTokenizer

from tests.gpt2.conftest import CONFIGS as GPT2_CONFIGS
from tests.llama_style.conftest import CONFIGS as LLAMA_STYLE_CONFIGS
from tests.serving import (
    completion_text,
    hf_greedy_ids,
    hf_greedy_text,
    max_generate,
    plain_and_streamed,
    running_server,
)
from tests.successor import build_successor_checkpoint

pytestmark = pytest.mark.slow
CHAIN = "éж中🙂λ"
# family -> (package, architecture, config): each config is a family test's, with an untied
# head, so MAX reuses that test's compiled graph.
FAMILIES = {
    "gpt2": ("families.gpt2", "GPT2LMHeadModel", GPT2_CONFIGS["knobs"]),
    "gpt_neox": (
        "families.llama_style",
        "GPTNeoXForCausalLM",
        LLAMA_STYLE_CONFIGS["GPTNeoXForCausalLM"]["defaults"],
    ),
}
# (prompt, max_tokens): a prompt in each script; completions that end inside a 3-byte character,
# inside a 4-byte one, on a character boundary, and a token-id prompt that ends inside one.
COMPLETIONS = [("é", 4), ("ж", 6), ("中", 6), ("🙂", 7), ("λ", 13)]
GENERATE = ("éж", 19)


@pytest.fixture(scope="module", params=list(FAMILIES))
def successor(request, tmp_path_factory):
    """(family package, checkpoint path, chain ids)."""
    package, architecture, config = FAMILIES[request.param]
    out = tmp_path_factory.mktemp(f"successor-{request.param}")
    path, chain = build_successor_checkpoint(architecture, out, config, CHAIN)
    return package, path, chain


@pytest.fixture(scope="module")
def served(successor, tmp_path_factory):
    package, path, chain = successor
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with running_server(path, package, log=log) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", timeout=300)
        yield client, path, chain


def test_hugging_face_greedy_follows_the_chain(successor):
    _, path, chain = successor
    cycle = chain * 3
    assert hf_greedy_ids(path, chain[:1], 2 * len(chain)) == cycle[1 : 2 * len(chain) + 1]


def test_max_generate_prints_hugging_face_decode(successor):
    package, path, _ = successor
    prompt, new_tokens = GENERATE
    expected = hf_greedy_text(path, prompt, new_tokens)
    assert expected.endswith("\ufffd")  # the last character is cut: the flush is exercised
    done = max_generate(package, path, prompt, new_tokens)
    assert done.returncode == 0, done.stderr[-3000:]
    assert completion_text(done.stdout) == expected


def test_completions_plain_and_streamed_equal_hugging_face_decode(served):
    client, path, chain = served
    inside_a_character = AutoTokenizer.from_pretrained(path)(CHAIN[:3]).input_ids[:-1]
    model = client.models.list().data[0].id
    wrong = []
    for prompt, max_tokens in [*COMPLETIONS, (inside_a_character, 6)]:
        expected = hf_greedy_text(path, prompt, max_tokens)
        plain, streamed = plain_and_streamed(client, model, prompt, max_tokens)
        if (plain, streamed) != (expected, expected):
            wrong.append(f"{prompt!r}: HF {expected!r}, plain {plain!r}, streamed {streamed!r}")
    assert not wrong, "\n".join(wrong)
