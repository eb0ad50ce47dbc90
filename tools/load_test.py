"""Load and fault driver for `max serve`: many greedy streams at once, some cut mid-stream.

Starts a server with `tests/serving.py` (127.0.0.1 only), runs every request alone first (the
greedy reference), then all of them concurrently while `--disconnects` of them close their HTTP
connection after a few chunks. Prints and writes the figures as JSON: requests, failures,
mismatches against the solo runs, p50/p99 latency, server RSS before/peak/after and KV-cache
blocks in use (from MAX's per-batch log line) before and after.

    .venv/bin/python tools/load_test.py --model models/tiny-shakespeare-gpt2 \
        --family families.gpt2 --concurrency 64 --disconnects 10 --out load.json

The functions are what `tests/reliability/` calls against its own server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import re
import sys
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.serving import cli_env, running_server  # noqa: E402

log = logging.getLogger("load_test")

# The lead's serve tests use these exact args, so the compiled graph is shared through the cache.
SERVER_ARGS = ("--max-batch-size", "8", "--enable-echo")
# A batch-statistics line per batch (MAX's default is one every 3 s), so KV usage is observable.
SERVER_ENV = {"MAX_SERVE_SCHEDULER_STATS_LOG_INTERVAL_S": "0"}
BATCH_LINE = re.compile(r"Executed (?P<kind>CE|TG) batch with (?P<reqs>\d+) reqs")
KV_LINE = re.compile(r"KVCache usage: (?P<pct>\d+(?:\.\d+)?)% of (?P<total>\d+) blocks")

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 300.0  # one chunk; 64 streams share two busy cores
LOAD_TIMEOUT_S = 1800.0  # the whole concurrent run
DRAIN_TIMEOUT_S = 120.0
QUIET_S = 3.0
DISCONNECT_AFTER_CHUNKS = 3
PROBE = ("ROMEO:", 8)  # the request whose KV usage marks the idle level

SPEAKERS = (
    "ROMEO", "JULIET", "KING HENRY", "First Citizen", "MENENIUS", "CORIOLANUS", "GLOUCESTER",
    "QUEEN MARGARET", "LADY ANNE", "BUCKINGHAM", "DUKE VINCENTIO", "ISABELLA", "PETRUCHIO",
    "KATHARINA", "PROSPERO", "MIRANDA",
)
OPENINGS = (
    "", "\nWhat say you,", "\nI pray you, sir,", "\nNow by my faith, the",
)


@dataclass(frozen=True)
class RequestSpec:
    prompt: str
    max_tokens: int


@dataclass
class StreamResult:
    index: int
    text: str = ""
    chunks: int = 0
    finish_reason: str | None = None
    latency_s: float | None = None  # request sent -> [DONE]; None unless it completed
    ttft_s: float | None = None
    disconnected: bool = False
    error: str | None = None

    @property
    def completed(self) -> bool:
        return self.error is None and not self.disconnected and self.latency_s is not None


@dataclass
class Server:
    base: str
    log: Path
    pid: int


@dataclass
class LoadFigures:
    requests: int
    disconnects: int
    completed: int
    failures: int
    mismatches: list[int]
    latency_s: dict[str, float]
    ttft_s: dict[str, float]
    wall_s: float
    rss_mb: dict[str, float]
    kv_blocks: dict[str, float]
    # Tokens the model generated during the load, against sum(max_tokens) asked for and what the
    # cut streams gave up (max_tokens - chunks received): cancelling on disconnect saves that.
    generated_tokens: int = 0
    requested_tokens: int = 0
    abandoned_tokens: int = 0
    errors: list[str] = field(default_factory=list)


def request_specs(n: int) -> list[RequestSpec]:
    """n distinct prompts (speaker x opening), max_tokens cycling through 16..32."""
    pairs = [(s, o) for o in OPENINGS for s in SPEAKERS]
    if n > len(pairs):
        raise ValueError(f"at most {len(pairs)} distinct prompts, asked for {n}")
    return [RequestSpec(f"{s}:{o}", 16 + (7 * i) % 17) for i, (s, o) in enumerate(pairs[:n])]


def disconnect_indices(n: int, disconnects: int) -> set[int]:
    """Spread over the list, so the hang-ups land in different batches of the run."""
    if disconnects > n:
        raise ValueError(f"{disconnects} disconnects among {n} requests")
    return {round(i * n / disconnects) for i in range(disconnects)} if disconnects else set()


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


# --- the server process --------------------------------------------------------------------


def server_pid(port: int) -> int:
    """The `max serve` process listening on `port` (found by its command line)."""
    import psutil

    flag = ["--port", str(port)]
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "serve" in cmd and any(cmd[i : i + 2] == flag for i in range(len(cmd) - 1)):
            return proc.info["pid"]
    raise LookupError(f"no max serve process with --port {port}")


def _proc_tree_rss(pid: int) -> int:
    """RSS of a process and its descendants from /proc, for when psutil is absent."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in task.read_text().split())
    return total


def rss_bytes(pid: int) -> int:
    """Resident memory of the server: API process, model worker and metrics worker together."""
    try:
        import psutil
    except ImportError:
        return _proc_tree_rss(pid)
    total = 0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += proc.memory_info().rss
    return total


class RssSampler:
    """Samples the server's RSS on a thread; `peak` is the largest sample."""

    def __init__(self, pid: int, interval_s: float = 0.25) -> None:
        self.pid, self.interval_s = pid, interval_s
        self.peak = rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            with contextlib.suppress(Exception):
                self.peak = max(self.peak, rss_bytes(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@contextlib.contextmanager
def served(model: Path | str, family: str, log_path: Path, *extra: str) -> Iterator[Server]:
    """`running_server` with the lead's args and a KV-usage log line per batch."""
    env = cli_env(**SERVER_ENV)
    with running_server(model, family, *SERVER_ARGS, *extra, log=log_path, env=env) as base:
        yield Server(base, log_path, server_pid(int(base.rsplit(":", 1)[1])))


# --- requests ------------------------------------------------------------------------------


def client_timeout() -> httpx.Timeout:
    return httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)


def served_model(base: str) -> str:
    with httpx.Client(base_url=base, timeout=client_timeout()) as client:
        return client.get("/v1/models").json()["data"][0]["id"]


async def stream_completion(
    client: httpx.AsyncClient,
    model: str,
    spec: RequestSpec,
    index: int,
    *,
    disconnect_after: int | None = None,
) -> StreamResult:
    """One greedy streamed completion; with `disconnect_after`, hang up after that many chunks."""
    body = {
        "model": model, "prompt": spec.prompt, "max_tokens": spec.max_tokens,
        "temperature": 0.0, "stream": True,
    }
    result = StreamResult(index)
    parts: list[str] = []
    start = time.perf_counter()
    try:
        async with client.stream("POST", "/v1/completions", json=body) as response:
            if response.status_code != 200:
                await response.aread()
                result.error = f"HTTP {response.status_code}: {response.text[:200]}"
                return result
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line.removeprefix("data: ").strip()
                if data == "[DONE]":
                    result.latency_s = time.perf_counter() - start
                    break
                chunk = json.loads(data)
                if result.ttft_s is None:
                    result.ttft_s = time.perf_counter() - start
                for choice in chunk.get("choices") or []:
                    parts.append(choice.get("text") or "")
                    result.finish_reason = choice.get("finish_reason") or result.finish_reason
                result.chunks += 1
                if disconnect_after is not None and result.chunks >= disconnect_after:
                    result.disconnected = True
                    break
            else:
                result.error = "stream ended without [DONE]"
    except (httpx.HTTPError, json.JSONDecodeError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.text = "".join(parts)
    return result


async def _solo(base: str, model: str, specs: Sequence[RequestSpec]) -> list[StreamResult]:
    async with httpx.AsyncClient(base_url=base, timeout=client_timeout()) as client:
        return [await stream_completion(client, model, s, i) for i, s in enumerate(specs)]


def solo_results(base: str, specs: Sequence[RequestSpec]) -> list[StreamResult]:
    """Each request alone, one after another: the reference a concurrent run must reproduce."""
    return asyncio.run(_solo(base, served_model(base), specs))


async def _concurrent(
    base: str, model: str, specs: Sequence[RequestSpec], cut: Collection[int]
) -> list[StreamResult]:
    # One pooled client made up front (a client per request costs an SSL context each, which
    # on two busy cores staggers the starts by seconds). A stream left before its end closes
    # its own connection: httpcore does not return a half-read HTTP/1.1 connection to the pool.
    limits = httpx.Limits(max_connections=len(specs), max_keepalive_connections=len(specs))
    async with httpx.AsyncClient(base_url=base, timeout=client_timeout(), limits=limits) as client:
        tasks = [
            stream_completion(
                client, model, s, i, disconnect_after=DISCONNECT_AFTER_CHUNKS if i in cut else None
            )
            for i, s in enumerate(specs)
        ]
        return await asyncio.wait_for(asyncio.gather(*tasks), LOAD_TIMEOUT_S)


def concurrent_results(
    base: str, specs: Sequence[RequestSpec], disconnects: Collection[int] = ()
) -> list[StreamResult]:
    """All requests at once; those in `disconnects` hang up after a few chunks."""
    return asyncio.run(_concurrent(base, served_model(base), specs, set(disconnects)))


# --- KV cache and idleness -----------------------------------------------------------------


def kv_usage(log_text: str) -> list[tuple[int, int]]:
    """(blocks in use, total blocks) from each of MAX's batch lines in `log_text`."""
    out = []
    for m in KV_LINE.finditer(log_text):
        total = int(m["total"])
        out.append((round(float(m["pct"]) / 100 * total), total))
    return out


def generated_tokens(log_text: str) -> int:
    """Tokens the model produced: one per request in each prefill (CE) and decode (TG) batch."""
    return sum(int(m["reqs"]) for m in BATCH_LINE.finditer(log_text))


def read_log_from(path: Path, offset: int) -> str:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read().decode("utf-8", errors="replace")


def wait_for_idle(server: Server, timeout_s: float = DRAIN_TIMEOUT_S) -> float:
    """Seconds until the server log stops growing for QUIET_S: no batch runs, so none is left.

    `running_server` turns telemetry off, which also removes MAX's Prometheus endpoint; with a
    batch line per batch (SERVER_ENV) a quiet log is the observable sign of an idle scheduler.
    """
    start = time.monotonic()
    size, since = server.log.stat().st_size, time.monotonic()
    while time.monotonic() - start < timeout_s:
        time.sleep(0.5)
        now = server.log.stat().st_size
        if now != size:
            size, since = now, time.monotonic()
        elif time.monotonic() - since >= QUIET_S:
            return time.monotonic() - start
    raise TimeoutError(f"server log {server.log} still growing after {timeout_s}s")


def probe_kv_blocks(server: Server) -> int:
    """KV blocks in use while one small request runs alone: the idle level plus its own."""
    offset = server.log.stat().st_size
    prompt, max_tokens = PROBE
    with httpx.Client(base_url=server.base, timeout=client_timeout()) as client:
        model = client.get("/v1/models").json()["data"][0]["id"]
        r = client.post(
            "/v1/completions",
            json={"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0},
        )
        r.raise_for_status()
    deadline = time.monotonic() + 10
    while not (usage := kv_usage(read_log_from(server.log, offset))):
        if time.monotonic() > deadline:
            raise LookupError(f"no 'KVCache usage' line in {server.log} after the probe")
        time.sleep(0.2)
    return max(used for used, _ in usage)


# --- the scenario --------------------------------------------------------------------------


def run_scenario(
    server: Server,
    specs: Sequence[RequestSpec],
    cut: set[int],
    solo: Sequence[StreamResult] | None = None,
) -> tuple[LoadFigures, list[StreamResult]]:
    """Solo references (unless given), then the concurrent run with `cut` hanging up."""
    if solo is None:
        solo = solo_results(server.base, specs)
    bad_solo = [r.index for r in solo if not r.completed]
    if bad_solo:
        raise RuntimeError(f"solo requests failed: {[solo[i].error for i in bad_solo]}")
    idle_blocks = probe_kv_blocks(server)
    rss_before = rss_bytes(server.pid)
    offset = server.log.stat().st_size
    start = time.perf_counter()
    with RssSampler(server.pid) as sampler:
        results = concurrent_results(server.base, specs, cut)
    wall = time.perf_counter() - start
    idle_s = wait_for_idle(server)
    load_log = read_log_from(server.log, offset)
    load_kv = kv_usage(load_log)
    time.sleep(2)  # let the allocator hand freed request memory back before measuring
    rss_after = rss_bytes(server.pid)
    after_blocks = probe_kv_blocks(server)

    kept = [r for r in results if r.index not in cut]
    cut_results = [r for r in results if r.index in cut]
    completed = [r for r in kept if r.completed]
    mismatches = [r.index for r in completed if r.text != solo[r.index].text]
    failures = [r for r in kept if not r.completed]
    latencies = [r.latency_s for r in completed if r.latency_s is not None]
    ttfts = [r.ttft_s for r in completed if r.ttft_s is not None]
    mb = 1024 * 1024
    figures = LoadFigures(
        requests=len(specs),
        disconnects=sum(r.disconnected for r in cut_results),
        completed=len(completed),
        failures=len(failures),
        mismatches=mismatches,
        latency_s={"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
                   "max": max(latencies, default=float("nan"))},
        ttft_s={"p50": percentile(ttfts, 50), "p99": percentile(ttfts, 99)},
        wall_s=wall,
        rss_mb={"before": rss_before / mb, "peak": sampler.peak / mb, "after": rss_after / mb},
        kv_blocks={
            "total": load_kv[0][1] if load_kv else float("nan"),
            "idle_probe": idle_blocks,
            "peak_during_load": max((u for u, _ in load_kv), default=float("nan")),
            "after_probe": after_blocks,
            "idle_after_s": idle_s,
        },
        generated_tokens=generated_tokens(load_log),
        requested_tokens=sum(s.max_tokens for s in specs),
        abandoned_tokens=sum(specs[r.index].max_tokens - r.chunks for r in cut_results),
        errors=[f"request {r.index}: {r.error}" for r in failures],
    )
    return figures, results


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "loadavg_1_5_15": load,
    }


def _relative(path: str) -> str:
    with contextlib.suppress(ValueError):
        return str(Path(path).relative_to(ROOT))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--family", required=True, help="e.g. families.gpt2")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--disconnects", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the figures")
    parser.add_argument("--log", type=Path, help="server log (default: next to --out)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise

    specs = request_specs(args.concurrency)
    cut = disconnect_indices(args.concurrency, args.disconnects)
    server_log = args.log or args.out.with_suffix(".server.log")
    before = machine()
    log.info("starting max serve for %s (log: %s)", args.model, server_log)
    with served(args.model, args.family, server_log) as server:
        log.info("server %s ready (pid %d); %d solo runs", server.base, server.pid, len(specs))
        figures, _ = run_scenario(server, specs, cut)
    report = {
        "command": " ".join([_relative(sys.executable), *sys.argv]),
        "model": str(args.model),
        "family": args.family,
        "server_args": list(SERVER_ARGS),
        "server_env": SERVER_ENV,
        "machine_before": before,
        "loadavg_after": machine()["loadavg_1_5_15"],
        "figures": asdict(figures),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["figures"], indent=2))
    ok = not figures.failures and not figures.mismatches
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
