"""The encoders' tokenizer: a text longer than the max length is truncated, special tokens
kept, as sentence-transformers truncates to its `max_seq_length` (MAX's own tokenizer refuses
it, and /v1/embeddings turns that refusal into a 500)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from max.pipelines.architectures.bert.tokenizer import BertTokenizer
from max.pipelines.lib.tokenizer import replace_unpaired_surrogates, run_with_default_executor

from common.tokenizer import CheckedPrompts


class SentenceTokenizer(CheckedPrompts, BertTokenizer):
    """MAX's BERT tokenizer (SEP stands in for a missing EOS), truncating long texts; token ids
    and tokenizer files checked (`common.tokenizer.CheckedPrompts`)."""

    async def encode(
        self, prompt: str | Sequence[int], add_special_tokens: bool = True
    ) -> npt.NDArray[np.integer[Any]]:
        if not isinstance(prompt, str) or not self.max_length:
            return await super().encode(prompt, add_special_tokens)

        def truncated_ids(text: str) -> list[int]:
            return self.delegate.encode(
                replace_unpaired_surrogates(text),
                add_special_tokens=add_special_tokens,
                truncation=True,
                max_length=self.max_length,
            )

        return np.array(await run_with_default_executor(truncated_ids, prompt))
