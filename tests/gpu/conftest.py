"""The GPU suite (`pytest -m gpu`, `nox -s test-gpu`): every registered architecture of every
family on the GPU, against Hugging Face on the same GPU in float32 and in MAX's dtype.

Without a GPU every model test here is skipped with the reason. Environment variables narrow
a run: `MAXFAM_GPU_ENCODINGS` (comma list, default all three), `MAXFAM_KV` (default
`jenga-prefix`: prefix caching on, as served), `MAXFAM_GPU_FAMILY` (gpt2, llama_style or
bert_style). `MAXFAM_GPU_RECORDS` names a folder where each test writes its figures as JSON,
which `tools/gpu_results.py merge` turns into docs/results/gpu-<family>-<card>.json.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import has_gpu, selected_kv_strategies

ENCODINGS = ("bfloat16", "float16", "float32")
# Each MAX instance takes this share of the GPU's free memory (the KV cache is most of it), so
# several test processes can share one card.
DEVICE_MEMORY_SHARE = 0.05


def gpu_encodings() -> list[str]:
    chosen = os.environ.get("MAXFAM_GPU_ENCODINGS")
    names = chosen.split(",") if chosen else list(ENCODINGS)
    unknown = [n for n in names if n not in ENCODINGS]
    if unknown:
        raise ValueError(f"MAXFAM_GPU_ENCODINGS: unknown {unknown}; known: {list(ENCODINGS)}")
    return names


def gpu_kv_strategies() -> list[str]:
    """`MAXFAM_KV`'s strategies, `jenga-prefix` (as served) when unset."""
    return selected_kv_strategies(default="jenga-prefix")


def item_family(item: pytest.Item) -> str | None:
    """The family a GPU test runs: its case's, or bert_style for the encoder tests."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    if "case" in params:
        return params["case"].family.split(".")[-1]
    if "architecture" in params:
        return "bert_style"
    if "size" in params:
        return "gpt2"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    family = os.environ.get("MAXFAM_GPU_FAMILY")
    if family:
        chosen = [i for i in items if item_family(i) in (None, family)]
        config.hook.pytest_deselected(items=[i for i in items if i not in chosen])
        items[:] = chosen
    skip = pytest.mark.skip(reason="GPU suite: no GPU here (nvidia-smi not found)")
    for item in items:
        # The slow tests run models; the others check the case lists and run anywhere.
        if here in Path(str(item.fspath)).parents and item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.gpu)
            if not has_gpu():
                item.add_marker(skip)


def card_name() -> str:
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.when == "call":
        item.stash[CALL_REPORT] = report
    return report


CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Iterator[Callable[..., None]]:
    """`record(family=..., architecture=..., encoding=..., ok=..., **figures)`: one JSON file
    per test in $MAXFAM_GPU_RECORDS (nothing when unset). A test that fails before recording
    (a crash, a refusal) is recorded as failed, with the error's last line."""
    folder = os.environ.get("MAXFAM_GPU_RECORDS")
    written = []

    def write(**fields: Any) -> None:
        written.append(True)
        if not folder:
            return
        Path(folder).mkdir(parents=True, exist_ok=True)
        entry = {"test": request.node.nodeid, "card": card_name(), **fields}
        name = slug(request.node.name) + ".json"
        (Path(folder) / name).write_text(json.dumps(entry, indent=1, default=float))

    yield write
    report = request.node.stash.get(CALL_REPORT, None)
    if not written and report is not None and report.failed:
        params = request.node.callspec.params
        case = params.get("case")
        error = [failure_message(report)]
        capture = "graph_capture" in request.node.name
        write(
            family=item_family(request.node),
            architecture=case.architecture if case else params.get("architecture"),
            config=case.config if case else params.get("size", "defaults"),
            encoding=params.get("encoding"),
            kv=params.get("kv", "graph-capture" if capture else "none"),
            ok=False,
            problems=error,
        )


def failure_message(report: pytest.TestReport) -> str:
    """The exception's own message (its type and first line), not the file:line pytest ends
    its report with: what a results file keeps of a failure."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and crash.message:
        return crash.message.strip().splitlines()[0][:300]
    return (str(report.longrepr).strip().splitlines() or ["failed"])[-1][:300]
