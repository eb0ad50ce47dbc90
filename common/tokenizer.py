"""Tokenizers for base (completion) models: requests the model cannot run are clear 400s.

MAX 26.7 answers a `ValueError` raised while building a request with a bare "Value error."
(HTTP 400) and keeps the reason in its log; an `InputError` reaches the client with its
message. Worse, it forwards token-id prompts unchecked: an id past the embedding table kills the
model worker (and with it `max serve`), a negative id is an HTTP 500. `CompletionTokenizer`
refuses both, and empty prompts, before a request is queued. It also refuses `max_tokens: 0`,
which MAX 26.7 serves as one token; OpenAI's API and vLLM refuse max_tokens < 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from max.pipelines.context.exceptions import InputError
from max.pipelines.lib import TextTokenizer

from common.safe_load import check_tokenizer_files


def embedding_rows(pipeline_config: Any, fallback: int) -> int:
    """Rows of the model's token embedding: the config's `vocab_size` (it may exceed the
    tokenizer's vocabulary, padded for speed), else `fallback`."""
    try:
        vocab_size = getattr(pipeline_config.model.huggingface_config, "vocab_size", None)
    except Exception:  # no config to read (a tokenizer built outside a pipeline)
        vocab_size = None
    return int(vocab_size) if isinstance(vocab_size, int) and vocab_size > 0 else fallback


def check_prompt_ids(ids: Sequence[int] | np.ndarray, vocab_size: int) -> None:
    """Raises `InputError` (HTTP 400) for a prompt the model cannot run, naming the reason."""
    ids = np.asarray(ids)
    if ids.size == 0:
        raise InputError(
            "the prompt is empty (it encodes to no tokens): send at least one token"
        )
    if not np.issubdtype(ids.dtype, np.integer):
        raise InputError(f"prompt token ids must be integers, got {ids.dtype}")
    outside = ids[(ids < 0) | (ids >= vocab_size)]
    if outside.size:
        shown = ", ".join(str(int(i)) for i in outside[:5])
        raise InputError(
            f"prompt token id {shown} is outside this model's vocabulary "
            f"[0, {vocab_size})"
        )


def check_max_new_tokens(max_new_tokens: int | None) -> None:
    """Raises `InputError` (HTTP 400) for a request that asks for no tokens at all. (MAX
    refuses a negative count itself, with a bare "Value error.")"""
    if max_new_tokens == 0:
        # vLLM's words; chat's max_completion_tokens arrives here as the same field.
        raise InputError("max_tokens must be at least 1, got 0")


class CheckedPrompts:
    """Mixin for a `TextTokenizer` subclass: tokenizer files checked at start, every request's
    token ids and `max_tokens` checked before it is queued."""

    def __init__(self, model_path: str, pipeline_config: Any, **kwargs: Any) -> None:
        check_tokenizer_files(model_path)
        super().__init__(model_path, pipeline_config, **kwargs)  # type: ignore[call-arg]
        self.vocab_size = embedding_rows(pipeline_config, self.tokenizer_vocab_size)

    async def new_context(self, request: Any) -> Any:
        # Where MAX 26.7 turns a request, sampling parameters included, into its context.
        check_max_new_tokens(request.sampling_params.max_new_tokens)
        return await super().new_context(request)  # type: ignore[misc]

    async def _generate_prompt_and_token_ids(self, prompt: Any, messages: Any, **options: Any):
        # The one place where MAX 26.7 turns a prompt (text, ids or chat) into token ids.
        text, ids = await super()._generate_prompt_and_token_ids(  # type: ignore[misc]
            prompt, messages, **options
        )
        check_prompt_ids(ids, self.vocab_size)
        return text, ids


class CompletionTokenizer(CheckedPrompts, TextTokenizer):
    """MAX's text tokenizer, with the checks above and a clear answer for chat requests on a
    checkpoint without a chat template."""

    def apply_chat_template(self, messages: Any, tools: Any, **options: Any) -> str:
        if self._chat_template is None and not getattr(self.delegate, "chat_template", None):
            raise InputError(
                f"{self.model_path} has no chat template, so /v1/chat/completions cannot "
                "format messages for it: use /v1/completions, or start max serve with "
                "--chat-template FILE"
            )
        return super().apply_chat_template(messages, tools, **options)
