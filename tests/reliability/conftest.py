"""The GPT-2 server the serve-side reliability tests share, started once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import SHAKESPEARE_MODEL
from tools.load_test import Server, served

FAMILY = "families.gpt2"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Trained weights (greedy text is readable and stable) with the lead's serve args.
    log = tmp_path_factory.mktemp("reliability") / "serve.log"
    with served(SHAKESPEARE_MODEL, FAMILY, log) as running:
        yield running
