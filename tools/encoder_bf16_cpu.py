"""Diagnostic: a bert_style encoder in bfloat16 on the CPU against Hugging Face, to find
bfloat16 precision faults without the GPU. MAX 26.7 refuses bfloat16 on the CPU by a device
check (patched out here; its CPU kernels run it) and the family does not list it, so run it
from a copy listing every float encoding:

    python tools/explore_copy.py /tmp/expl
    cd /tmp/expl && python tools/encoder_bf16_cpu.py [ARCHITECTURE]

Prints whether the embeddings are finite and MAX's largest error against HF float32 beside
HF bfloat16's own (the GPU suite allows 4x).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def main(architecture: str) -> None:
    import torch
    from max.driver import DeviceSpec

    sys.path.insert(0, str(Path.cwd()))
    from tooling.parity import allow_low_precision_on_cpu

    allow_low_precision_on_cpu()
    from tests.bert_style.conftest import (
        build_checkpoint,
        hf_embeddings,
        hf_token_ids,
        load_embeddings_pipeline,
        run_embeddings,
    )
    from tests.gpu.test_gpu_encoders import TEXTS

    path = build_checkpoint(architecture, Path(f"/tmp/encoder-bf16-{architecture}"))
    ids = hf_token_ids(path, TEXTS)
    ref = hf_embeddings(path, ids)
    low = hf_embeddings(path, ids, dtype=torch.bfloat16)
    tokenizer, pipeline = load_embeddings_pipeline(
        path, device=[DeviceSpec.cpu()], encoding="bfloat16"
    )
    got = np.stack(run_embeddings(tokenizer, pipeline, ids))
    print(f"{architecture} bfloat16 on the CPU: finite {bool(np.isfinite(got).all())}")
    print(f"max error {np.abs(got - ref).max():.4g}, HF bfloat16's {np.abs(low - ref).max():.4g}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "RobertaModel")
