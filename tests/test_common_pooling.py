"""common.pooling: which pooling a checkpoint's sentence-transformers files ask for, what is
refused, and the numpy reference against sentence-transformers' own modules."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sentence_transformers.sentence_transformer import modules as st_modules

from common.config import ConfigError
from common.pooling import PoolingSpec, pool_numpy, read_pooling_spec, write_pooling_files


def write(path, name, data):
    path.joinpath(name).parent.mkdir(parents=True, exist_ok=True)
    path.joinpath(name).write_text(json.dumps(data))


def modules(*kinds):
    paths = {"Transformer": "", "Pooling": "1_Pooling", "Normalize": "2_Normalize"}
    return [
        {"idx": i, "name": str(i), "path": paths.get(kind, f"{i}_{kind}"),
         "type": f"sentence_transformers.models.{kind}"}
        for i, kind in enumerate(kinds)
    ]


def test_no_files_is_mean_without_normalize(tmp_path):
    spec = read_pooling_spec(tmp_path)
    assert spec.modes == ("mean",) and not spec.normalize and spec.max_seq_length is None


def test_legacy_keys_in_sentence_transformers_order(tmp_path):
    write(tmp_path, "modules.json", modules("Transformer", "Pooling", "Normalize"))
    write(tmp_path, "sentence_bert_config.json", {"max_seq_length": 256, "do_lower_case": False})
    write(tmp_path, "1_Pooling/config.json", {
        "word_embedding_dimension": 8,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_cls_token": True,
        "pooling_mode_max_tokens": False,
    })
    spec = read_pooling_spec(tmp_path)
    assert spec.modes == ("cls", "mean") and spec.normalize and spec.max_seq_length == 256


def test_legacy_keys_all_false_mean_sentence_transformers_default(tmp_path):
    write(tmp_path, "modules.json", modules("Transformer", "Pooling"))
    write(tmp_path, "1_Pooling/config.json", {"pooling_mode_mean_tokens": False})
    assert read_pooling_spec(tmp_path).modes == ("mean",)


def test_new_pooling_mode_key_keeps_its_order(tmp_path):
    write_pooling_files(tmp_path, ["max", "cls"], normalize=False, hidden_size=8)
    spec = read_pooling_spec(tmp_path)
    assert spec.modes == ("max", "cls") and not spec.normalize


@pytest.mark.parametrize(
    ("files", "complaint"),
    [
        ({"modules.json": modules("Transformer", "Pooling", "Dense")}, "Dense"),
        ({"1_Pooling/config.json": {"pooling_mode": "weightedmean"}}, "weightedmean"),
        ({"1_Pooling/config.json": {"pooling_mode": "lasttoken"}}, "lasttoken"),
        ({"1_Pooling/config.json": {"pooling_mode": "mean", "include_prompt": False}},
         "include_prompt"),
        ({"sentence_bert_config.json": {"do_lower_case": True}}, "do_lower_case"),
        ({"config_sentence_transformers.json": {"default_prompt_name": "query"}},
         "default_prompt_name"),
        ({"modules.json": modules("Transformer", "Normalize")}, "Pooling"),
    ],
)
def test_what_would_change_the_output_is_refused(tmp_path, files, complaint):
    write(tmp_path, "modules.json", modules("Transformer", "Pooling"))
    write(tmp_path, "1_Pooling/config.json", {"pooling_mode": "mean"})
    for name, data in files.items():
        write(tmp_path, name, data)
    with pytest.raises(ConfigError, match=complaint):
        read_pooling_spec(tmp_path)


def test_unknown_mode_in_a_spec_is_an_error():
    with pytest.raises(ValueError, match="pooling modes"):
        PoolingSpec(modes=("sum",))


def test_padding_is_never_pooled():
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(2, 5, 4))
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    spec = PoolingSpec(modes=("cls", "max", "mean", "mean_sqrt_len_tokens"))
    padded = pool_numpy(hidden, mask, spec)
    alone = pool_numpy(hidden[1:, :2], mask[1:, :2], spec)
    np.testing.assert_allclose(padded[1], alone[0])
    np.testing.assert_allclose(padded[1, 8:12], hidden[1, :2].mean(0))
    np.testing.assert_allclose(padded[1, 12:], hidden[1, :2].sum(0) / np.sqrt(2))


HIDDEN = np.random.default_rng(1).normal(size=(3, 6, 8))
MASK = np.array([[1] * 6, [1] * 3 + [0] * 3, [1] + [0] * 5])
ALL_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens")
# float64 on both sides: sums of <= 6 tokens and one 32-wide norm round by < 50 eps64 of the scale.
FLOAT64_ROUNDINGS = 100


def sentence_transformers_pooling(modes: tuple[str, ...], normalize: bool) -> np.ndarray:
    """sentence-transformers' own Pooling (+ Normalize) modules on HIDDEN, in float64."""
    features = {
        "token_embeddings": torch.from_numpy(HIDDEN),
        "attention_mask": torch.from_numpy(MASK),
    }
    features = st_modules.Pooling(HIDDEN.shape[-1], pooling_mode=list(modes))(features)
    if normalize:
        features = st_modules.Normalize()(features)
    return features["sentence_embedding"].numpy()


def assert_same_pooling(got: np.ndarray, ref: np.ndarray) -> None:
    atol = FLOAT64_ROUNDINGS * np.finfo(np.float64).eps * np.abs(HIDDEN).max()
    np.testing.assert_allclose(got, ref, rtol=0, atol=atol)


@pytest.mark.parametrize("normalize", [False, True])
def test_numpy_reference_equals_sentence_transformers(normalize):
    ref = sentence_transformers_pooling(ALL_MODES, normalize)
    got = pool_numpy(HIDDEN, MASK, PoolingSpec(modes=ALL_MODES, normalize=normalize))
    assert_same_pooling(got, ref)


@pytest.mark.parametrize(
    ("wrong_modes", "wrong_normalize"),
    [
        (("mean", "max", "cls", "mean_sqrt_len_tokens"), True),  # cls and mean swapped
        (ALL_MODES, False),  # normalization dropped
        (("cls", "max", "mean_sqrt_len_tokens", "mean"), True),  # mean and sqrt-len swapped
    ],
)
def test_cross_check_rejects_a_wrong_pooling(wrong_modes, wrong_normalize):
    ref = sentence_transformers_pooling(ALL_MODES, normalize=True)
    got = pool_numpy(HIDDEN, MASK, PoolingSpec(modes=wrong_modes, normalize=wrong_normalize))
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        assert_same_pooling(got, ref)
