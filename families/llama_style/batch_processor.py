"""Batching for every rotary decoder here: ragged tokens plus each token's position.

Rotary tables are gathered by position in the graph, so each token needs its index in its own
sequence, counting tokens already in the KV cache (prefix-cache hits included).
"""

from __future__ import annotations

from common.decoder import DecoderBatchProcessor


class RotaryBatchProcessor(DecoderBatchProcessor):
    needs_positions = True
