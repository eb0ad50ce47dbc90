"""The bring-up toolkit (`python -m tooling.bringup`) on tiny GPT-2 checkpoints: scaffolding a
family, inspecting a checkpoint's mapping, verifying against Hugging Face, and locating the
first diverging block, with a correct table and with deliberately broken ones.

The checkpoint is the GPT-2 tests' `defaults` config (n_positions 320, seed 7): the compiled
graph is shared with them, and weights are not part of it, so the broken tables and the
diff-layers copies reuse that one compile.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

import families.gpt2.weight_adapters as gpt2_adapters
from common.mapping import MappingTable, Row
from tooling.bringup import main
from tooling.bringup.family import FamilyError, load_family
from tooling.bringup.inspection import IGNORED, TIED, UNMAPPED, inspect_checkpoint
from tooling.bringup.layers import (
    block_of_tensors,
    check_identities,
    hf_blocks,
    write_depth_copy,
)
from tooling.bringup.scaffold import ScaffoldError, new_family
from tooling.checkpoints import build_random_checkpoint

ROOT = Path(__file__).resolve().parents[1]
GPT2_TABLE = gpt2_adapters.GPT2_TABLE
torch.set_num_threads(1)


def without_transpose(*patterns: str) -> MappingTable:
    """GPT-2's table with the Conv1D transpose left out of the rows for `patterns`."""
    rows = tuple(
        replace(row, transform=None) if row.checkpoint in patterns else row
        for row in GPT2_TABLE.rows
    )
    return replace(GPT2_TABLE, rows=rows)


# c_fc is [64, 256] as stored: left untransposed, its shape no longer fits the graph.
C_FC_UNTRANSPOSED = without_transpose("h.{layer}.mlp.c_fc.weight")
# attn.c_proj is [64, 64]: left untransposed, every shape still fits; only the numbers differ.
ATTN_C_PROJ_UNTRANSPOSED = without_transpose("h.{layer}.attn.c_proj.weight")
# The same mistake in block 1 only (an earlier, untransformed row wins).
BLOCK_1_C_PROJ_UNTRANSPOSED = replace(
    GPT2_TABLE, rows=(Row("h.1.attn.c_proj.weight", "h.1.attn.c_proj.weight"), *GPT2_TABLE.rows)
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_checkpoint(
        "GPT2LMHeadModel",
        tmp_path_factory.mktemp("bringup") / "gpt2",
        config_overrides={"n_positions": 320},
        seed=7,
    )


@pytest.fixture
def edited(checkpoint: Path, tmp_path: Path):
    """`edited(fn)`: a copy of the checkpoint whose tensors dict `fn` has changed."""

    def make(edit) -> Path:
        path = tmp_path / "edited"
        shutil.copytree(checkpoint, path)
        tensors = load_file(path / "model.safetensors")
        edit(tensors)
        save_file(tensors, path / "model.safetensors", metadata={"format": "pt"})
        return path

    return make


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- new-family ------------------------------------------------------------------------------


@pytest.mark.parametrize("like", ["gpt2", "llama_style", "bert_style"])
def test_new_family_writes_every_room_lint_clean(like, tmp_path):
    scaffold = new_family(f"toy_{like}", like, root=tmp_path)
    family = tmp_path / "families" / f"toy_{like}"
    rooms = {"__init__", "arch", "model_config", "weight_adapters", "batch_processor", "model"}
    assert rooms | {f"toy_{like}"} <= {p.stem for p in family.glob("*.py")}
    assert (tmp_path / "tests" / f"toy_{like}" / "test_parity.py").is_file()
    assert (family / "debug.py").is_file()
    assert "ARCHITECTURES: list[Any] = []" in (family / "__init__.py").read_text()
    assert all(p.exists() for p in scaffold.files)
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed beside this Python")
    config = str(ROOT / "pyproject.toml")
    lint = subprocess.run(
        [ruff, "check", "--config", config, "."], cwd=tmp_path, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run(
        [ruff, "format", "--check", "--config", config, "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout


def test_new_family_refuses_bad_names_and_overwrites(tmp_path, capsys):
    for name in ("Opt", "model", "class", "9lives", "a" * 25):
        with pytest.raises(ScaffoldError):
            new_family(name, "gpt2", root=tmp_path)
    new_family("opt", "gpt2", root=tmp_path)
    code, _, err = run_cli(capsys, "new-family", "opt", "--like", "gpt2", "--root", tmp_path)
    assert code == 2 and "--force" in err
    code, out, _ = run_cli(
        capsys, "new-family", "opt", "--like", "gpt2", "--root", tmp_path, "--force"
    )
    assert code == 0 and '@nox.session(name="test-opt")' in out and "OPTForCausalLM" not in out


def test_generated_families_import_and_their_tests_fail_not_implemented(tmp_path):
    """One subprocess for all three: import each package (nothing registered), then run the
    generated tests, which fail with "not implemented" (GPT-2's recipe exists, so that one
    gets as far as the empty mapping table; the others have no tiny recipe)."""
    new_family("toy", "gpt2", root=tmp_path, architecture="GPT2LMHeadModel")
    new_family("toy_rope", "llama_style", root=tmp_path)
    new_family("toy_enc", "bert_style", root=tmp_path)
    # Prepended, not replaced: where MAX itself comes from PYTHONPATH (the GPU host's bundle).
    paths = [str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    imports = subprocess.run(
        [
            sys.executable,
            "-c",
            "import families.toy, families.toy.arch, families.toy_rope.arch, "
            "families.toy_enc.arch\n"
            "assert families.toy.ARCHITECTURES == [] and families.toy_enc.ARCHITECTURES == []\n"
            "print(families.toy.arch.toy_arch.name, families.toy_enc.arch.toy_enc_arch.task)",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert imports.returncode == 0, imports.stderr[-3000:]
    assert "GPT2LMHeadModel" in imports.stdout
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::pytest.PytestUnknownMarkWarning",
            "tests/toy",
            "tests/toy_rope",
            "tests/toy_enc",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    out = tests.stdout
    assert tests.returncode == 1, out[-3000:]
    assert "passed" not in out.splitlines()[-1], out[-3000:]
    assert "families.toy: not implemented: TOY_TABLE has no rows" in out
    assert "no tiny recipe for ToyRopeForCausalLM" in out
    assert "no tiny recipe for ToyEncModel" in out


# --- inspect ---------------------------------------------------------------------------------


def test_inspect_lists_header_tensors(checkpoint, capsys):
    code, out, _ = run_cli(capsys, "inspect", checkpoint)
    assert code == 0
    header = load_file(checkpoint / "model.safetensors")
    assert f"{checkpoint}: {len(header)} tensors" in out
    line = next(x for x in out.splitlines() if "transformer.h.0.mlp.c_fc.weight" in x)
    assert "(64, 256)" in line and "float32" in line


def test_inspect_maps_every_gpt2_tensor(checkpoint, capsys):
    code, out, _ = run_cli(capsys, "inspect", checkpoint, "--family", "gpt2")
    assert code == 0, out
    report = inspect_checkpoint(checkpoint, "gpt2")
    assert report.ok and report.table_name == "GPT2_TABLE"
    by_name = {t.name: t for t in report.tensors}
    c_fc = by_name["transformer.h.0.mlp.c_fc.weight"]
    assert (c_fc.status, c_fc.transform, c_fc.targets, c_fc.target_shapes) == (
        "transformed",
        "transpose_conv1d",
        ("h.0.mlp.c_fc.weight",),
        ((256, 64),),
    )
    assert by_name["transformer.wte.weight"].status == "mapped"
    assert "from GPT2, built from config.json (not compiled)" in out
    assert "summary: 20 mapped, 8 transformed, 0 ignored, 0 tied, 0 unmapped" in out


def test_inspect_names_ignored_tied_unmapped_and_missing(edited):
    def edit(t):
        t["transformer.h.0.attn.bias"] = np.ones((1, 1, 4, 4), dtype=bool)
        t["lm_head.weight"] = t["transformer.wte.weight"].copy()  # tied: HF ignores the copy
        t["transformer.h.0.attn.rotary.weight"] = np.zeros(4, np.float32)
        del t["transformer.h.1.ln_2.bias"]

    report = inspect_checkpoint(edited(edit), "gpt2")
    status = {t.name: t.status for t in report.tensors}
    assert status["transformer.h.0.attn.bias"] == IGNORED
    assert status["lm_head.weight"] == TIED
    assert status["transformer.h.0.attn.rotary.weight"] == UNMAPPED
    assert report.missing == ["h.1.ln_2.bias"]
    assert not report.ok


def test_inspect_wants_a_head_when_the_config_unties_it(edited):
    path = edited(lambda t: None)
    config = json.loads((path / "config.json").read_text())
    config["tie_word_embeddings"] = False
    (path / "config.json").write_text(json.dumps(config))
    assert inspect_checkpoint(path, "gpt2").missing == ["lm_head.weight"]


def test_inspect_catches_an_untransposed_rectangular_conv1d(checkpoint, capsys):
    table = f"{__name__}:C_FC_UNTRANSPOSED"
    code, out, _ = run_cli(capsys, "inspect", checkpoint, "--family", "gpt2", "--table", table)
    assert code == 1
    assert (
        "h.0.mlp.c_fc.weight: graph expects (256, 64), mapping gives (64, 256) from "
        "transformer.h.0.mlp.c_fc.weight" in out
    )
    assert "0 missing, 2 mismatched: PROBLEMS" in out


def test_inspect_cannot_see_an_untransposed_square_conv1d(checkpoint, monkeypatch):
    """Shapes fit, so only the status column tells: `mapped` where its siblings say
    `transformed`. verify and diff-layers catch it (below)."""
    monkeypatch.setattr(gpt2_adapters, "GPT2_TABLE", ATTN_C_PROJ_UNTRANSPOSED)
    report = inspect_checkpoint(checkpoint, "gpt2")
    assert report.ok
    status = {t.name: t.status for t in report.tensors}
    assert status["transformer.h.0.attn.c_proj.weight"] == "mapped"
    assert status["transformer.h.0.mlp.c_proj.weight"] == "transformed"


def test_inspect_reports_a_truncated_file(edited, capsys):
    path = edited(lambda t: None)
    file = path / "model.safetensors"
    with open(file, "r+b") as fh:
        fh.truncate(file.stat().st_size // 2)
    code, _, err = run_cli(capsys, "inspect", path, "--family", "gpt2")
    assert code == 2 and "truncated" in err


def test_family_lookup():
    family = load_family("gpt2", "GPT2LMHeadModel")
    assert (family.name, family.registered) == ("families.gpt2", True)
    assert family.table()[0] == "GPT2_TABLE"
    assert family.debug is not None and family.debug.HF_BLOCKS == "transformer.h"
    with pytest.raises(FamilyError, match="no architecture named 'Nope'"):
        load_family("families.llama_style", "Nope")
    neox = load_family("families.llama_style", "GPTNeoXForCausalLM")
    assert neox.table()[0] == "GPT_NEOX_TABLE"


# --- diff-layers without MAX: the identity copies ---------------------------------------------


def test_depth_copies_make_later_blocks_identities(checkpoint, tmp_path):
    from transformers import AutoModelForCausalLM

    family = load_family("gpt2", "GPT2LMHeadModel")
    names = list(load_file(checkpoint / "model.safetensors"))
    block_of = block_of_tensors(names, family.debug.IDENTITY_BLOCK_TENSORS, family)
    assert block_of["transformer.h.1.mlp.c_proj.bias"] == 1 and len(block_of) == 8
    copy = write_depth_copy(checkpoint, tmp_path / "depth1", block_of, 1)
    assert (copy / "config.json").is_file() and (copy / "tokenizer.json").is_file()
    ids = list(range(1, 12))
    hf = AutoModelForCausalLM.from_pretrained(copy).eval()
    check_identities(hf, hf_blocks(hf, family, 2), ids, 1, str(copy))
    with pytest.raises(FamilyError, match="block 0 still changes its input"):
        check_identities(hf, hf_blocks(hf, family, 2), ids, 0, str(copy))


# --- verify and diff-layers (compile the GPT-2 defaults graph once, then reuse it) ------------


@pytest.mark.slow
def test_verify_passes_on_gpt2(checkpoint, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Hello there\n\nFirst Citizen: Before we proceed any further\n")
    code, out, _ = run_cli(
        capsys, "verify", checkpoint, "--family", "gpt2", "--prompts", prompts, "--new-tokens", 8
    )
    assert code == 0, out
    assert "2 prompts x 8 new tokens" in out and "result: PASS" in out
    assert out.count(": ok  max_abs=") == 2


@pytest.mark.slow
def test_verify_fails_on_an_untransposed_square_conv1d(checkpoint, monkeypatch, capsys):
    monkeypatch.setattr(gpt2_adapters, "GPT2_TABLE", ATTN_C_PROJ_UNTRANSPOSED)
    code, out, _ = run_cli(capsys, "verify", checkpoint, "--family", "gpt2", "--new-tokens", 4)
    assert code == 1, out
    assert "first step beyond tolerance: 0" in out
    assert "result: FAIL (4 of 4 prompts)" in out


def test_verify_refuses_an_untransposed_rectangular_conv1d(checkpoint, capsys):
    """Refused at load (no compile): the message names each tensor and both shapes."""
    table = f"{__name__}:C_FC_UNTRANSPOSED"
    code, _, err = run_cli(capsys, "verify", checkpoint, "--family", "gpt2", "--table", table)
    assert code == 2
    assert "h.0.mlp.c_fc.weight: expected [256, 64] float32, found [64, 256] float32" in err
    # The override lasts for the run only.
    assert gpt2_adapters.GPT2_TABLE is GPT2_TABLE


def test_diff_layers_refuses_a_checkpoint_that_does_not_load(checkpoint, capsys):
    table = f"{__name__}:C_FC_UNTRANSPOSED"
    code, _, err = run_cli(capsys, "diff-layers", checkpoint, "--family", "gpt2", "--table", table)
    assert code == 2
    assert f"{checkpoint} does not load with families.gpt2" in err
    assert "h.1.mlp.c_fc.weight: graph expects (256, 64), mapping gives (64, 256)" in err


@pytest.mark.slow
def test_diff_layers_finds_the_first_broken_block(checkpoint, monkeypatch, capsys):
    monkeypatch.setattr(gpt2_adapters, "GPT2_TABLE", BLOCK_1_C_PROJ_UNTRANSPOSED)
    code, out, _ = run_cli(capsys, "diff-layers", checkpoint, "--family", "gpt2")
    assert code == 1, out
    lines = out.splitlines()
    embeddings = next(x for x in lines if x.startswith("embeddings"))
    block0 = next(x for x in lines if x.startswith("block 0"))
    block1 = next(x for x in lines if x.startswith("block 1"))
    assert embeddings.endswith("ok") and block0.endswith("ok")
    assert "DIVERGED" in block1
    assert "first divergence: block 1" in out
