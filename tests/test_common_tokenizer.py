"""common.tokenizer's prompt checks and common.safe_load's tokenizer-file check, without a server
(tests/reliability shows them through max serve)."""

from __future__ import annotations

import numpy as np
import pytest
from max.pipelines.context.exceptions import InputError

from common.safe_load import CheckpointError, check_tokenizer_files
from common.tokenizer import check_max_new_tokens, check_prompt_ids, embedding_rows


def test_ids_inside_the_vocabulary_pass():
    check_prompt_ids(np.array([0, 5, 99]), vocab_size=100)
    check_prompt_ids([0], vocab_size=1)


@pytest.mark.parametrize(
    ("ids", "named"), [([5, -3], "-3"), ([5, 100], "100"), ([10**9], "1000000000")]
)
def test_ids_outside_the_vocabulary_are_input_errors_naming_them(ids, named):
    with pytest.raises(InputError, match=rf"token id {named} is outside .*\[0, 100\)"):
        check_prompt_ids(ids, vocab_size=100)


def test_an_empty_prompt_is_an_input_error():
    with pytest.raises(InputError, match="empty"):
        check_prompt_ids(np.array([], dtype=np.int64), vocab_size=100)


def test_max_tokens_zero_is_an_input_error_naming_max_tokens():
    with pytest.raises(InputError, match="max_tokens must be at least 1, got 0"):
        check_max_new_tokens(0)
    check_max_new_tokens(1)
    check_max_new_tokens(None)  # unset: the model's limit


def test_embedding_rows_prefer_the_config_and_fall_back():
    class Model:
        huggingface_config = type("Hf", (), {"vocab_size": 50304})()

    class Pipeline:
        model = Model()

    assert embedding_rows(Pipeline(), fallback=50277) == 50304
    assert embedding_rows(None, fallback=50277) == 50277


def test_a_directory_without_tokenizer_files_is_refused_by_name(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text("{}")
    with pytest.raises(CheckpointError) as info:
        check_tokenizer_files(tmp_path)
    assert str(tmp_path) in str(info.value) and "tokenizer.json" in str(info.value)
    (tmp_path / "tokenizer.json").write_text("{}")
    check_tokenizer_files(tmp_path)
    check_tokenizer_files("openai-community/gpt2")  # a hub id is Hugging Face's to resolve
