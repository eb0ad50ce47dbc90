"""GPT-2 GGUF files made by llama.cpp's tools (tests/gpt2/gguf, see its MANIFEST.json), on
MAX against Hugging Face reading the same file.

F16 runs on the float32 graph and must match Hugging Face's float32 to float32 noise. Q4_K_M
(Q4_K and Q6_K tensors) and Q6_K (every matrix Q6_K) run MAX's quantized matmuls, which round
activations to 8 bits (gguf_oracle.py): against Hugging Face with the same rounding the
logits must agree to `ROUNDED_ACTIVATIONS`; against plain Hugging Face, the greedy token may
differ only where Hugging Face's top-two margin is within twice the largest logit change that
the rounding itself makes (Hugging Face rounded against plain, on the same sequences).
Each check is shown failing on the same file with two blocks' tensors swapped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from max.pipelines.modeling.config_enums import supported_encoding_quantization

from common.gguf import (
    GGMLType,
    GGUFError,
    check_gathered,
    check_tensor_types,
    read_gguf,
    tensor_types,
)
from tests.conftest import selected_kv_strategies
from tooling.metrics import FLOAT32, Thresholds
from tooling.parity import (
    compare_with_hf,
    hf_teacher_forced_logits,
    load_max_model,
    logit_noise_bound,
    max_greedy,
    ragged_prompts,
)

from .conftest import FAMILY
from .gguf_oracle import hf_gguf_model, round_activations_like_llama_cpp, swap_tensors

# "float": the F16 file of conftest's "defaults" checkpoint, so its graph is test_parity's.
# "quantized": 256 wide (K-quant rows are 256-value blocks), 128 positions.
FLOAT_DIR = Path(__file__).parent / "gguf" / "float"
QUANTIZED_DIR = Path(__file__).parent / "gguf" / "quantized"
# llama-quantize's files of the "quantized" checkpoint, and the encoding MAX runs each with.
QUANTIZED_FILES = {"gpt2-q4_k_m.gguf": "q4_k", "gpt2-q6_k.gguf": "q6_k"}
NEW_TOKENS = 16
# Prompt plus new tokens must fit the quantized fixture's 128 positions.
SHARED_PREFIX = 50
torch.set_num_threads(1)

# MAX against the rounding emulation: equal up to float32 summation order, except that a value
# within float32 noise of a rounding boundary can round to the neighbouring 8-bit step, and
# every later logit of that prompt moves. Such flips are expected a few times per run (some
# 2.5e5 roundings, each inside a ~1e-5 window), so machines differ in where they fall.
# Measured here: 3e-7 rel without a flip; rel 2.7e-2, cosine 0.9994, KL 6.5e-3 on Q4_K_M
# with 9 of 16 steps after one; on Q6_K rel 4e-7 on 2 prompts, 1.6e-2 (cosine 0.9997, KL
# 2.6e-3) on the worst flipped one (Q4_0 in exploration 5.8e-3). The limits allow a flip at
# the first step (~4e-2) with room to spare; two blocks' ffn_up swapped gives rel 1.0-1.5.
ROUNDED_ACTIVATIONS = Thresholds(max_rel=1e-1, min_cosine=0.995, max_kl=5e-2)
# For the plain-oracle check only the greedy rule applies; logits differ by the rounding
# itself (rel 5-9% on these random weights), which the emulated check accounts for.
UNCHECKED = Thresholds(max_rel=np.inf, min_cosine=-1.0, max_kl=np.inf)


def gguf_prompts() -> list[list[int]]:
    return ragged_prompts(512, shared_length=SHARED_PREFIX)


@pytest.fixture(scope="module")
def kv() -> str:
    return selected_kv_strategies("jenga-noprefix")[0]


def max_gguf(max_models, directory: Path, path: Path, encoding: str, kv: str):
    return max_models(directory, FAMILY, kv=kv, encoding=encoding, weight_path=[str(path)])


@pytest.fixture(scope="module")
def swapped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("gguf-swapped")
    return {
        "f16": swap_tensors(
            FLOAT_DIR / "gpt2-f16.gguf", out / "gpt2-f16.gguf",
            "blk.0.ffn_down.weight", "blk.1.ffn_down.weight",
        ),
        # Q4_K_M keeps blk.1's ffn_down in Q6_K; the ffn_up pair are both Q4_K (both Q6_K
        # in the Q6_K file).
        **{
            file: swap_tensors(
                QUANTIZED_DIR / file, out / file, "blk.0.ffn_up.weight", "blk.1.ffn_up.weight"
            )
            for file in QUANTIZED_FILES
        },
    }


@pytest.mark.slow
def test_f16_file_matches_hugging_face(max_models, encoding, kv, swapped):
    if encoding != "float32":
        pytest.skip("GGUF float files run on the float32 graph")
    hf = hf_gguf_model(FLOAT_DIR, "gpt2-f16.gguf")
    for path, should_pass in ((FLOAT_DIR / "gpt2-f16.gguf", True), (swapped["f16"], False)):
        model = max_gguf(max_models, FLOAT_DIR, path, "float32", kv)
        # 320 positions: test_parity's prompts, whose shared prefix spans more than a KV page.
        run = max_greedy(model, ragged_prompts(512), NEW_TOKENS)
        report = compare_with_hf(hf, run, FLOAT32)
        assert report.ok == should_pass, f"{path}:\n" + "\n".join(report.lines())


@pytest.mark.slow
@pytest.mark.parametrize("file", QUANTIZED_FILES)
def test_quantized_file_matches_hugging_face(max_models, encoding, kv, swapped, file):
    file_encoding = QUANTIZED_FILES[file]
    if supported_encoding_quantization(encoding) is not None and encoding != file_encoding:
        pytest.skip(f"the {encoding} session checks the {encoding} file, not {file}")
    path = QUANTIZED_DIR / file
    plain = hf_gguf_model(QUANTIZED_DIR, file)
    rounded = hf_gguf_model(QUANTIZED_DIR, file)
    assert round_activations_like_llama_cpp(rounded, path)
    for weights, should_pass in ((path, True), (swapped[file], False)):
        model = max_gguf(max_models, QUANTIZED_DIR, weights, file_encoding, kv)
        run = max_greedy(model, gguf_prompts(), NEW_TOKENS)
        plain_refs = hf_teacher_forced_logits(plain, run)
        rounded_refs = hf_teacher_forced_logits(rounded, run)
        emulated = compare_with_hf(rounded, run, ROUNDED_ACTIVATIONS, refs=rounded_refs)
        # How far the rounding alone moves Hugging Face's logits on these very sequences.
        rounding = logit_noise_bound(plain_refs, rounded_refs, percentile=100.0)
        greedy = compare_with_hf(plain, run, UNCHECKED, noise_bound=rounding, refs=plain_refs)
        lines = ["against rounded activations:", *emulated.lines(), "against plain:"]
        lines += greedy.lines()
        assert emulated.ok == should_pass, f"{weights}:\n" + "\n".join(lines)
        assert greedy.ok == should_pass, f"{weights}:\n" + "\n".join(lines)


def test_tensor_type_without_kernel_is_refused_by_name(tmp_path):
    """Q8_0 has no MAX CPU kernel (and MAX's own reader fails on it with a bare KeyError)."""
    types = {"blk.0.attn_qkv.weight": GGMLType.Q8_0, "blk.0.ffn_up.weight": GGMLType.Q4_K}
    with pytest.raises(GGUFError, match=r"blk\.0\.attn_qkv\.weight is Q8_0"):
        check_tensor_types(tmp_path / "gpt2.gguf", types, "q4_k")


def test_q4_0_embedding_is_refused_by_name(tmp_path):
    """MAX's Q4_0 dequantize (an embedding gather) is wrong past row 768; --pure files have it."""
    types = {"token_embd.weight": GGMLType.Q4_0, "blk.0.ffn_up.weight": GGMLType.Q4_0}
    with pytest.raises(GGUFError, match=r"token_embd\.weight is Q4_0 \(MAX 26\.7's Q4_0"):
        check_gathered(tmp_path / "gpt2.gguf", types, ("token_embd.weight",))


def test_encoding_the_file_does_not_hold_is_refused():
    file = QUANTIZED_DIR / "gpt2-q4_k_m.gguf"
    types = tensor_types(read_gguf(file))
    with pytest.raises(GGUFError, match=r"runs float weights.*pass --quantization-encoding q4_k"):
        check_tensor_types(file, types, "float32")
    with pytest.raises(GGUFError, match=r"q4_0 asks for Q4_0 matmuls, but the file stores no"):
        check_tensor_types(file, types, "q4_0")


def test_metadata_disagreeing_with_config_is_refused(tmp_path):
    """config.json says 3 layers, the file's metadata 2: refused before a graph is built."""
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "gpt2-f16.gguf"):
        (tmp_path / name).symlink_to(FLOAT_DIR / name)
    config = json.loads((FLOAT_DIR / "config.json").read_text())
    (tmp_path / "config.json").unlink()
    (tmp_path / "config.json").write_text(json.dumps({**config, "n_layer": 3}))
    with pytest.raises(GGUFError, match=r"gpt2\.block_count is 2, config says 3"):
        load_max_model(
            str(tmp_path),
            custom_architectures=[FAMILY],
            weight_path=[str(tmp_path / "gpt2-f16.gguf")],
        )


def test_block_encoding_on_safetensors_is_refused(gpt2_checkpoints):
    """Without --weight-path MAX finds no q4_k weights itself; with one, we refuse."""
    path = gpt2_checkpoints["defaults"]
    with pytest.raises(GGUFError, match=r"encoding q4_k runs GGUF block weights"):
        load_max_model(
            str(path),
            custom_architectures=[FAMILY],
            encoding="q4_k",
            weight_path=[str(path / "model.safetensors")],
        )
