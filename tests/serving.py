"""Runs `max serve` (or any MAX CLI) for a test: a subprocess on 127.0.0.1, bounded in time."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_CLI = [sys.executable, "-m", "max._entrypoints.pipelines"]
READY_TIMEOUT_S = 1500  # a cold compile on a busy 2-core machine


def max_cli() -> list[str]:
    """The `max` console script of this environment."""
    script = Path(sys.executable).with_name("max")
    return [str(script)] if script.exists() else MAX_CLI


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@contextlib.contextmanager
def running_server(
    model_path: Path | str, family: str, *args: str, log: Path, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Yields the server's base URL once /health answers; stops it afterwards."""
    with server_process(model_path, family, *args, log=log, env=env) as (base, _):
        yield base


@contextlib.contextmanager
def server_process(
    model_path: Path | str,
    family: str,
    *args: str,
    log: Path,
    env: dict[str, str] | None = None,
    devices: str = "cpu",
) -> Iterator[tuple[str, int]]:
    """`max serve` on `devices`: yields (base URL, server pid) once /health answers."""
    port = free_port()
    # Each server also binds a metrics port (8001 by default): give it a free one too, so
    # servers can run side by side; and no remote telemetry from tests.
    env = {
        **(env or cli_env()),
        "MAX_SERVE_METRICS_ENDPOINT_PORT": str(free_port()),
        "MAX_SERVE_DISABLE_TELEMETRY": "1",
    }
    cmd = [
        *max_cli(), "serve", "--custom-architectures", family, "--model-path", str(model_path),
        "--devices", devices, "--host", "127.0.0.1", "--port", str(port), *args,
    ]
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + READY_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"max serve exited with {proc.returncode}; see {log}; its last error "
                        f"line: {last_error_line(Path(log))}"
                    )
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                        if r.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"max serve not ready in {READY_TIMEOUT_S}s; see {log}")
                time.sleep(1)
            yield base, proc.pid
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def served_completion(
    model_path: Path | str,
    family: str,
    prompt: str,
    max_tokens: int,
    *args: str,
    log: Path,
    env: dict[str, str] | None = None,
) -> tuple[str, str]:
    """(the served model's id, its greedy completion of `prompt`) from a `max serve` started
    for this one request."""
    import openai

    with running_server(model_path, family, *args, log=log, env=env) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", timeout=300)
        model = client.models.list().data[0].id
        answer = client.completions.create(
            model=model, prompt=prompt, max_tokens=max_tokens, temperature=0
        )
        return model, answer.choices[0].text


def max_generate(
    family: str,
    path: Path | str,
    prompt: str,
    new_tokens: int,
    *extra: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """`max generate` greedy on the CPU, as a user runs it from the repository root."""
    cmd = [
        *max_cli(), "generate", "--custom-architectures", family, "--model-path", str(path),
        "--devices", "cpu", "--prompt", prompt, "--max-new-tokens", str(new_tokens),
        "--top-k", "1", *extra,
    ]
    return subprocess.run(cmd, cwd=ROOT, env=env or cli_env(), capture_output=True, text=True,
                          timeout=900)


def completion_text(stdout: str) -> str:
    """The completion: `max generate`'s stdout up to the report that starts 'Prompt size:'."""
    return stdout.split("Prompt size:")[0].rstrip("\n")


def plain_and_streamed(client, model: str, prompt: str | list[int], max_tokens: int):
    """A greedy `/v1/completions` answer twice, (plain text, streamed chunks joined)."""
    request = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}
    plain = client.completions.create(**request).choices[0].text
    streamed = "".join(
        chunk.choices[0].text
        for chunk in client.completions.create(**request, stream=True)
        if chunk.choices
    )
    return plain, streamed


def hf_greedy_ids(path: Path | str, prompt: str | list[int], max_tokens: int) -> list[int]:
    """Hugging Face's greedy continuation of `prompt` (text, or token ids) in float32 (the
    dtype served on the CPU, whatever the checkpoint stores), as token ids."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    hf = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    ids = tok(prompt, return_tensors="pt").input_ids if isinstance(prompt, str) else (
        torch.tensor([prompt])
    )
    with torch.no_grad():
        out = hf.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens,
            do_sample=False, pad_token_id=tok.eos_token_id,
        )
    return out[0, ids.shape[1] :].tolist()


def hf_greedy_text(path: Path | str, prompt: str | list[int], max_tokens: int) -> str:
    """Hugging Face's greedy continuation of `prompt`, decoded as MAX decodes it."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    return tok.decode(hf_greedy_ids(path, prompt, max_tokens), skip_special_tokens=True)


def last_error_line(log: Path) -> str:
    """The log's last line that names an error (what a record keeps when the log stays
    behind on another machine), else its last line."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error:" in line]
    return (errors or lines or ["(empty log)"])[-1][:300]
