"""Device graph capture replays the same function: every decoder's defaults config, run with
and without `device_graph_capture` (which `max serve` and `max generate` turn on by themselves
on a GPU for an architecture that does not opt out, as ours do not).

A ragged batch of five prompts (1 to 181 tokens, two sharing a 150-token prefix, one of 110
whose 32 decode steps cross the 128-token KV page boundary), 32 greedy steps each way. The two
runs' logits must agree within the format's rounding of one output and their greedy tokens
must be equal except at a near tie (`tooling.parity.compare_runs`, tested on the CPU in
tests/test_common_parity.py with a wrong token at a clear margin).

A third run is graph capture as `max serve` and `max generate` run it, with MAX's overlap
scheduler active (the host prepares step n+1 while the GPU runs step n, and each step's
tokens arrive one step late; `AutoModel` keeps every step synchronous unless asked). Only
tokens come back there: they must be the run without capture's up to the first that differs,
and that one a near tie of the format's rounding (`tooling.parity.compare_tokens`, also
tested on the CPU with a wrong token at a clear margin).

One capture test at a time on a host: a process with capture on held about 127 GB of an
H200's 140 at a8a15f4 whatever `device_memory_utilization` said, and six at once ran out of
memory pre-backing their graphs (a lock file serializes them across xdist workers; run them
apart from the rest of the suite, as tools/gpu_lease.sh's CAPTURE_K does).
"""

from __future__ import annotations

import numpy as np
import pytest

from tooling.metrics import compare_logits
from tooling.parity import (
    compare_runs,
    compare_tokens,
    load_max_model,
    max_greedy,
    ragged_prompts,
)

from .conftest import DEVICE_MEMORY_SHARE, gpu_encodings
from .test_gpu_decoders import CASES, FLOOR_EPS, LISTED

NEW_TOKENS = 32
PAGE_CROSSING_PROMPT = 110  # + 32 steps passes the 128-token page
CAPTURE_CASES = [c for c in CASES if c.config == "defaults"]
# (run, device graph capture, overlap scheduler): without capture; captured graphs replayed
# one synchronous step at a time; and as served, the overlap scheduler active.
MODES = [("eager", False, False), ("capture", True, False), ("served", True, True)]


def test_every_decoder_has_a_capture_case():
    assert {c.architecture for c in CAPTURE_CASES} == set(LISTED)


@pytest.mark.slow
@pytest.mark.parametrize("encoding", gpu_encodings())
@pytest.mark.parametrize("case", CAPTURE_CASES, ids=lambda c: c.id)
def test_graph_capture_replays_the_same_function(
    case, encoding, tmp_path, tmp_path_factory, record
):
    if encoding not in LISTED[case.architecture]:
        pytest.skip(f"{case.architecture}: {encoding} is not listed (docs/SUPPORT.md)")
    from filelock import FileLock

    with FileLock(str(tmp_path_factory.getbasetemp().parent / "graph-capture.lock")):
        _replays_the_same_function(case, encoding, tmp_path, record)


def _replays_the_same_function(case, encoding, tmp_path, record):
    import json

    path = case.build(tmp_path / case.id)
    vocab = json.loads((path / "config.json").read_text())["vocab_size"]
    rng = np.random.default_rng(1)
    prompts = [*ragged_prompts(vocab), rng.integers(1, vocab, PAGE_CROSSING_PROMPT).tolist()]
    runs = {}
    for mode, capture, overlap in MODES:
        model = load_max_model(
            str(path),
            custom_architectures=[case.family],
            devices="gpu",
            encoding=encoding,
            max_batch_size=len(prompts),
            device_memory_utilization=DEVICE_MEMORY_SHARE,
            device_graph_capture=capture,
            enable_overlap_scheduler=overlap,
            kv="jenga-prefix",  # as served (load_max_model's default turns prefix caching off)
        )
        runs[mode] = max_greedy(model, prompts, NEW_TOKENS, logits=not overlap)
        del model
    scale = max(float(np.abs(x).max()) for x in runs["eager"].logits)
    floor = FLOOR_EPS[encoding] * scale
    problems = compare_runs(runs["eager"], runs["capture"], floor)
    problems += [
        f"served (overlap): {p}"
        for p in compare_tokens(runs["eager"], runs["served"].tokens, floor)
    ]
    pairs = list(zip(runs["eager"].logits, runs["capture"].logits, strict=True))
    record(
        family=case.family.split(".")[-1],
        architecture=case.architecture,
        config=case.config,
        encoding=encoding,
        kv="graph-capture",
        ok=not problems,
        problems=problems,
        max_error=max(float(np.abs(a - b).max()) for a, b in pairs if a.shape == b.shape),
        allowed_error=floor,
        cosine_min=min(compare_logits(a, b).cosine for a, b in pairs if a.shape == b.shape),
    )
    assert not problems, f"{case.id} {encoding} graph capture:\n" + "\n".join(problems)
