"""Write the tiny GPT-2 GGUF files the tests read, with llama.cpp's own tools.

The files are made the way a user makes them: llama.cpp's `convert_hf_to_gguf.py` turns a
Hugging Face checkpoint into an F32/F16 GGUF, and llama.cpp's `llama-quantize` quantizes it.
Both come from the llama.cpp that the llama-cpp-python sdist vendors (pinned below); only the
`llama-quantize` target is compiled (minutes on 2 cores, instead of the whole Python wheel).
The results are checked in (tests/gpt2/gguf, a few MB) so test runs never compile llama.cpp;
`MANIFEST.json` records the tool version, the commands and each file's sha256.

The checkpoints are random (tests/gpt2/conftest.py's recipe; `FIXTURE_SETS` below): the
quantized one is 256 wide because llama.cpp's K-quants pack rows in blocks of 256 values
(Q4_0 in blocks of 32), so a narrower GPT-2 cannot hold Q4_K.
Its BPE tokenizer is not one llama.cpp knows by hash; it is byte-level BPE as GPT-2's, so the
converter is told its pre-tokenizer is "gpt-2" (the name llama.cpp gives GPT-2's own).

    python tools/make_gguf_fixtures.py              # fetch + build llama-quantize, write files
    python tools/make_gguf_fixtures.py --sets quantized --types Q4_0 Q6_K --out /tmp/gguf
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.gpt2.conftest import CONFIGS  # noqa: E402
from tooling.checkpoints import build_random_checkpoint  # noqa: E402

logger = logging.getLogger("make_gguf_fixtures")

LLAMA_CPP_PYTHON = "0.3.36"
CACHE = Path.home() / ".cache" / "max-hf-families" / f"llama-cpp-python-{LLAMA_CPP_PYTHON}"
OUT = ROOT / "tests" / "gpt2" / "gguf"
# n_ctx: llama.cpp's GPT-2 converter reads the context length from this legacy key.
# "float": tests/gpt2/conftest.py's "defaults" checkpoint, so the F16 file runs the very graph
# test_parity.py compiles (no second compile); 64 wide is too narrow for K-quants.
# "quantized": 256 wide, the narrowest GPT-2 whose rows hold Q4_K blocks.
FIXTURE_SETS: dict[str, tuple[dict[str, int], tuple[str, ...]]] = {
    "float": ({**CONFIGS["defaults"], "n_ctx": CONFIGS["defaults"]["n_positions"]}, ("F16",)),
    "quantized": (
        {"n_embd": 256, "n_head": 4, "n_layer": 2, "n_positions": 128, "n_ctx": 128},
        ("Q4_K_M", "Q6_K"),
    ),
}
SEED = 7
# The files the MAX pipeline and the Hugging Face oracle read besides the GGUF.
SIDE_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
CONVERT = """
import runpy, sys
from conversion.base import TextModel
TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
sys.argv = ["convert_hf_to_gguf.py", *sys.argv[1:]]
runpy.run_path("convert_hf_to_gguf.py", run_name="__main__")
"""


def run(cmd: list[str], **kwargs: object) -> None:
    logger.info("$ %s", " ".join(str(c) for c in cmd))
    subprocess.run(cmd, check=True, **kwargs)  # noqa: S603


def llama_cpp_sources(cache: Path) -> Path:
    """llama.cpp as llama-cpp-python's sdist vendors it (fetched once through pip)."""
    source = cache / f"llama_cpp_python-{LLAMA_CPP_PYTHON}" / "vendor" / "llama.cpp"
    if source.is_dir():
        return source
    cache.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
         f"llama-cpp-python=={LLAMA_CPP_PYTHON}", "-d", str(cache)])
    with tarfile.open(cache / f"llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz") as tar:
        tar.extractall(cache, filter="data")
    return source


def build_tool(source: Path, target: str) -> Path:
    """One llama.cpp program (`llama-quantize`, `llama-bench`), built in the sources' `build/`."""
    binary = source / "build" / "bin" / target
    if binary.is_file():
        return binary
    run(["cmake", "-S", str(source), "-B", str(source / "build"), "-DCMAKE_BUILD_TYPE=Release",
         "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
         "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF"])
    run(["cmake", "--build", str(source / "build"), "-j", "--target", target])
    return binary


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def convert_and_quantize(checkpoint: Path, out: Path, types: list[str], cache: Path) -> list[str]:
    """`checkpoint` as GGUF files `out/gpt2-<type>.gguf`, made by llama.cpp's own tools.

    Returns the commands, as the manifest records them.
    """
    source = llama_cpp_sources(cache)
    quantize = build_tool(source, "llama-quantize") if set(types) - {"F32", "F16"} else None
    out.mkdir(parents=True, exist_ok=True)
    commands = []
    with tempfile.TemporaryDirectory() as tmp:
        f32 = Path(tmp) / "gpt2-f32.gguf"
        env = {**os.environ, "PYTHONPATH": f"{source / 'gguf-py'}{os.pathsep}{source}"}
        convert = [sys.executable, "-c", CONVERT, str(checkpoint), "--outtype", "f32",
                   "--outfile", str(f32)]
        run(convert, cwd=source, env=env)
        commands.append("convert_hf_to_gguf.py <checkpoint> --outtype f32 (pre-tokenizer gpt-2)")
        for gguf_type in types:
            target = out / f"gpt2-{gguf_type.lower()}.gguf"
            if gguf_type == "F32":
                shutil.copy(f32, target)
                continue
            if gguf_type == "F16":
                f16 = [*convert[:-4], "--outtype", "f16", "--outfile", str(target)]
                run(f16, cwd=source, env=env)
                commands.append("convert_hf_to_gguf.py <checkpoint> --outtype f16")
                continue
            assert quantize is not None
            run([str(quantize), str(f32), str(target), gguf_type], stdout=subprocess.DEVNULL)
            commands.append(f"llama-quantize gpt2-f32.gguf {target.name} {gguf_type}")
    return commands


def make_fixtures(out: Path, config: dict[str, int], types: list[str], cache: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = build_random_checkpoint(
            "GPT2LMHeadModel", Path(tmp) / "hf", config_overrides=config, seed=SEED
        )
        for name in SIDE_FILES:
            shutil.copy(checkpoint / name, out / name)
        commands = convert_and_quantize(checkpoint, out, types, cache)
    manifest = {
        "tools": f"llama.cpp vendored in llama-cpp-python {LLAMA_CPP_PYTHON} (PyPI sdist)",
        "checkpoint": {"recipe": "tooling.checkpoints.build_random_checkpoint",
                       "architecture": "GPT2LMHeadModel", "config": config, "seed": SEED},
        "commands": commands,
        "sha256": {p.name: sha256(p) for p in sorted(out.glob("*.gguf"))},
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="one folder per set is made here")
    parser.add_argument("--sets", nargs="+", default=list(FIXTURE_SETS), choices=FIXTURE_SETS)
    parser.add_argument("--types", nargs="+",
                        help="instead of each set's own: F32, F16, or llama-quantize type names "
                        "(Q4_K_M, Q4_0, Q6_K, ...)")
    parser.add_argument("--cache", type=Path, default=CACHE,
                        help="where the sdist is unpacked and llama.cpp's tools built")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in args.sets:
        config, types = FIXTURE_SETS[name]
        make_fixtures(args.out / name, config, list(args.types or types), args.cache)


if __name__ == "__main__":
    main()
