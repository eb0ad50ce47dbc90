"""tools/gpu_results.py on the CPU: GPU suite records merge into per-family results files, and
SUPPORT.md's GPU table is generated from them, failures included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import gpu_results


def decoder_record(architecture: str, encoding: str, ok: bool, cosine: float) -> dict:
    prompt = {"cosine_min": cosine, "tokens_agreeing": 32 if ok else 5}
    attempt = {"max_error_p99": 0.1, "allowed_error": 0.2 if ok else 0.05, "prompts": [prompt]}
    return {
        "test": f"tests/gpu/test_gpu_decoders.py::t[{architecture}-{encoding}]",
        "card": "NVIDIA H200", "family": "llama_style", "architecture": architecture,
        "config": "defaults", "encoding": encoding, "kv": "jenga-prefix", "ok": ok,
        "new_tokens": 32, "attempts": [attempt],
    }


@pytest.fixture
def records(tmp_path: Path) -> Path:
    folder = tmp_path / "records"
    folder.mkdir()
    for i, rec in enumerate([
        decoder_record("GPTNeoXForCausalLM", "float16", True, 0.99999),
        decoder_record("PhiForCausalLM", "bfloat16", False, 0.137),
    ]):
        (folder / f"{i}.json").write_text(json.dumps(rec))
    return folder


def test_merge_writes_one_file_per_family_and_card(records, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (written,) = gpu_results.merge(records, commit="abc123", command="pytest -m gpu", out_dir=out)
    assert written.name == "gpu-llama_style-nvidia-h200.json"
    doc = json.loads(written.read_text())
    assert doc["commit"] == "abc123" and doc["card"] == "NVIDIA H200"
    assert [r["architecture"] for r in doc["results"]] == ["GPTNeoXForCausalLM", "PhiForCausalLM"]


def test_table_shows_passes_and_failures_with_figures(records, tmp_path):
    gpu_results.merge(records, commit="abc123", command="c", out_dir=tmp_path)
    table = gpu_results.table(tmp_path)
    lines = table.splitlines()
    neox = next(line for line in lines if "GPTNeoXForCausalLM" in line)
    phi = next(line for line in lines if "PhiForCausalLM" in line)
    assert "| float16 |" in neox and "| pass |" in neox and "32/32 tokens" in neox
    assert "| bfloat16 |" in phi and "**FAIL**" in phi and "cosine >= 0.13700" in phi
    assert "`abc123`" in phi


def test_replace_table_keeps_the_rest_of_the_page():
    page = f"intro\n{gpu_results.START}\nold\n{gpu_results.END}\noutro\n"
    new = gpu_results.replace_table(page, f"{gpu_results.START}\nnew\n{gpu_results.END}")
    assert new == f"intro\n{gpu_results.START}\nnew\n{gpu_results.END}\noutro\n"
    with pytest.raises(ValueError, match="markers"):
        gpu_results.replace_table("no markers", "x")


def test_support_page_is_generated_from_the_results_files():
    """docs/SUPPORT.md's GPU table is what the committed results files say."""
    text = gpu_results.SUPPORT.read_text()
    assert gpu_results.replace_table(text, gpu_results.table()) == text, (
        "docs/SUPPORT.md is out of date: run python tools/gpu_results.py table"
    )


def test_table_shows_a_size_checklist_record(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    size = {
        "test": "tests/gpu/test_gpu_gpt2_sizes.py::t[gpt2-xl]", "card": "NVIDIA H200",
        "family": "gpt2", "architecture": "GPT2LMHeadModel", "config": "gpt2-xl",
        "encoding": "float32", "kv": "jenga-prefix", "ok": True, "ready_s": 151.2,
        "memory_mib": 9000.0, "weights_mib": 6084.0, "streamed_chunks": 33,
    }
    (folder / "0.json").write_text(json.dumps(size))
    gpu_results.merge(folder, commit="abc123", command="c", out_dir=tmp_path)
    line = next(x for x in gpu_results.table(tmp_path).splitlines() if "gpt2-xl" in x)
    assert "| pass |" in line and "ready in 151 s" in line and "weights 6084 MiB" in line



def test_table_shows_a_refusal_record(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    refusal = {
        "test": "tests/gpu/test_gpu_decoders.py::t[GemmaForCausalLM-published-heads-float32]",
        "card": "NVIDIA H200", "family": "llama_style", "architecture": "GemmaForCausalLM",
        "config": "published-heads", "encoding": "float32", "kv": "jenga-prefix", "ok": True,
        "problems": [], "refused": "config.json: head_dim 256 on the GPU in float32: ...",
    }
    (folder / "0.json").write_text(json.dumps(refusal))
    gpu_results.merge(folder, commit="abc123", command="c", out_dir=tmp_path)
    line = next(x for x in gpu_results.table(tmp_path).splitlines() if "Gemma" in x)
    assert "| pass |" in line and "refused before compiling: config.json: head_dim 256" in line

def test_a_newer_failure_keeps_the_last_pass_and_a_newer_pass_replaces_both(tmp_path):
    out = tmp_path / "results"
    out.mkdir()

    def run(commit: str, ok: bool, architecture: str = "GPTNeoXForCausalLM") -> None:
        folder = tmp_path / f"records-{commit}"
        folder.mkdir()
        rec = decoder_record(architecture, "float16", ok, 0.99999 if ok else 0.5)
        (folder / "0.json").write_text(json.dumps(rec))
        gpu_results.merge(folder, commit=commit, command=f"run {commit}", out_dir=out)

    def entries() -> list[tuple[str, str, bool]]:
        doc = json.loads((out / "gpu-llama_style-nvidia-h200.json").read_text())
        return [(e["architecture"], e["commit"], e["ok"]) for e in doc["results"]]

    run("aaa", ok=True)
    run("bbb", ok=True, architecture="PhiForCausalLM")
    assert entries() == [("GPTNeoXForCausalLM", "aaa", True), ("PhiForCausalLM", "bbb", True)]
    run("ccc", ok=False)
    assert entries() == [
        ("GPTNeoXForCausalLM", "aaa", True),
        ("GPTNeoXForCausalLM", "ccc", False),
        ("PhiForCausalLM", "bbb", True),
    ]
    table = gpu_results.table(out)
    assert "`aaa`" in table and "`ccc`" in table and "`bbb`" in table
    run("ddd", ok=True)
    assert entries() == [("GPTNeoXForCausalLM", "ddd", True), ("PhiForCausalLM", "bbb", True)]


def test_a_failure_record_keeps_the_exception_message():
    """Not pytest's closing `file:line: Type` line, which says nothing of what went wrong."""
    from types import SimpleNamespace

    from tests.gpu.conftest import failure_message

    message = "RuntimeError: Failed to capture graph: CUDA_ERROR_OUT_OF_MEMORY (out of memory)"
    longrepr = SimpleNamespace(reprcrash=SimpleNamespace(message=message + "\nmore"))
    assert failure_message(SimpleNamespace(longrepr=longrepr)) == message
    plain = SimpleNamespace(longrepr="Traceback ...\nValueError: bad")
    assert failure_message(plain) == "ValueError: bad"
