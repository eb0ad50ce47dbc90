"""Declarative checkpoint-name -> graph-weight-name tables (after llama.cpp's tensor_mapping).

A family describes its weights as data: one `Row` per checkpoint tensor pattern, naming the
graph weight(s) it feeds and, where the layout differs, the transform (see `common.transforms`)
that converts it. `apply_mapping` runs the table over a checkpoint and reports every problem at
once, so a bring-up shows the whole gap in one error instead of one tensor per run.

Pattern syntax (checkpoint names, targets, `ignore`, `optional_targets`):
  - `{layer}` (or any `{name}` of word characters) matches a decimal integer; the same number is
    substituted into the row's target(s);
  - `*` matches any run of characters (dots included), for `ignore` globs such as `*.masked_bias`;
  - everything else matches literally.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# (array, ctx) -> array, or a tuple of arrays when the row has several targets (a split).
TransformFn = Callable[[Any, Mapping[str, Any]], Any | tuple[Any, ...]]

_TOKEN = re.compile(r"\{(\w+)\}|\*")

# describe_mapping statuses
MAPPED = "mapped"
TRANSFORMED = "transformed"
IGNORED = "ignored"
UNMAPPED = "unmapped"


@functools.cache
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Regex for a table pattern; cached so every pattern is compiled once per process."""
    parts: list[str] = []
    seen: set[str] = set()
    pos = 0
    for m in _TOKEN.finditer(pattern):
        parts.append(re.escape(pattern[pos : m.start()]))
        name = m.group(1)
        if name is None:
            parts.append(".*")
        elif name in seen:
            # A repeated placeholder must repeat the same number.
            parts.append(f"(?P={name})")
        else:
            seen.add(name)
            parts.append(f"(?P<{name}>\\d+)")
        pos = m.end()
    parts.append(re.escape(pattern[pos:]))
    return re.compile("".join(parts) + r"\Z")


def placeholders(pattern: str) -> set[str]:
    """Names of the `{...}` placeholders in a pattern."""
    return {m.group(1) for m in _TOKEN.finditer(pattern) if m.group(1) is not None}


def fill_pattern(pattern: str, values: Mapping[str, str]) -> str:
    """Substitute captured placeholder values into a target pattern."""
    return _TOKEN.sub(lambda m: values[m.group(1)] if m.group(1) else m.group(0), pattern)


def matches_any(name: str, patterns: Iterable[str]) -> bool:
    """True when `name` matches one of the table patterns."""
    return any(compile_pattern(p).match(name) for p in patterns)


@dataclass(frozen=True)
class Row:
    """One checkpoint tensor pattern and the graph weight(s) it feeds."""

    checkpoint: str
    target: str | tuple[str, ...]
    transform: TransformFn | None = None

    def __post_init__(self) -> None:
        # Catch table typos at import time rather than on the first checkpoint.
        available = placeholders(self.checkpoint)
        for target in self.targets:
            if "*" in target:
                raise ValueError(f"mapping row {self.checkpoint!r}: target {target!r} has a '*'")
            extra = placeholders(target) - available
            if extra:
                raise ValueError(
                    f"mapping row {self.checkpoint!r}: target {target!r} uses placeholder(s) "
                    f"{sorted(extra)} that the checkpoint pattern does not capture"
                )
        if isinstance(self.target, tuple) and self.transform is None:
            raise ValueError(
                f"mapping row {self.checkpoint!r}: {len(self.target)} targets need a transform "
                "that returns one array per target"
            )
        compile_pattern(self.checkpoint)

    @property
    def targets(self) -> tuple[str, ...]:
        return self.target if isinstance(self.target, tuple) else (self.target,)

    def match(self, name: str) -> tuple[str, ...] | None:
        """Concrete target names for checkpoint tensor `name`, or None if the row does not apply."""
        m = compile_pattern(self.checkpoint).match(name)
        if m is None:
            return None
        groups = m.groupdict()
        return tuple(fill_pattern(t, groups) for t in self.targets)


@dataclass(frozen=True)
class MappingTable:
    """Rows plus the names that are expected not to map (buffers, tied heads)."""

    rows: tuple[Row, ...]
    strip_prefixes: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    optional_targets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Lists are a common slip in tables; tuples keep the table hashable and immutable.
        for name in ("rows", "strip_prefixes", "ignore", "optional_targets"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        for pattern in (*self.ignore, *self.optional_targets):
            compile_pattern(pattern)

    def candidates(self, name: str) -> list[str]:
        """`name` as stored, then with each matching prefix stripped, in table order."""
        out = [name]
        out += [name[len(p) :] for p in self.strip_prefixes if p and name.startswith(p)]
        return out

    def resolve(self, name: str) -> tuple[Row, tuple[str, ...]] | None:
        """The first row (and its concrete targets) that maps checkpoint tensor `name`."""
        for candidate in self.candidates(name):
            for row in self.rows:
                targets = row.match(candidate)
                if targets is not None:
                    return row, targets
        return None

    def checkpoint_name(self, target: str) -> str | None:
        """The checkpoint tensor (without a strippable prefix) a row maps onto graph weight
        `target`, for messages about a weight that is missing or wrong; None if no row does."""
        for row in self.rows:
            for pattern in row.targets:
                m = compile_pattern(pattern).match(target)
                if m is not None:
                    return fill_pattern(row.checkpoint, m.groupdict())
        return None

    def is_ignored(self, name: str) -> bool:
        return any(matches_any(c, self.ignore) for c in self.candidates(name))

    def is_optional(self, target: str) -> bool:
        return matches_any(target, self.optional_targets)


def normalize_dtype(dtype: Any) -> str:
    """'float32' for numpy float32, torch.float32, MAX DType.float32 or the string itself."""
    return str(dtype).rsplit(".", 1)[-1].lower()


def _dim(d: Any) -> int | str:
    try:
        return int(d)
    except (TypeError, ValueError):  # a symbolic MAX Dim: keep its name for the report
        return str(d)


def _shape_of(value: Any) -> tuple[int | str, ...] | None:
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    return tuple(_dim(d) for d in shape)


def _describe(shape: tuple[int | str, ...] | None, dtype: str | None) -> str:
    shape_text = "no shape" if shape is None else str(shape)
    return f"{shape_text} {dtype if dtype is not None else '?'}"


def _found_description(value: Any) -> tuple[tuple[int | str, ...] | None, str | None]:
    dtype = getattr(value, "dtype", None)
    return _shape_of(value), (normalize_dtype(dtype) if dtype is not None else None)


class WeightMappingError(ValueError):
    """Every way a checkpoint failed to map onto the graph, reported together."""

    def __init__(
        self,
        source: str = "checkpoint",
        *,
        unmapped: list[str] | None = None,
        missing: list[str] | None = None,
        mismatched: list[tuple[str, str, str]] | None = None,
        conflicts: list[tuple[str, list[str]]] | None = None,
        failed: list[tuple[str, str]] | None = None,
        unexpected: list[str] | None = None,
        notes: list[str] | None = None,
    ) -> None:
        self.source = source
        self.unmapped = list(unmapped or [])
        self.missing = list(missing or [])
        # (graph name, expected "shape dtype", found "shape dtype")
        self.mismatched = list(mismatched or [])
        # (graph name, every checkpoint tensor that fed it) when more than one did
        self.conflicts = list(conflicts or [])
        # (checkpoint name, reason) for transforms that raised or returned the wrong arity
        self.failed = list(failed or [])
        # graph names the table produced that `expected` does not declare
        self.unexpected = list(unexpected or [])
        # What the reader should know to explain the problems (e.g. config fields defaulted)
        self.notes = list(notes or [])
        super().__init__(self.report())

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields would be lost by Exception's default pickling (args only).
        return (_rebuild_error, (self.source, self.fields()))

    def fields(self) -> dict[str, list[Any]]:
        return {
            "unmapped": self.unmapped,
            "missing": self.missing,
            "mismatched": self.mismatched,
            "conflicts": self.conflicts,
            "failed": self.failed,
            "unexpected": self.unexpected,
            "notes": self.notes,
        }

    def __bool__(self) -> bool:
        return any(v for k, v in self.fields().items() if k != "notes")

    def report(self) -> str:
        lines = [f"{self.source}: weights do not match the graph"]

        def section(title: str, items: list[str]) -> None:
            if items:
                lines.append(f"  {title} ({len(items)}):")
                lines.extend(f"    {item}" for item in items)

        section("checkpoint tensors no mapping row covers", self.unmapped)
        section("graph weights nothing in the checkpoint fed", self.missing)
        section(
            "shape/dtype mismatches",
            [f"{name}: expected {want}, found {got}" for name, want, got in self.mismatched],
        )
        section(
            "graph weights fed by several checkpoint tensors",
            [f"{name} <- {', '.join(sources)}" for name, sources in self.conflicts],
        )
        section("transforms that failed", [f"{name}: {why}" for name, why in self.failed])
        section("mapped weights the graph does not declare", self.unexpected)
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def _rebuild_error(source: str, fields: dict[str, list[Any]]) -> WeightMappingError:
    return WeightMappingError(source, **fields)


def _run_transform(
    row: Row, value: Any, targets: tuple[str, ...], ctx: Mapping[str, Any]
) -> tuple[Any, ...]:
    """Apply the row's transform and return one value per target; raises ValueError with why."""
    if row.transform is None:
        return (value,)
    result = row.transform(value, ctx)
    if len(targets) == 1:
        return (result,)
    if not isinstance(result, (tuple, list)) or len(result) != len(targets):
        found = f"{len(result)} values" if isinstance(result, (tuple, list)) else "one value"
        raise ValueError(
            f"{_transform_name(row.transform)} must return {len(targets)} values "
            f"for {', '.join(targets)}, returned {found}"
        )
    return tuple(result)


def _transform_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__name__", None) or repr(fn)


def apply_mapping(
    checkpoint: Mapping[str, Any],
    table: MappingTable,
    *,
    ctx: Mapping[str, Any] | None = None,
    expected: Mapping[str, tuple[tuple[int, ...], str]] | None = None,
    source: str = "checkpoint",
) -> dict[str, Any]:
    """Map checkpoint tensors to graph weights; raise WeightMappingError listing every problem."""
    ctx = {} if ctx is None else ctx
    out: dict[str, Any] = {}
    fed_by: dict[str, list[str]] = {}
    unmapped: list[str] = []
    failed: list[tuple[str, str]] = []

    for name, value in checkpoint.items():
        resolved = table.resolve(name)
        if resolved is None:
            if not table.is_ignored(name):
                unmapped.append(name)
            continue
        row, targets = resolved
        try:
            values = _run_transform(row, value, targets, ctx)
        except Exception as exc:
            # Collected, not raised, so one run reports every broken tensor.
            shape, dtype = _found_description(value)
            fn = _transform_name(row.transform) if row.transform else "identity"
            failed.append((name, f"{fn} on {_describe(shape, dtype)}: {exc}"))
            continue
        for target, converted in zip(targets, values, strict=True):
            fed_by.setdefault(target, []).append(name)
            out[target] = converted

    conflicts = [(t, names) for t, names in fed_by.items() if len(names) > 1]
    missing: list[str] = []
    mismatched: list[tuple[str, str, str]] = []
    unexpected: list[str] = []
    if expected is not None:
        missing, mismatched, unexpected = check_weights(
            out, expected, required=lambda target: not table.is_optional(target)
        )

    error = WeightMappingError(
        source,
        unmapped=unmapped,
        missing=missing,
        mismatched=mismatched,
        conflicts=conflicts,
        failed=failed,
        unexpected=unexpected,
    )
    if error:
        raise error
    return out


def check_weights(
    values: Mapping[str, Any],
    specs: Mapping[str, tuple[Sequence[Any], Any]],
    *,
    required: Callable[[str], bool] = lambda name: True,
    casts_floats: bool = False,
) -> tuple[list[str], list[tuple[str, str, str]], list[str]]:
    """The one weight check, for a mapping table's test and for the load alike: the spec names
    `values` lacks (those `required`), those of the wrong shape or dtype as (name, expected,
    found), and the values no spec declares. `specs` maps a name to (shape, dtype or None, not
    compared); shapes print as `specs` writes them. With `casts_floats` a float value fits any
    float dtype (the load casts it); an int or bool one never does."""
    missing = [name for name in specs if name not in values and required(name)]
    mismatched: list[tuple[str, str, str]] = []
    for name, (want_shape, want_dtype) in specs.items():
        if name not in values:
            continue
        got_shape, got_dtype = _found_description(values[name])
        want = tuple(int(d) for d in want_shape)
        want_norm = None if want_dtype is None else normalize_dtype(want_dtype)
        dtype_bad = want_norm is not None and got_dtype is not None and got_dtype != want_norm
        if dtype_bad and casts_floats:
            dtype_bad = not (_is_float(got_dtype) and _is_float(want_norm))
        if got_shape != want or dtype_bad:
            written = type(want_shape) if isinstance(want_shape, (list, tuple)) else tuple
            found = None if got_shape is None else written(got_shape)
            mismatched.append(
                (name, _describe(written(want), want_norm), _describe(found, got_dtype))
            )
    unexpected = [name for name in values if name not in specs]
    return missing, mismatched, unexpected


def _is_float(dtype: str | None) -> bool:
    return dtype is not None and dtype.startswith(("float", "bfloat"))


def describe_mapping(
    checkpoint_names: Iterable[str], table: MappingTable
) -> list[tuple[str, str, str]]:
    """(checkpoint name, status, targets joined by ', ') per tensor, for an `inspect` command."""
    rows: list[tuple[str, str, str]] = []
    for name in checkpoint_names:
        resolved = table.resolve(name)
        if resolved is not None:
            row, targets = resolved
            status = MAPPED if row.transform is None else TRANSFORMED
            rows.append((name, status, ", ".join(targets)))
        elif table.is_ignored(name):
            rows.append((name, IGNORED, ""))
        else:
            rows.append((name, UNMAPPED, ""))
    return rows
