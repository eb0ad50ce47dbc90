"""Encoder batching: right-padded [batch, seq] token ids and a 0/1 mask built from each
request's length (never from the pad id, which a real token may share: RoBERTa's <s> is 0)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from max.driver import Buffer
from max.nn.kv_cache import KVCacheInputs
from max.pipelines.context import TextContext
from max.pipelines.lib import ModelInputs
from max.pipelines.lib.interfaces.batch_processor import (
    PaddedEncoderBatchProcessor,
    single_replica_context_batch,
)


@dataclass
class EncoderInputs(ModelInputs):
    tokens: Buffer
    mask: Buffer


def pad_batch(sequences: Sequence[np.ndarray], pad_token_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(tokens [batch, longest] int64 padded on the right, mask [batch, longest] float32)."""
    longest = max(len(s) for s in sequences)
    tokens = np.full((len(sequences), longest), pad_token_id, dtype=np.int64)
    mask = np.zeros((len(sequences), longest), dtype=np.float32)
    for row, seq in enumerate(sequences):
        tokens[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1.0
    return tokens, mask


class EncoderBatchProcessor(PaddedEncoderBatchProcessor[EncoderInputs]):
    def prepare_initial_token_inputs(
        self,
        replica_batches: Sequence[Sequence[TextContext]],
        kv_cache_inputs: KVCacheInputs[Buffer, Buffer] | None = None,
        return_n_logits: int = 1,
    ) -> EncoderInputs:
        del kv_cache_inputs, return_n_logits
        batch = single_replica_context_batch(
            replica_batches, processor_name=type(self).__qualname__
        )
        tokens, mask = pad_batch([ctx.tokens.active for ctx in batch], self._pad_token_id())
        device = self.runtime.devices[0]
        return EncoderInputs(
            tokens=Buffer.from_numpy(tokens).to(device), mask=Buffer.from_numpy(mask).to(device)
        )
