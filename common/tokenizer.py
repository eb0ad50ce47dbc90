"""Tokenizers for base (completion) models: a chat request is a clear 400, not "Value error."."""

from __future__ import annotations

from typing import Any

from max.pipelines.context.exceptions import InputError
from max.pipelines.lib import TextTokenizer


class CompletionTokenizer(TextTokenizer):
    """MAX's text tokenizer; chat requests on a checkpoint without a chat template say so.

    MAX 26.7 turns the template error into a bare "Value error." (HTTP 400); an `InputError`
    reaches the client with its message.
    """

    def apply_chat_template(self, messages: Any, tools: Any, **options: Any) -> str:
        if self._chat_template is None and not getattr(self.delegate, "chat_template", None):
            raise InputError(
                f"{self.model_path} has no chat template, so /v1/chat/completions cannot "
                "format messages for it: use /v1/completions, or start max serve with "
                "--chat-template FILE"
            )
        return super().apply_chat_template(messages, tools, **options)
