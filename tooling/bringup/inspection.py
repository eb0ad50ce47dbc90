"""`inspect`: a checkpoint's tensors from the safetensors headers, and with a family, what its
mapping table does with each one and whether the result fits the family's graph.

Nothing is read but headers: every transform runs on a zero-stride stand-in of the stored
shape, so only its output shape is learned. The graph's weights come from the family's
`debug.graph_weights(hf_config)` if it has one, else from building its graph module from
config.json without compiling it (decoder families on `common.decoder`); failing both, the
table's own targets stand in, without shapes, and what nothing feeds is only advisory.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common.config import ConfigError, load_config_json
from common.mapping import (
    IGNORED,
    TRANSFORMED,
    UNMAPPED,
    MappingTable,
    WeightMappingError,
    apply_mapping,
    compile_pattern,
    describe_mapping,
    fill_pattern,
    placeholders,
)
from common.safe_load import SAFETENSORS_DTYPES, check_safetensors, safetensors_files

from .family import Family, load_family

# Status of a tensor the table maps but the adapter drops: a stored copy of a tied LM head.
TIED = "tied"

Shape = tuple[int, ...]


@dataclass
class TensorInfo:
    name: str
    shape: Shape
    dtype: str
    file: str
    status: str = ""  # mapped / transformed / ignored / unmapped / tied, with a family
    targets: tuple[str, ...] = ()
    transform: str | None = None
    target_shapes: tuple[Shape, ...] = ()


@dataclass
class InspectReport:
    checkpoint: Path
    tensors: list[TensorInfo]
    family: str | None = None
    architecture: str | None = None
    table_name: str | None = None
    table_is_empty: bool = False
    graph_source: str = ""
    # Graph weights nothing feeds / (weight, graph shape, mapped shape, checkpoint tensor) /
    # mapped names the graph lacks / weights fed twice / (tensor, why) transforms that raised.
    missing: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, Shape, Shape, str]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    conflicts: list[tuple[str, list[str]]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    config_problems: list[str] = field(default_factory=list)
    # Without a graph to compare with: table targets nothing feeds. Advisory, since a table's
    # rows may serve several architectures (BERT's serves ELECTRA's projection too).
    unfed_targets: list[str] = field(default_factory=list)

    @property
    def unmapped(self) -> list[str]:
        return [t.name for t in self.tensors if t.status == UNMAPPED]

    @property
    def ok(self) -> bool:
        return not (
            self.table_is_empty
            or self.unmapped
            or self.missing
            or self.mismatched
            or self.unexpected
            or self.conflicts
            or self.failed
            or self.config_problems
        )

    def lines(self) -> list[str]:
        out = [f"{self.checkpoint}: {len(self.tensors)} tensors"]
        width = max((len(t.name) for t in self.tensors), default=4)
        shape_width = max((len(_shape(t.shape)) for t in self.tensors), default=2)
        for t in self.tensors:
            row = f"  {t.name:<{width}}  {_shape(t.shape):<{shape_width}}  {t.dtype:<8}"
            if self.family is not None:
                row += f" {t.status:<11}"
                if t.targets:
                    shapes = [_shape(s) for s in t.target_shapes] or [""] * len(t.targets)
                    mapped = ", ".join(f"{n} {s}" for n, s in zip(t.targets, shapes, strict=True))
                    row += f" -> {mapped}"
                if t.transform:
                    row += f" ({t.transform})"
            out.append(row.rstrip())
        if self.family is None:
            return out
        return out + self.summary_lines()

    def summary_lines(self) -> list[str]:
        """The family's verdict: which table, which graph, and every problem."""
        out: list[str] = []
        out.append(
            f"family {self.family} ({self.architecture or 'no architecture'}), "
            f"table {self.table_name}; graph weights {self.graph_source}"
        )
        if self.table_is_empty:
            out.append(
                f"  {self.table_name} has no rows: the weight mapping is not implemented yet"
            )

        def section(title: str, items: list[str]) -> None:
            if items:
                out.append(f"  {title} ({len(items)}):")
                out.extend(f"    {item}" for item in items)

        section("config.json problems", self.config_problems)
        section("checkpoint tensors no row maps (unmapped)", self.unmapped)
        section("graph weights nothing feeds (missing)", self.missing)
        section(
            "table targets nothing feeds (advisory: no graph to check; a row may be for "
            "another architecture)",
            self.unfed_targets,
        )
        section(
            "shape mismatches",
            [
                f"{name}: graph expects {_shape(want)}, mapping gives {_shape(got)} from {src}"
                for name, want, got, src in self.mismatched
            ],
        )
        section("mapped names the graph does not declare", self.unexpected)
        section(
            "graph weights fed by several tensors",
            [f"{name} <- {', '.join(srcs)}" for name, srcs in self.conflicts],
        )
        section("transforms that failed", [f"{name}: {why}" for name, why in self.failed])
        counts = {
            status: sum(t.status == status for t in self.tensors)
            for status in ("mapped", TRANSFORMED, IGNORED, TIED, UNMAPPED)
        }
        out.append(
            "summary: "
            + ", ".join(f"{n} {status}" for status, n in counts.items())
            + f"; {len(self.missing)} missing, {len(self.mismatched)} mismatched: "
            + ("OK" if self.ok else "PROBLEMS")
        )
        return out

    def text(self) -> str:
        return "\n".join(self.lines())


def _shape(shape: Shape) -> str:
    return str(tuple(shape))


def checkpoint_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = safetensors_files(path)
    if not files:
        raise FileNotFoundError(f"{path}: no *.safetensors files (and no index naming shards)")
    return files


def read_tensors(path: Path) -> list[TensorInfo]:
    """Every tensor's name, shape and dtype, from the headers (CheckpointError if corrupt)."""
    tensors = []
    for file in checkpoint_files(path):
        for name, (shape, dtype) in check_safetensors(file).items():
            tensors.append(TensorInfo(name, tuple(shape), dtype, file.name))
    return tensors


def hf_config_of(path: Path) -> dict[str, Any] | None:
    directory = path if path.is_dir() else path.parent
    try:
        return load_config_json(directory)
    except ConfigError:
        return None


def stand_in(shape: Shape, dtype: str) -> np.ndarray:
    """A zero-stride array of the stored shape: transforms learn its layout, no memory used."""
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:  # bfloat16, float8: the same width of unsigned bits
        bits = SAFETENSORS_DTYPES.get(dtype.upper(), (16, ""))[0]
        np_dtype = np.dtype(f"uint{max(8, bits)}")
    return np.broadcast_to(np.zeros((), np_dtype), shape)


def _transform_name(fn: Any) -> str | None:
    if fn is None:
        return None
    return getattr(fn, "__name__", None) or repr(fn)


def _decoder_classes(family: Family) -> tuple[type, type] | None:
    """(config class, graph class) of a family on `common.decoder`, else None."""
    from common.arch_config import TranslatedDecoderConfig

    arch = family.architecture
    graph_cls = getattr(getattr(arch, "pipeline_model", None), "graph_cls", None)
    config_cls = getattr(arch, "config", None)
    if (
        graph_cls is None
        or not isinstance(config_cls, type)
        or not issubclass(config_cls, TranslatedDecoderConfig)
    ):
        return None
    return config_cls, graph_cls


def _decoder_graph_weights(
    config_cls: type, graph_cls: type, fields: dict[str, Any], targets: set[str]
) -> dict[str, Shape]:
    """Graph weight -> shape, from the graph module built (not compiled) on a CPU config: the
    weights the checkpoint feeds it (`checkpoint_weights`), before any load-time fold."""
    from max.dtype import DType
    from max.graph import DeviceRef
    from max.nn.transformer import ReturnLogits
    from max.pipelines.lib import KVCacheConfig

    devices = [DeviceRef.CPU()]
    kv_params = KVCacheConfig().to_params(
        dtype=DType.float32,
        n_kv_heads=fields["num_kv_heads"],
        head_dim=fields["head_dim"],
        num_layers=fields["num_layers"],
        devices=devices,
        data_parallel_degree=1,
    )
    config = config_cls(
        **fields,
        dtype=DType.float32,
        devices=devices,
        kv_params=kv_params,
        max_seq_len=fields["max_positions"],
    )
    # As the pipeline does: the adapted weights decide what only they can (an untied head).
    config.finalize(state_dict=dict.fromkeys(targets), return_logits=ReturnLogits.LAST_TOKEN)
    module = graph_cls(config)
    return {
        name: tuple(int(d) for d in weight.shape)
        for name, weight in module.checkpoint_weights().items()
    }


def _table_targets(table: MappingTable, names: list[str]) -> set[str]:
    """Every row target, with placeholders filled by each value the checkpoint's names take."""
    values: dict[str, set[str]] = {}
    for name in names:
        for candidate in table.candidates(name):
            for row in table.rows:
                m = compile_pattern(row.checkpoint).match(candidate)
                if m:
                    for key, value in m.groupdict().items():
                        values.setdefault(key, set()).add(value)
    out = set()
    for row in table.rows:
        for target in row.targets:
            keys = sorted(placeholders(target))
            for combo in itertools.product(*(sorted(values.get(k, ())) for k in keys)):
                out.add(fill_pattern(target, dict(zip(keys, combo, strict=True))))
    return out


def inspect_checkpoint(
    path: str | Path,
    family: str | Family | None = None,
    *,
    table_name: str | None = None,
) -> InspectReport:
    """The checkpoint's tensors and, with a family, the mapping and graph check."""
    path = Path(path)
    tensors = read_tensors(path)
    report = InspectReport(path, tensors)
    if family is None:
        return report
    hf_config = hf_config_of(path) or {}
    if isinstance(family, str):
        architectures = hf_config.get("architectures") or [None]
        family = load_family(family, architectures[0])
    report.family = family.name
    report.architecture = family.architecture.name if family.architecture else None
    report.table_name, table = family.table(table_name)
    report.table_is_empty = not table.rows

    classes = _decoder_classes(family)
    fields: dict[str, Any] = {}
    if classes is not None:
        from common.arch_config import translate_hf_config

        try:
            fields = translate_hf_config(classes[0], hf_config, "config.json")
        except ConfigError as exc:
            report.config_problems = list(exc.problems)
    # Row transforms read the head sizes (GPT-NeoX's QKV reorder) as the adapter gets them.
    from common.max_weights import transform_context

    ctx = transform_context(fields)
    statuses = describe_mapping([t.name for t in tensors], table)
    produced: dict[str, tuple[Shape, list[str]]] = {}
    for info, (_, status, _) in zip(tensors, statuses, strict=True):
        info.status = status
        resolved = table.resolve(info.name)
        if resolved is None:
            continue
        row, info.targets = resolved
        info.transform = _transform_name(row.transform)
        try:
            mapped = apply_mapping({info.name: stand_in(info.shape, info.dtype)}, table, ctx=ctx)
        except WeightMappingError as exc:
            report.failed.extend(exc.failed)
            continue
        info.target_shapes = tuple(tuple(mapped[t].shape) for t in info.targets)
        for target, shape in zip(info.targets, info.target_shapes, strict=True):
            produced.setdefault(target, (shape, []))[1].append(info.name)
    report.conflicts = [(t, srcs) for t, (_, srcs) in produced.items() if len(srcs) > 1]

    if fields.get("tie_word_embeddings"):
        # Every family's adapter drops a stored copy of a tied head (an optional target).
        for info in tensors:
            if info.targets and all(table.is_optional(t) for t in info.targets):
                info.status = TIED
                for target in info.targets:
                    produced.pop(target, None)
    graph: dict[str, Shape] | None = None
    hook = getattr(family.debug, "graph_weights", None)
    try:
        if hook is not None:
            graph = dict(hook(hf_config))
            report.graph_source = f"from {family.debug.__name__}.graph_weights (not compiled)"
        elif fields:
            config_cls, graph_cls = classes
            graph = _decoder_graph_weights(config_cls, graph_cls, fields, set(produced))
            report.graph_source = (
                f"from {graph_cls.__name__}, built from config.json (not compiled)"
            )
    except ConfigError as exc:
        report.config_problems = list(exc.problems)
    except Exception as exc:  # a graph still being written: say so, keep the mapping report
        report.graph_source = f"unknown: building the graph raised {type(exc).__name__}: {exc}"
    if graph is None:
        if report.config_problems:
            report.graph_source = "not built: config.json does not translate (below)"
        elif not report.graph_source:
            report.graph_source = (
                "unknown (no graph class to build, no debug.graph_weights); shapes unchecked"
            )
        expected = _table_targets(table, [t.name for t in tensors])
        report.unfed_targets = sorted(
            t for t in expected - set(produced) if not table.is_optional(t)
        )
        return report
    # The graph was built on the pipeline's own tie decision, so every weight it declares is needed.
    report.missing = sorted(t for t in graph if t not in produced)
    report.unexpected = sorted(t for t in produced if t not in graph)
    for target, want in graph.items():
        if target in produced and produced[target][0] != want:
            got, sources = produced[target]
            report.mismatched.append((target, want, got, ", ".join(sources)))
    return report


def require_mapping(path: str | Path, family: str, *, table_name: str | None = None) -> None:
    """For a family's parity test: NotImplementedError while its table is empty, an
    AssertionError with the whole report while anything does not map."""
    report = inspect_checkpoint(path, family, table_name=table_name)
    if report.table_is_empty:
        raise NotImplementedError(
            f"{report.family}: not implemented: {report.table_name} has no rows, so none of the "
            f"checkpoint's {len(report.tensors)} tensors maps to the graph. Add rows, checking "
            f"with `python -m tooling.bringup inspect {path} --family {report.family}`"
        )
    if not report.ok:
        raise AssertionError(report.text())


def inspect_command(args: Any) -> int:
    """0 when everything maps (or no family was given), 1 when anything does not."""
    from common.safe_load import CheckpointError

    from .family import FamilyError

    try:
        report = inspect_checkpoint(args.checkpoint, args.family, table_name=args.table)
    except (CheckpointError, FileNotFoundError, FamilyError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.text())
    return 0 if report.family is None or report.ok else 1
