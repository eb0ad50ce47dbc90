"""Shared test settings: encoding and KV strategies from the nox session, shared MAX pipelines.

`MAXFAM_ENCODING` (default float32) and `MAXFAM_KV` (a comma list; default every strategy)
come from the nox sessions. Compiled pipelines are cached per session: MAX compiles a graph
once per distinct model config, which is what dominates a cold run.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tooling.parity import KV_STRATEGIES, load_max_model  # noqa: E402

SHAKESPEARE_MODEL = ROOT / "models" / "tiny-shakespeare-gpt2"
SHAKESPEARE_CORPUS = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def pytest_configure(config: pytest.Config) -> None:
    """In pytest-xdist's controller, before it starts the workers: import MAX's KV-cache ops.

    A fresh MAX install compiles them from Mojo into its site-packages on first import
    (`max/_kv_cache_ops/__mojocache__`), and workers that compile at once can load another's
    half-written library ("ImportError: ... file too short": a cold CI run at 29a2727). Built
    once here, every worker finds it whole.
    """
    if not hasattr(config, "workerinput"):  # the controller, or a run without workers
        import max.nn.kv_cache  # noqa: F401


def has_gpu() -> bool:
    return shutil.which("nvidia-smi") is not None


def selected_encoding() -> str:
    return os.environ.get("MAXFAM_ENCODING", "float32")


def selected_kv_strategies(default: str | None = None) -> list[str]:
    """`MAXFAM_KV`'s strategies; when unset, `default` or every strategy."""
    chosen = os.environ.get("MAXFAM_KV") or default
    names = chosen.split(",") if chosen else list(KV_STRATEGIES)
    unknown = [n for n in names if n not in KV_STRATEGIES]
    if unknown:
        raise ValueError(f"MAXFAM_KV: unknown strategies {unknown}; known: {list(KV_STRATEGIES)}")
    return names


def selected_device() -> str:
    return "gpu" if has_gpu() and os.environ.get("MAXFAM_DEVICE", "") != "cpu" else "cpu"


@pytest.fixture(scope="session")
def encoding() -> str:
    enc = selected_encoding()
    if enc == "bfloat16" and selected_device() == "cpu":
        pytest.skip("bfloat16: MAX 26.7 refuses bfloat16 on the CPU and this machine has no GPU")
    return enc


@pytest.fixture(scope="session")
def max_models() -> Callable[..., Any]:
    """`max_models(path, family, kv=..., encoding=..., **overrides)`: one loaded MAX model per
    distinct setup; the encoding defaults to the session's."""
    cache: dict[tuple[Any, ...], Any] = {}

    def get(
        path: Path | str,
        family: str,
        *,
        kv: str = "jenga-noprefix",
        encoding: str | None = None,
        **overrides: Any,
    ) -> Any:
        encoding = encoding or selected_encoding()
        # repr: overrides may be lists (weight_path), which do not hash.
        key = (str(path), family, kv, encoding, repr(sorted(overrides.items())))
        if key not in cache:
            cache[key] = load_max_model(
                str(path),
                custom_architectures=[family],
                devices=selected_device(),
                encoding=encoding,
                kv=kv,
                **overrides,
            )
        return cache[key]

    return get
