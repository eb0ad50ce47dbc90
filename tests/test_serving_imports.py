"""The serving path imports nothing from the bring-up and test tooling.

A fresh interpreter imports what `max serve --custom-architectures families.X` imports: each
family package under families/ and every module in it (arch, model, model_config,
weight_adapters, graph, batch_processor, ...), except the `debug` hooks that only
`tooling.bringup diff-layers` reads. Then no module of the tooling, the tests, the test runners
or Hugging Face's testing helpers may be loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Every family package in the repository, a newly scaffolded one included.
FAMILIES = tuple(sorted(p.parent.name for p in (ROOT / "families").glob("*/__init__.py")))
# Top-level packages the serving path must not load.
TOOLING_PACKAGES = ("tooling", "tests", "tools", "pytest", "_pytest", "hypothesis", "nox")
# Single modules the serving path must not load (bring-up hooks, Hugging Face test helpers).
TOOLING_MODULES = ("transformers.testing_utils",) + tuple(f"families.{f}.debug" for f in FAMILIES)

IMPORT_SERVING_PATH = """
import importlib, json, pkgutil, sys
imported = []
for family in {families!r}:
    package = importlib.import_module("families." + family)
    imported.append(package.__name__)
    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "debug":
            imported.append(importlib.import_module(f"{{package.__name__}}.{{module.name}}").__name__)
print(json.dumps({{"imported": imported, "loaded": sorted(sys.modules)}}))
"""


def serving_path_modules() -> tuple[list[str], list[str]]:
    """(the family modules imported, every module then in sys.modules), from a fresh python."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    run = subprocess.run(
        [sys.executable, "-c", IMPORT_SERVING_PATH.format(families=FAMILIES)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    return report["imported"], report["loaded"]


def test_serving_path_imports_no_tooling():
    assert {"gpt2", "llama_style", "bert_style"} <= set(FAMILIES)
    imported, loaded = serving_path_modules()
    # Every architecture's rooms were imported, so the check below covers them.
    for room in (
        "gpt2.arch",
        "gpt2.model",
        "gpt2.model_config",
        "gpt2.weight_adapters",
        "gpt2.gpt2",
        "llama_style.registration",
        "llama_style.layers",
        "bert_style.arch",
        "bert_style.model",
        "bert_style.model_config",
        "bert_style.weight_adapters",
        "bert_style.encoder",
    ):
        assert f"families.{room}" in imported
    offending = sorted(
        name
        for name in loaded
        if name.split(".")[0] in TOOLING_PACKAGES
        or any(name == m or name.startswith(m + ".") for m in TOOLING_MODULES)
    )
    assert not offending, (
        f"the serving path (families.{{{','.join(FAMILIES)}}}) loaded bring-up or test "
        f"modules: {offending}"
    )
