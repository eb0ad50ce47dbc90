"""A load translates its Hugging Face config once: MAX's hooks (`calculate_max_seq_len`, two
`initialize` calls, `construct_kv_params` through `get_kv_params`), the weight adapter and the
graph all read that one translation.

The loads stop at weight mapping (a checkpoint with one layer norm of the wrong shape), before
any graph compiles, so each case takes seconds.
"""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import common.config
from tests.reliability.test_every_family_bad_checkpoints import load_error
from tooling.checkpoints import build_random_checkpoint

# One architecture a family, and Starcoder2, whose sequence bound reads the config once more.
CASES = [
    ("families.gpt2", "GPT2LMHeadModel"),
    ("families.llama_style", "GPTNeoXForCausalLM"),
    ("families.llama_style", "Starcoder2ForCausalLM"),
    ("families.bert_style", "RobertaModel"),
]


def widen_a_layer_norm(path) -> None:
    file = path / "model.safetensors"
    tensors = load_file(file)
    name = next(
        k for k in sorted(tensors)
        if tensors[k].ndim == 1 and "norm" in k.lower().replace("ln_", "norm")
    )
    tensors[name] = np.concatenate([tensors[name], tensors[name]])
    save_file(tensors, file, metadata={"format": "pt"})


@pytest.mark.parametrize(("family", "architecture"), CASES, ids=[c[1] for c in CASES])
def test_a_load_translates_the_hugging_face_config_once(
    family, architecture, tmp_path, monkeypatch
):
    path = build_random_checkpoint(architecture, tmp_path / architecture)
    widen_a_layer_norm(path)
    task = next(
        a.task for a in importlib.import_module(family).ARCHITECTURES if a.name == architecture
    )

    # Every translation reads the config through one view.
    views: list[object] = []

    class CountedView(common.config._ConfigView):
        def __init__(self, hf_config):
            views.append(hf_config)
            super().__init__(hf_config)

    monkeypatch.setattr(common.config, "_ConfigView", CountedView)
    # The load gets past every config hook and the adapter, to the weights.
    assert "weights do not match the graph" in load_error(family, task, path)
    assert len(views) == 1, f"translated {len(views)} times in one load"


def test_a_saved_translation_is_not_trusted(tmp_path):
    import transformers

    from common.arch_config import translate_hf_config
    from families.gpt2.model_config import GPT2Config

    hf = transformers.GPT2Config(n_embd=64, n_head=4, n_layer=2)
    assert translate_hf_config(GPT2Config, hf, "config.json")["hidden_size"] == 64
    # What is kept on the Hugging Face config leaves it printable and serializable.
    assert json.loads(hf.to_json_string())["n_embd"] == 64
    hf.save_pretrained(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    data["n_embd"] = 128
    (tmp_path / "config.json").write_text(json.dumps(data))
    edited = transformers.GPT2Config.from_pretrained(tmp_path)
    assert translate_hf_config(GPT2Config, edited, "config.json")["hidden_size"] == 128


def built(cls, hf, device=None, dtype=None):
    """`cls` as `initialize` builds it from a Hugging Face config (CPU, float32 by default)."""
    from max.dtype import DType
    from max.graph import DeviceRef
    from max.pipelines.lib import KVCacheConfig

    from common.arch_config import translate_hf_config

    device = device or DeviceRef.CPU()
    dtype = dtype or DType.float32
    fields = translate_hf_config(cls, hf, "config.json")
    kv_params = KVCacheConfig().to_params(
        dtype=dtype, n_kv_heads=fields["num_kv_heads"], head_dim=fields["head_dim"],
        num_layers=fields["num_layers"], devices=[device], data_parallel_degree=1,
    )
    return cls(**fields, dtype=dtype, devices=[device], kv_params=kv_params,
               max_seq_len=fields["max_positions"])


def test_the_tied_head_is_named_by_the_config():
    import transformers

    from families.gpt2.model_config import GPT2Config
    from families.llama_style.gpt_neox import GPTNeoXConfig

    small = {"hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 1}
    tied = built(GPTNeoXConfig, transformers.GPTNeoXConfig(**small, tie_word_embeddings=True))
    assert tied.tied_head == "embed_out.weight"
    untied = built(GPTNeoXConfig, transformers.GPTNeoXConfig(**small))
    assert untied.tied_head is None
    gpt2 = built(GPT2Config, transformers.GPT2Config(n_embd=64, n_head=4, n_layer=1))
    assert gpt2.tied_head == "lm_head.weight"


def test_the_tokenizer_bound_reads_the_loads_translation():
    from types import SimpleNamespace

    import transformers

    from common.arch_config import translate_hf_config
    from common.tokenizer import embedding_rows
    from families.gpt2.model_config import GPT2Config

    hf = transformers.GPT2Config(n_embd=64, n_head=4, n_layer=1, vocab_size=320)
    pipeline = SimpleNamespace(model=SimpleNamespace(huggingface_config=hf))
    translate_hf_config(GPT2Config, hf, "config.json")
    hf.vocab_size = 999  # changed after the load translated it: the translation stands
    assert embedding_rows(pipeline, fallback=10) == 320


def test_a_head_wider_than_the_gpu_float32_kernel_runs_is_refused_by_name():
    """MAX 26.7's GPU attention did not run Gemma's published 256-wide heads in float32 on an
    H200 (a8a15f4: no compile with 128-token KV pages, no launch with 256-token pages), so such
    a config is refused naming head_dim before anything compiles; the CPU serves it."""
    import transformers
    from max.dtype import DType
    from max.graph import DeviceRef

    from common.config import ConfigError
    from families.llama_style.gemma import GemmaConfig

    def gemma(head_dim: int, device: DeviceRef, dtype: DType = DType.float32) -> GemmaConfig:
        hf = transformers.GemmaConfig(
            hidden_size=512, num_attention_heads=2, num_key_value_heads=1, head_dim=head_dim,
            num_hidden_layers=1, intermediate_size=64, vocab_size=64,
        )
        return built(GemmaConfig, hf, device, dtype)

    with pytest.raises(ConfigError, match="head_dim 256 on the GPU in float32"):
        gemma(256, DeviceRef.GPU())
    assert gemma(256, DeviceRef.CPU()).head_dim == 256
    assert gemma(128, DeviceRef.GPU()).head_dim == 128
    assert gemma(256, DeviceRef.GPU(), DType.bfloat16).head_dim == 256
