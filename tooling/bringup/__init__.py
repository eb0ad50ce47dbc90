"""The bring-up toolkit: `python -m tooling.bringup COMMAND` (or `max-bringup COMMAND`).

  new-family NAME --like gpt2|llama_style|bert_style   scaffold families/NAME and its test
  inspect CHECKPOINT [--family F]                      tensors, and how F's table maps each
  verify CHECKPOINT --family F                         MAX against Hugging Face, per prompt
  diff-layers CHECKPOINT --family F                    the first block whose output diverges

docs/BRINGUP.md is the playbook. Each command's module imports MAX and torch only when run,
so `--help` is instant.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from tooling.parity import KV_STRATEGIES

LIKES = ("gpt2", "llama_style", "bert_style")
DEVICES = ("cpu", "gpu")
ENCODINGS = ("float32", "bfloat16")
TABLE_HELP = (
    "another MappingTable for the adapter: an attribute of the family's weight_adapters "
    "module, or module:attribute (default: the one the adapter uses)"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tooling.bringup",
        description="Bring a Hugging Face architecture up on MAX 26.7 (docs/BRINGUP.md).",
    )
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's default must not undo a -v given before it.
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log at INFO level"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    new = commands.add_parser(
        "new-family",
        parents=[common],
        help="scaffold families/NAME with MAX 26.7's architecture files and a parity test",
    )
    new.add_argument("name", help="package name, a Python identifier (e.g. opt)")
    new.add_argument("--like", choices=LIKES, required=True, help="the family to model it on")
    new.add_argument(
        "--architecture",
        help="the Hugging Face class in config.json's `architectures` "
        "(default: NameForCausalLM, or NameModel for bert_style)",
    )
    new.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parents[2],
        help="project root to write families/NAME and tests/NAME into (default: this repo)",
    )
    new.add_argument("--force", action="store_true", help="overwrite existing files")

    inspect = commands.add_parser(
        "inspect",
        parents=[common],
        help="tensors from the safetensors headers; with --family, their mapping",
    )
    inspect.add_argument("checkpoint", type=Path, help="checkpoint directory or .safetensors file")
    inspect.add_argument("--family", help="family module, e.g. gpt2 or families.gpt2")
    inspect.add_argument("--table", help=TABLE_HELP)

    # What verify and diff-layers both take: a checkpoint, its family, where and how to run.
    run = argparse.ArgumentParser(add_help=False, parents=[common])
    run.add_argument("checkpoint", type=Path)
    run.add_argument("--family", required=True)
    run.add_argument("--device", choices=DEVICES, default="cpu")
    run.add_argument("--encoding", choices=ENCODINGS, default="float32")
    run.add_argument("--table", help=TABLE_HELP)

    verify = commands.add_parser(
        "verify",
        parents=[run],
        help="greedy MAX against Hugging Face on the same prompts (exit 1 on failure)",
    )
    verify.add_argument("--prompts", type=Path, help="text file, one prompt per line")
    verify.add_argument("--new-tokens", type=int, default=16)
    verify.add_argument(
        "--kv", choices=KV_STRATEGIES, default="jenga-noprefix", help="MAX's KV-cache manager"
    )

    diff = commands.add_parser(
        "diff-layers",
        parents=[run],
        help="hidden state after each block, MAX against Hugging Face: where it first diverges",
    )
    diff.add_argument("--prompt", default=None, help="text to run (default: a short sentence)")
    diff.add_argument("--new-tokens", type=int, default=4)
    diff.add_argument("--keep", type=Path, help="keep the per-depth checkpoints in this directory")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command == "new-family":
        from .scaffold import new_family_command

        return new_family_command(args)
    if args.command == "inspect":
        from .inspection import inspect_command

        return inspect_command(args)
    if args.command == "verify":
        from .verify import verify_command

        return verify_command(args)
    from .layers import diff_layers_command

    return diff_layers_command(args)


if __name__ == "__main__":
    sys.exit(main())
