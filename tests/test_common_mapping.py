"""Declarative weight-name mapping: patterns, prefixes, ignores, and the all-at-once report."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from common.mapping import (
    MappingTable,
    Row,
    WeightMappingError,
    apply_mapping,
    compile_pattern,
    describe_mapping,
    normalize_dtype,
)
from common.transforms import transpose_conv1d

HIDDEN = 8
CTX = {"num_heads": 2, "hidden_size": HIDDEN}


def conv1d_to_q_k_v(weight: np.ndarray, ctx: dict) -> tuple[np.ndarray, ...]:
    """A row with three targets: Conv1D [in, 3 x hidden] -> q, k, v [hidden, in]."""
    return tuple(np.split(transpose_conv1d(weight), 3, axis=0))

# A GPT-2-shaped table, the way a family writes one.
GPT2_TABLE = MappingTable(
    rows=(
        Row("wte.weight", "embed_tokens.weight"),
        Row("wpe.weight", "embed_positions.weight"),
        Row(
            "h.{layer}.attn.c_attn.weight",
            (
                "layers.{layer}.attn.q_proj.weight",
                "layers.{layer}.attn.k_proj.weight",
                "layers.{layer}.attn.v_proj.weight",
            ),
            conv1d_to_q_k_v,
        ),
        Row("h.{layer}.attn.c_proj.weight", "layers.{layer}.attn.o_proj.weight", transpose_conv1d),
        Row("ln_f.weight", "norm.weight"),
        Row("lm_head.weight", "lm_head.weight"),
    ),
    strip_prefixes=("transformer.",),
    ignore=("h.{layer}.attn.bias", "*.masked_bias"),
    optional_targets=("lm_head.weight",),
)


def gpt2_checkpoint(prefix: str = "transformer.", layers: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    ckpt = {
        f"{prefix}wte.weight": rng.standard_normal((16, HIDDEN), dtype=np.float32),
        f"{prefix}wpe.weight": rng.standard_normal((4, HIDDEN), dtype=np.float32),
        f"{prefix}ln_f.weight": np.ones(HIDDEN, dtype=np.float32),
    }
    for i in range(layers):
        ckpt[f"{prefix}h.{i}.attn.c_attn.weight"] = rng.standard_normal(
            (HIDDEN, 3 * HIDDEN), dtype=np.float32
        )
        ckpt[f"{prefix}h.{i}.attn.c_proj.weight"] = rng.standard_normal(
            (HIDDEN, HIDDEN), dtype=np.float32
        )
        ckpt[f"{prefix}h.{i}.attn.bias"] = np.tril(np.ones((4, 4), dtype=bool))
        ckpt[f"{prefix}h.{i}.attn.masked_bias"] = np.float32(-1e4)
    return ckpt


def gpt2_expected(layers: int = 2) -> dict[str, tuple[tuple[int, ...], str]]:
    expected = {
        "embed_tokens.weight": ((16, HIDDEN), "float32"),
        "embed_positions.weight": ((4, HIDDEN), "float32"),
        "norm.weight": ((HIDDEN,), "float32"),
        "lm_head.weight": ((16, HIDDEN), "float32"),
    }
    for i in range(layers):
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            expected[f"layers.{i}.attn.{proj}.weight"] = ((HIDDEN, HIDDEN), "float32")
    return expected


@pytest.mark.parametrize("prefix", ["transformer.", ""])
def test_gpt2_table_maps_with_and_without_prefix(prefix: str) -> None:
    ckpt = gpt2_checkpoint(prefix)
    out = apply_mapping(ckpt, GPT2_TABLE, ctx=CTX, expected=gpt2_expected())
    assert "lm_head.weight" not in out  # optional: tied in the checkpoint
    np.testing.assert_array_equal(
        out["layers.1.attn.k_proj.weight"],
        ckpt[f"{prefix}h.1.attn.c_attn.weight"][:, HIDDEN : 2 * HIDDEN].T,
    )
    np.testing.assert_array_equal(
        out["layers.0.attn.o_proj.weight"], ckpt[f"{prefix}h.0.attn.c_proj.weight"].T
    )


def test_untransformed_rows_pass_the_object_through() -> None:
    ckpt = gpt2_checkpoint()
    out = apply_mapping(ckpt, GPT2_TABLE, ctx=CTX)
    assert out["embed_tokens.weight"] is ckpt["transformer.wte.weight"]


def test_layer_number_is_carried_to_every_target() -> None:
    out = apply_mapping(gpt2_checkpoint(layers=12), GPT2_TABLE, ctx=CTX)
    assert {f"layers.{i}.attn.v_proj.weight" for i in range(12)} <= set(out)


def test_every_problem_is_reported_at_once() -> None:
    ckpt = gpt2_checkpoint()
    ckpt["transformer.h.0.mlp.c_fc.weight"] = np.zeros((HIDDEN, 4 * HIDDEN), np.float32)
    ckpt["transformer.wpe.weight"] = np.zeros((5, HIDDEN), np.float16)
    expected = gpt2_expected()
    expected["layers.0.mlp.up_proj.weight"] = ((4 * HIDDEN, HIDDEN), "float32")

    with pytest.raises(WeightMappingError) as info:
        apply_mapping(ckpt, GPT2_TABLE, ctx=CTX, expected=expected, source="/ckpt/gpt2")
    err = info.value
    assert err.unmapped == ["transformer.h.0.mlp.c_fc.weight"]
    assert err.missing == ["layers.0.mlp.up_proj.weight"]
    assert err.mismatched == [
        ("embed_positions.weight", f"(4, {HIDDEN}) float32", f"(5, {HIDDEN}) float16")
    ]
    text = str(err)
    for needle in ("/ckpt/gpt2", "mlp.c_fc.weight", "up_proj", "embed_positions.weight"):
        assert needle in text
    assert isinstance(err, ValueError)


def test_dtype_not_compared_when_expected_dtype_is_none() -> None:
    ckpt = {"ln_f.weight": np.ones(HIDDEN, np.float16)}
    table = MappingTable(rows=(Row("ln_f.weight", "norm.weight"),))
    out = apply_mapping(ckpt, table, expected={"norm.weight": ((HIDDEN,), None)})
    assert set(out) == {"norm.weight"}


def test_unexpected_conflicting_and_failed_are_reported() -> None:
    table = MappingTable(
        rows=(
            Row("a.weight", "x.weight"),
            Row("b.weight", "x.weight"),
            Row("c.weight", "extra.weight"),
            Row("d.weight", ("d1", "d2"), lambda a, ctx: a),  # returns one value for two targets
        )
    )
    ckpt = {name: np.zeros(2, np.float32) for name in ("a.weight", "b.weight", "c.weight")}
    ckpt["d.weight"] = np.zeros(2, np.float32)
    with pytest.raises(WeightMappingError) as info:
        apply_mapping(ckpt, table, expected={"x.weight": ((2,), "float32")})
    err = info.value
    assert err.conflicts == [("x.weight", ["a.weight", "b.weight"])]
    assert err.unexpected == ["extra.weight"]
    assert [name for name, _ in err.failed] == ["d.weight"]
    assert "2 values" in err.failed[0][1]


def test_error_survives_pickling() -> None:
    err = WeightMappingError("f.safetensors", unmapped=["a"], missing=["b"])
    again = pickle.loads(pickle.dumps(err))
    assert (again.source, again.unmapped, again.missing) == ("f.safetensors", ["a"], ["b"])
    assert str(again) == str(err)


def test_bad_rows_fail_at_table_construction() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        Row("h.{layer}.w", "layers.{block}.w")
    with pytest.raises(ValueError, match="transform"):
        Row("h.{layer}.w", ("a", "b"))


def test_patterns_match_whole_names_and_integers_only() -> None:
    pattern = compile_pattern("h.{layer}.attn.bias")
    assert pattern.match("h.12.attn.bias")
    assert not pattern.match("h.x.attn.bias")
    assert not pattern.match("h.1.attn.bias.extra")
    assert not pattern.match("hx1.attn.bias")  # the dot is literal
    assert compile_pattern("*.masked_bias").match("h.3.attn.masked_bias")


def test_describe_mapping_statuses() -> None:
    names = [
        "transformer.wte.weight",
        "transformer.h.0.attn.c_attn.weight",
        "transformer.h.0.attn.bias",
        "transformer.h.0.mlp.c_fc.weight",
    ]
    assert describe_mapping(names, GPT2_TABLE) == [
        ("transformer.wte.weight", "mapped", "embed_tokens.weight"),
        (
            "transformer.h.0.attn.c_attn.weight",
            "transformed",
            "layers.0.attn.q_proj.weight, layers.0.attn.k_proj.weight, layers.0.attn.v_proj.weight",
        ),
        ("transformer.h.0.attn.bias", "ignored", ""),
        ("transformer.h.0.mlp.c_fc.weight", "unmapped", ""),
    ]


class FakeWeightData:
    """Stands in for MAX WeightData: a shape of dims and a DType that prints 'DType.x'."""

    class _DType:
        def __init__(self, name: str) -> None:
            self.name = name

        def __str__(self) -> str:
            return f"DType.{self.name}"

    def __init__(self, shape: tuple[int, ...], dtype: str) -> None:
        self.shape = [np.int64(d) for d in shape]
        self.dtype = self._DType(dtype)


def test_weightdata_like_values_are_checked_by_shape_and_dtype() -> None:
    table = MappingTable(rows=(Row("w", "w"),))
    apply_mapping(
        {"w": FakeWeightData((2, 3), "bfloat16")}, table, expected={"w": ((2, 3), "bfloat16")}
    )
    with pytest.raises(
        WeightMappingError, match=r"expected \(2, 3\) float32, found \(2, 3\) bfloat16"
    ):
        apply_mapping(
            {"w": FakeWeightData((2, 3), "bfloat16")}, table, expected={"w": ((2, 3), "float32")}
        )


@pytest.mark.parametrize(
    ("dtype", "name"),
    [(np.float32, "float32"), (np.dtype("float16"), "float16"), ("DType.bfloat16", "bfloat16")],
)
def test_normalize_dtype(dtype: object, name: str) -> None:
    assert normalize_dtype(np.dtype(dtype) if dtype is np.float32 else dtype) == name


def test_graph_check_names_the_checkpoint_tensor_behind_a_wrong_weight():
    """The table travels with the weights it named (`MappedWeights`), so the check against
    the graph names the checkpoint tensor; plain graph-named weights name the graph weight."""
    import numpy as np
    from max.graph.weights import WeightData

    from common.mapping import MappingTable, Row, WeightMappingError
    from common.max_weights import MappedWeights, conform_to_graph

    class GraphWeight:
        def __init__(self, shape):
            from max.dtype import DType

            self.shape, self.dtype = shape, DType.float32

    table = MappingTable(rows=(Row("h.{layer}.attn.c_attn.weight", "layers.{layer}.qkv.weight"),))
    wrong = {"layers.0.qkv.weight": WeightData.from_numpy(np.zeros((2, 3), np.float32), "w")}
    graph = {"layers.0.qkv.weight": GraphWeight((3, 3))}
    with pytest.raises(WeightMappingError, match=r"checkpoint tensor h\.0\.attn\.c_attn\.weight"):
        conform_to_graph(MappedWeights(wrong, table), graph, source="ckpt")
    with pytest.raises(WeightMappingError) as plain:
        conform_to_graph(dict(wrong), graph, source="ckpt")
    assert "checkpoint tensor" not in str(plain.value)


def test_one_check_serves_the_table_test_and_the_load() -> None:
    """`check_weights` is the only weight check: a table test compares dtypes exactly, the load
    casts floats and refuses an int where a float belongs; shapes print as the spec writes."""
    from common.mapping import check_weights

    values = {"h": np.zeros((2, 3), np.float16), "i": np.zeros(3, np.int32), "x": np.zeros(1)}
    specs = {"h": ((2, 3), "float32"), "i": ([3], "float32"), "gone": ((1,), None)}
    missing, mismatched, unexpected = check_weights(values, specs)
    assert missing == ["gone"] and unexpected == ["x"]
    assert mismatched == [
        ("h", "(2, 3) float32", "(2, 3) float16"),
        ("i", "[3] float32", "[3] int32"),
    ]
    _, at_load, _ = check_weights(values, specs, casts_floats=True)
    assert at_load == [("i", "[3] float32", "[3] int32")]
    none_required, _, _ = check_weights(values, specs, required=lambda name: name != "gone")
    assert none_required == []
