"""Where one decode step's time goes: the device's share of a step, and its kernels.

`tools/bench.py` times whole steps, host included. This tool runs the bench's systems and
workload (128-token prompts, greedy, one ragged batch), keeps the last decode step's graph
inputs, and then runs that one step again and again with nothing else on the host:

- `replay_us`: the captured graph replayed back to back (inputs refreshed, then
  `ServeGraphCaptureRunner.replay`, as a served step does), then one device synchronize: the
  device's time per step, the host's replay call hidden behind it.
- `execute_us`: the same step's graph executed without capture, back to back: each launch of
  every kernel from the host, or the device's time where that is longer.
- `step_us`: the bench's own time per output token in the same process (host work included),
  so `step_us - replay_us` is what the host adds to a step.
- `kernels` (`--kernels`, GPU only): torch.profiler's CUDA activity (CUPTI, which records the
  kernels of every library in the process) over REPLAYS replays of the step: each kernel's
  calls and microseconds per step, and their sum (`kernel_us`).

    python tools/step_profile.py --device gpu --batches 1 8 32 128 \
        --systems max-gpt2 max-llama --kernels --out docs/results/step-profile-gpu.json

Without `--capture` (and on the CPU, where MAX does not capture) only `execute_us` is measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools.bench import (  # noqa: E402
    FAMILIES,
    PROMPT_LEN,
    build_checkpoints,
    checkpoint_of,
    gpu_name,
    graph_variant,
    prompts,
    seconds_per_run,
    time_max,
)

log = logging.getLogger("step_profile")
VOCAB = 50257
REPLAYS = 50
TOP_KERNELS = 40


class LastCall:
    """Wraps a bound method; keeps the arguments of its latest call."""

    def __init__(self, method: Any) -> None:
        self.method = method
        self.call: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.call = (args, kwargs)
        self.calls += 1
        return self.method(*args, **kwargs)

    def again(self) -> Any:
        assert self.call is not None, "no call recorded"
        args, kwargs = self.call
        return self.method(*args, **kwargs)

    def model_inputs(self) -> Any:
        assert self.call is not None, "no call recorded"
        args, kwargs = self.call
        return args[0] if args else kwargs["model_inputs"]


def per_run_us(run: Any, device: Any, runs: int) -> float:
    """Microseconds per `run()` over `runs` back-to-back calls, after one warm-up call."""
    return 1e6 * seconds_per_run(run, device, runs, warmups=1)


def kernel_table(run: Any, device: Any, runs: int) -> dict[str, Any]:
    """Each CUDA kernel, memcpy and memset the device ran over `runs` calls of `run()`, in
    calls and microseconds per call of `run()`, most time first (from the profiler's trace)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.init()
    run()
    device.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(runs):
            run()
        device.synchronize()
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.json"
        prof.export_chrome_trace(str(trace))
        events = json.loads(trace.read_text()).get("traceEvents", [])
    time_us: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for event in events:
        if event.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset") and "dur" in event:
            time_us[event["name"]] += event["dur"]
            calls[event["name"]] += 1
    rows = [
        {
            "kernel": name[:200],
            "calls_per_step": round(calls[name] / runs, 2),
            "us_per_step": round(us / runs, 2),
        }
        for name, us in time_us.most_common()
    ]
    return {"kernel_us": round(sum(time_us.values()) / runs, 1), "top": rows[:TOP_KERNELS]}


def profile_batch(model: Any, batch: int, args: argparse.Namespace) -> dict[str, Any]:
    """One system at one batch size: the bench's step time, then its last decode step alone."""
    pipeline = model.pipeline
    pipeline_model = pipeline._pipeline_model
    device = pipeline_model.devices[0]
    runner = getattr(pipeline, "_graph_capture_runner", None)
    # With capture a decode step replays and prefill executes; without, every step executes.
    execute = LastCall(pipeline_model.execute)
    pipeline_model.execute = execute
    replay = LastCall(runner.replay) if runner is not None else None
    if replay is not None:
        runner.replay = replay
    try:
        result: dict[str, Any] = {"step_us": 1000 * time_max(model, batch, VOCAB)["tpot_ms"]}
        # One more run, whose last step (a decode step of every sequence) is the one kept.
        execute.calls = 0
        if replay is not None:
            replay.calls = 0
        ids = prompts(batch, VOCAB)
        model.generate(ids, max_new_tokens=args.new_tokens, ignore_eos=True, top_k=1)
    finally:
        del pipeline_model.execute
        if replay is not None:
            del runner.replay
    result["executed_steps"] = execute.calls
    replayed = replay is not None and replay.calls > 0
    if replay is not None:
        result["replayed_steps"] = replay.calls
    inputs = (replay if replayed else execute).model_inputs()
    graph = pipeline_model.model

    def run_graph() -> None:
        graph.execute(*inputs.buffers)

    result["execute_us"] = per_run_us(run_graph, device, REPLAYS)
    if replayed:
        result["replay_us"] = per_run_us(replay.again, device, REPLAYS)
    if args.kernels:
        try:
            result["kernels"] = kernel_table(
                replay.again if replayed else run_graph, device, REPLAYS
            )
        except Exception as error:  # the timings above stand without the kernel table
            log.exception("kernel table")
            result["kernels"] = {"error": repr(error)}
    return result


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", choices=["cpu", "gpu"], default="gpu")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 128])
    p.add_argument("--systems", nargs="+", default=["max-gpt2", "max-llama"])
    p.add_argument(
        "--capture",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="device graph capture (synchronous steps; GPU only)",
    )
    p.add_argument("--kernels", action="store_true", help="the kernels of a replayed step")
    p.add_argument("--new-tokens", type=int, default=16, help="the kept run's new tokens")
    p.add_argument("--kv", default="jenga-prefix")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "step-profile.json")
    args = p.parse_args()
    from tooling.parity import load_max_model

    capture = args.capture and args.device == "gpu"
    results: dict[str, dict[str, Any]] = {}
    report = {
        "device": args.device,
        "machine": platform.processor() or platform.machine(),
        "gpu": gpu_name() if args.device == "gpu" else None,
        "encoding": "float32",
        "capture": capture,
        "workload": {"prompt_tokens": PROMPT_LEN, "replays": REPLAYS},
        "results": results,
        "command": " ".join(sys.argv),
    }
    with tempfile.TemporaryDirectory() as tmp:
        arches = {checkpoint_of(system.split("-")[1]) for system in args.systems}
        ckpts = build_checkpoints(Path(tmp), arches)
        for system in args.systems:
            arch = system.split("-")[1]
            with graph_variant(arch):
                model = load_max_model(
                    str(ckpts[checkpoint_of(arch)]),
                    custom_architectures=FAMILIES[checkpoint_of(arch)],
                    devices=args.device,
                    encoding="float32",
                    max_batch_size=max(args.batches),
                    device_graph_capture=capture,
                    kv=args.kv,
                    max_batch_input_tokens=max(args.batches) * PROMPT_LEN,
                )
            results[system] = {}
            for batch in args.batches:
                results[system][str(batch)] = row = profile_batch(model, batch, args)
                log.info(
                    "%s batch %d: %s",
                    system,
                    batch,
                    {k: round(v, 1) for k, v in row.items() if isinstance(v, float)},
                )
            del model
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=2))
            log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
