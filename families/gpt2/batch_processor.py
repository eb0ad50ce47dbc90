"""GPT-2's batching: ragged tokens plus each token's position for the learned `wpe` table."""

from __future__ import annotations

from common.decoder import DecoderBatchProcessor


class GPT2BatchProcessor(DecoderBatchProcessor):
    needs_positions = True
