"""The demo (`nox -s demo`): the shipped Shakespeare GPT-2 through `max generate`, then
`max serve` on 127.0.0.1 answering one OpenAI completion request."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.serving import cli_env, max_cli, running_server  # noqa: E402

MODEL = ROOT / "models" / "tiny-shakespeare-gpt2"
FAMILY = "families.gpt2"
log = logging.getLogger("demo")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("== max generate ==")
    subprocess.run(
        [*max_cli(), "generate", "--custom-architectures", FAMILY, "--model-path", str(MODEL),
         "--devices", "cpu", "--prompt", "ROMEO:", "--max-new-tokens", "80", "--top-k", "40",
         "--temperature", "0.8"],
        cwd=ROOT, env=cli_env(), check=True,
    )
    log.info("== max serve + OpenAI client ==")
    import openai

    log_file = ROOT / ".nox" / "demo-serve.log"
    log_file.parent.mkdir(exist_ok=True)
    with running_server(MODEL, FAMILY, log=log_file) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused")
        model = client.models.list().data[0].id
        r = client.completions.create(
            model=model, prompt="JULIET:\n", max_tokens=60, temperature=0.8, seed=1
        )
        log.info("POST /v1/completions model=%s -> %r", model, r.choices[0].text)


if __name__ == "__main__":
    main()
