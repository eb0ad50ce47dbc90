"""tools/bench_pool.py: rounds pooled over reports, and the ratio's quartiles over pairs."""

from __future__ import annotations

from tools.bench_pool import pooled_rounds, table


def report(rounds: dict[str, dict[str, list[float]]]) -> dict:
    return {
        "results": {
            system: {batch: {"rounds_decode_tok_s": r} for batch, r in batches.items()}
            for system, batches in rounds.items()
        }
    }


def test_rounds_are_pooled_over_reports_per_batch():
    reports = [
        report({"a": {"1": [1.0, 2.0], "8": [5.0]}}),
        report({"a": {"1": [3.0]}, "b": {"1": [9.0]}}),
    ]
    assert pooled_rounds(reports, "a") == {"1": [1.0, 2.0, 3.0], "8": [5.0]}


def test_a_system_twice_as_fast_shows_quartiles_at_two():
    base = [100.0, 120.0, 140.0, 160.0]
    reports = [report({"fast": {"1": [2 * x for x in base]}, "slow": {"1": base}})]
    row = table(reports, "fast", "slow").splitlines()[-1]
    assert row.startswith("| 1 | 4 / 4 | 260 | 130 | 2.00 |")
    # Pairs of rounds: 200/160 = 1.25 at the least, 320/100 = 3.2 at the most.
    quartiles = row.split("[")[1].rstrip("] |").split(", ")
    assert 1.0 < float(quartiles[0]) < 2.0 < float(quartiles[1])
