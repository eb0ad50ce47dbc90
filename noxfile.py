"""Sessions: `nox -l` lists them. They run in the environment `tools/dev.py` prepares
(`.venv`), so MAX's multi-hundred-megabyte install is made once, not per session.

Parameters a user sees, e.g. `nox -s "test-gpt2(encoding='float32', kv='jenga-prefix')"`.
A combination this machine cannot run is reported as skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.default_venv_backend = "none"

ENCODINGS = ["float32", "bfloat16"]
# GGUF block encodings MAX 26.7 runs on the CPU only; those families.gpt2 lists.
GGUF_ENCODINGS = ["q4_k", "q6_k"]
# MAX 26.7's KV cache is always paged: the Jenga manager (default) or the legacy one, each with
# prefix caching on or off.
KV_STRATEGIES = ["jenga-prefix", "jenga-noprefix", "legacy-prefix", "legacy-noprefix"]


def _has_gpu() -> bool:
    return shutil.which("nvidia-smi") is not None or os.path.exists("/dev/kfd")


def _skip_unrunnable(session: nox.Session, encoding: str) -> None:
    if encoding == "bfloat16" and not _has_gpu():
        session.skip("bfloat16: MAX 26.7 refuses bfloat16 on the CPU and this machine has no GPU")


# With no per-session virtualenv, "python" would be whatever PATH finds first (CI's system
# Python has neither MAX nor torch). Run the interpreter nox itself runs under, i.e. the one
# in `.venv` that `tools/dev.py setup` prepared, and put its bin/ (max, ruff) first on PATH.
PYTHON = sys.executable
VENV_BIN = str(Path(sys.executable).parent)


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", ""), **(extra or {})}


def _pytest(session: nox.Session, *paths: str, env: dict[str, str] | None = None) -> None:
    session.run(PYTHON, "-m", "pytest", *paths, *session.posargs, env=_env(env))


def _workers() -> int:
    """pytest-xdist workers for the whole suite: one per core, and at most one per 6 GiB of
    memory (a worker's pytest held 3.7 GiB in the d3b7aac CI run, and some tests start a
    `max serve` beside it). Most of the suite's time is compiling models, which keeps about one
    core busy (load average 1.35 on two cores in that run)."""
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return max(1, min(os.cpu_count() or 1, int(memory_gib // 6)))


@nox.session(name="tests")
def tests(session: nox.Session) -> None:
    """Everything this CPU can run, all families (float32, every KV strategy)."""
    _pytest(session, "tests", "-n", str(_workers()))


@nox.session(name="test-gpt2")
@nox.parametrize("kv", KV_STRATEGIES)
@nox.parametrize("encoding", ENCODINGS + GGUF_ENCODINGS)
def test_gpt2(session: nox.Session, encoding: str, kv: str) -> None:
    _skip_unrunnable(session, encoding)
    env = {"MAXFAM_ENCODING": encoding, "MAXFAM_KV": kv}
    # A GGUF block encoding has its own files (tests/gpt2/gguf); the rest of the suite is
    # safetensors, which a block encoding refuses.
    paths = ["tests/gpt2/test_gguf.py"] if encoding in GGUF_ENCODINGS else ["tests/gpt2"]
    _pytest(session, *paths, env=env)


@nox.session(name="test-llama_style")
@nox.parametrize("kv", KV_STRATEGIES)
@nox.parametrize("encoding", ENCODINGS)
def test_llama_style(session: nox.Session, encoding: str, kv: str) -> None:
    _skip_unrunnable(session, encoding)
    _pytest(session, "tests/llama_style", env={"MAXFAM_ENCODING": encoding, "MAXFAM_KV": kv})


@nox.session(name="test-bert_style")
@nox.parametrize("encoding", ENCODINGS)
def test_bert_style(session: nox.Session, encoding: str) -> None:
    _skip_unrunnable(session, encoding)
    _pytest(session, "tests/bert_style", env={"MAXFAM_ENCODING": encoding})


@nox.session(name="test-gpu")
@nox.parametrize("kv", KV_STRATEGIES)
@nox.parametrize("encoding", ["bfloat16", "float16", "float32"])
@nox.parametrize("family", ["gpt2", "llama_style", "bert_style"])
def test_gpu(session: nox.Session, family: str, encoding: str, kv: str) -> None:
    """The GPU suite (tests/gpu): MAX on the GPU against Hugging Face on the same GPU."""
    if not _has_gpu():
        session.skip("the GPU suite needs a GPU (nvidia-smi not found)")
    env = {"MAXFAM_GPU_FAMILY": family, "MAXFAM_GPU_ENCODINGS": encoding, "MAXFAM_KV": kv}
    _pytest(session, "tests/gpu", "-m", "gpu", env=env)


@nox.session(name="test-reliability")
def test_reliability(session: nox.Session) -> None:
    """Bad checkpoints, bad requests, 64-request load and 10 mid-stream disconnects against
    `max serve` with the Shakespeare GPT-2 (docs/RELIABILITY.md)."""
    _pytest(session, "tests/reliability")


@nox.session(name="test-common")
def test_common(session: nox.Session) -> None:
    _pytest(session, *sorted(str(p) for p in _glob("tests/test_common_*.py")))


@nox.session(name="lint")
def lint(session: nox.Session) -> None:
    session.run(PYTHON, "-m", "ruff", "check", ".", env=_env())


@nox.session(name="demo")
def demo(session: nox.Session) -> None:
    """`max generate` and one `max serve` completion on the shipped Shakespeare GPT-2."""
    session.run(PYTHON, "tools/demo.py", *session.posargs, env=_env())


@nox.session(name="bench")
def bench(session: nox.Session) -> None:
    """GPT-2 on MAX vs Hugging Face vs MAX's own Llama (docs/BENCHMARKS.md)."""
    session.run(PYTHON, "tools/bench.py", *session.posargs, env=_env())


def _glob(pattern: str) -> list[str]:
    from glob import glob

    return glob(pattern)
