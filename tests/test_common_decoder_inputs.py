"""The decoders' batch inputs: each token's position in its own sequence, written into MAX's
staging buffers so that every step reuses the same device buffers (one asynchronous copy per
step, and what a captured graph replays from), not fresh buffers copied synchronously."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from max.driver import CPU
from max.nn.transformer import ReturnLogits
from max.pipelines.lib.interfaces.batch_processor import BatchProcessorRuntime

from common.decoder import DecoderBatchProcessor, token_positions


def context(cached: int, new: list[int]) -> SimpleNamespace:
    """What the processor reads of a TextContext: tokens already in the KV cache and new ones."""
    active = np.array(new, dtype=np.int64)
    return SimpleNamespace(
        tokens=SimpleNamespace(processed_length=cached, active_length=len(new), active=active)
    )


def processor() -> DecoderBatchProcessor:
    runtime = BatchProcessorRuntime(
        pipeline_config=None,  # type: ignore[arg-type]  # not read by a single replica
        devices=[CPU()],
        return_logits=ReturnLogits.LAST_TOKEN,
        max_batch_size=4,
        max_seq_len=64,
        max_batch_input_tokens=64,
    )
    return DecoderBatchProcessor(config=None, runtime=runtime)


def test_ragged_batch_inputs_and_positions():
    # A prefill of 3 new tokens, a decode step at position 7, a prefix-cache hit (5 cached).
    batch = [context(0, [11, 12, 13]), context(7, [21]), context(5, [31, 32])]
    inputs = processor().prepare_initial_token_inputs([batch])
    assert inputs.tokens.to_numpy().tolist() == [11, 12, 13, 21, 31, 32]
    assert inputs.input_row_offsets.to_numpy().tolist() == [0, 3, 4, 6]
    assert inputs.positions.to_numpy().tolist() == [0, 1, 2, 7, 5, 6]
    assert inputs.return_n_logits.to_numpy().tolist() == [1]


def test_positions_built_whole_array_match_one_range_per_sequence():
    # Ragged batches as a server mixes them (prefills, decode steps, prefix-cache hits), and
    # batches of decode steps only (one new token per sequence).
    rng = np.random.default_rng(0)
    for size, mixed in [(1, True), (2, True), (7, True), (128, True), (1, False), (128, False)]:
        cached = rng.integers(0, 600, size)
        lengths = rng.integers(1, 40, size) if mixed else np.ones(size, dtype=np.int64)
        lengths[rng.random(size) < 0.5] = 1
        batch = [context(int(c), [0] * int(n)) for c, n in zip(cached, lengths, strict=True)]
        offsets = np.cumsum([0, *lengths], dtype=np.uint32)
        expected = [list(range(c, c + n)) for c, n in zip(cached, lengths, strict=True)]
        assert token_positions(batch, offsets).tolist() == sum(expected, [])


def test_every_step_writes_the_same_device_buffers():
    batcher = processor()
    first = batcher.prepare_initial_token_inputs([[context(0, [1, 2])]])
    addresses = [b._data_ptr() for b in first.buffers]
    second = batcher.prepare_initial_token_inputs([[context(2, [3])]])
    assert [b._data_ptr() for b in second.buffers] == addresses
    assert second.positions.to_numpy().tolist() == [2]
