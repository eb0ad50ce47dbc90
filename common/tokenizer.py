"""Tokenizers for base (completion) models: requests the model cannot run are clear 400s, and
streamed text keeps characters whole.

MAX 26.7 answers a `ValueError` raised while building a request with a bare "Value error."
(HTTP 400) and keeps the reason in its log; an `InputError` reaches the client with its
message. Worse, it forwards token-id prompts unchecked: an id past the embedding table kills the
model worker (and with it `max serve`), a negative id is an HTTP 500. `CompletionTokenizer`
refuses both, and empty prompts, before a request is queued. It also refuses `max_tokens: 0`,
which MAX 26.7 serves as one token; OpenAI's API and vLLM refuse max_tokens < 1.

MAX 26.7 turns generated tokens into text in two ways, both wrong for a character whose UTF-8
bytes byte-level BPE splits across tokens: `max generate` prints `decode(step's tokens)`, U+FFFD
for each partial byte; `max serve` streams through `tokenizers`' DecodeStream, which drops an
incomplete character at the end and returns the whole prompt when the prompt's text ends in
U+FFFD. `StreamedText` gives both paths one `SequenceDetokenizer` per request, whose pieces join up
to Hugging Face's `decode(generated ids)` (common/text_stream.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from max.pipelines.context import TextContext
from max.pipelines.context.exceptions import InputError
from max.pipelines.lib import TextTokenizer
from max.serve.pipelines.incremental_detokenizer import BufferedDetokenizer

from common.config import kept_translation
from common.safe_load import check_tokenizer_files
from common.text_stream import TextStream


def embedding_rows(pipeline_config: Any, fallback: int) -> int:
    """Rows of the model's token embedding: the config's `vocab_size` (it may exceed the
    tokenizer's vocabulary, padded for speed) as the load translated it, else `fallback`."""
    try:
        hf = pipeline_config.model.huggingface_config
    except Exception:  # no config to read (a tokenizer built outside a pipeline)
        hf = None
    # A config no load translated yet (a tokenizer built on its own) is read as it stands.
    vocab_size = kept_translation(hf).get("vocab_size", getattr(hf, "vocab_size", None))
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


class SequenceDetokenizer(BufferedDetokenizer):
    """One request's text: a `TextStream` of its generated ids, flushed after the token that ends
    the request by the model worker's rules (an EOS of the context's EOSTracker, or the context's
    max_length). Without a context it cannot tell the end and keeps a final partial character."""

    def __init__(self, stream: TextStream, context: TextContext | None) -> None:
        self.stream = stream
        self.context = context
        self.generated: list[int] = []

    def add(self, ids: Iterable[int]) -> str:
        ids = [int(i) for i in ids]
        self.generated.extend(ids)
        text = self.stream.add(ids)
        return text + self.stream.flush() if self._ended() else text

    async def decode(self, token_ids: Iterable[int]) -> str:  # max serve's interface
        return self.add(token_ids)

    def continues_with(self, ids: np.ndarray) -> bool:
        """Whether `ids` are the context's next generated ids (a context that `max generate`
        runs in this process, so its tokens advance)."""
        if self.context is None or ids.size == 0:
            return False
        done = len(self.generated)
        return np.array_equal(self.context.tokens.generated[done : done + ids.size], ids)

    def _ended(self) -> bool:
        context = self.context
        if context is None or not self.generated:
            return False
        generated = np.asarray(self.generated, dtype=np.int64)
        return bool(
            context.eos_tracker.is_eos_from_tokens(generated)
            or context.tokens.prompt_length + len(generated) >= context.max_length
        )


class StreamedText:
    """Mixin for a `TextTokenizer` subclass: each request's text comes from one
    `SequenceDetokenizer`, made with its context. `max serve` takes it through
    `buffered_detokenizer`; `max generate` calls `decode` with each step's tokens, which the
    newest context's detokenizer recognises as its next ids."""

    def __init__(self, model_path: str, pipeline_config: Any, **kwargs: Any) -> None:
        super().__init__(model_path, pipeline_config, **kwargs)  # type: ignore[call-arg]
        self._newest: SequenceDetokenizer | None = None
        serve_detokenizers_from_tokenizers()

    def _text_stream(self, prompt_ids: Sequence[int], skip_special_tokens: bool) -> TextStream:
        delegate = self.delegate  # type: ignore[attr-defined]

        # Tidying spaces rewrites text across the pieces' boundaries; DecodeStream skips it too.
        def decode(ids: list[int]) -> str:
            return delegate.decode(
                ids, skip_special_tokens=skip_special_tokens, clean_up_tokenization_spaces=False
            )

        return TextStream(decode, prompt_ids)

    async def new_context(self, request: Any) -> TextContext:
        context = await super().new_context(request)  # type: ignore[misc]
        self._newest = SequenceDetokenizer(self._text_stream(context.tokens.prompt, True), context)
        return context

    def buffered_detokenizer(
        self, prompt_ids: Sequence[int], skip_special_tokens: bool = True
    ) -> SequenceDetokenizer:
        """max serve's detokenizer for the request whose context `new_context` just made."""
        newest, self._newest = self._newest, None
        if newest is None or not np.array_equal(newest.context.tokens.prompt, prompt_ids):
            # Not this request's context (MAX calls this right after new_context): the
            # detokenizer still keeps characters whole but cannot tell the request's end.
            return SequenceDetokenizer(self._text_stream(prompt_ids, skip_special_tokens), None)
        if not skip_special_tokens:
            return SequenceDetokenizer(self._text_stream(prompt_ids, False), newest.context)
        return newest

    async def decode(self, encoded: Any, **kwargs: Any) -> str:
        ids = np.atleast_1d(np.asarray(encoded))
        newest = self._newest
        if kwargs.get("skip_special_tokens") and newest is not None and newest.continues_with(ids):
            return newest.add(ids)
        return await super().decode(encoded, **kwargs)  # type: ignore[misc]


def serve_detokenizers_from_tokenizers() -> None:
    """Has `max serve` take a request's detokenizer from a tokenizer that has
    `buffered_detokenizer`; for any other tokenizer MAX chooses as before.

    MAX 26.7's serving loop builds the detokenizer itself (`create_buffered_detokenizer` in
    max.serve.pipelines.llm) and gives an architecture no say in it.
    """
    from max.serve.pipelines import llm

    max_choice = llm.create_buffered_detokenizer
    if getattr(max_choice, "asks_the_tokenizer", False):
        return

    def create_buffered_detokenizer(
        tokenizer: Any, prompt_token_ids: Any, skip_special_tokens: bool = True
    ) -> BufferedDetokenizer:
        ask = getattr(tokenizer, "buffered_detokenizer", None)
        if ask is None:
            return max_choice(tokenizer, prompt_token_ids, skip_special_tokens)
        return ask(prompt_token_ids, skip_special_tokens)

    create_buffered_detokenizer.asks_the_tokenizer = True  # type: ignore[attr-defined]
    llm.create_buffered_detokenizer = create_buffered_detokenizer


class CompletionTokenizer(CheckedPrompts, StreamedText, TextTokenizer):
    """MAX's text tokenizer, with the checks above, whole characters in streamed text, and a
    clear answer for chat requests on a checkpoint without a chat template."""

    def apply_chat_template(self, messages: Any, tools: Any, **options: Any) -> str:
        if self._chat_template is None and not getattr(self.delegate, "chat_template", None):
            raise InputError(
                f"{self.model_path} has no chat template, so /v1/chat/completions cannot "
                "format messages for it: use /v1/completions, or start max serve with "
                "--chat-template FILE"
            )
        return super().apply_chat_template(messages, tools, **options)
