"""What a family package offers a bring-up, whether or not it registers anything yet.

A family is a module spec (`families.gpt2`, or `gpt2` for short). Its candidate architecture
for a checkpoint is the `SupportedArchitecture` named like the checkpoint's `architectures[0]`,
found in the family's `ARCHITECTURES` (registered) or, before registration, in its `arch`
module. From that value come the weight adapter (and so the mapping table it names), the config
class and the graph class; `debug.py` beside the weight adapters holds diff-layers' hooks.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from common.mapping import MappingTable

logger = logging.getLogger(__name__)


class FamilyError(ValueError):
    """A family spec that cannot serve the asked-for checkpoint; says what was looked for."""


def family_module_name(spec: str) -> str:
    """`gpt2` -> `families.gpt2` (when that exists); dotted module specs pass through."""
    if "." in spec or importlib.util.find_spec(f"families.{spec}") is None:
        return spec
    return f"families.{spec}"


def _import_optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            return None  # the module itself is absent, not something it imports
        raise


def _table_adapter(adapter: Any) -> Any | None:
    """The adapter as a `TableAdapter` (which names its table), or None for a plain function."""
    from common.max_weights import TableAdapter

    return adapter if isinstance(adapter, TableAdapter) else None


def _architectures_in(module: ModuleType) -> list[Any]:
    from max.pipelines.lib import SupportedArchitecture

    return [v for v in vars(module).values() if isinstance(v, SupportedArchitecture)]


@dataclass
class Family:
    """A family module and the architecture it would serve the checkpoint with."""

    name: str
    module: ModuleType
    architecture: Any | None  # SupportedArchitecture, None for a family without arch.py
    registered: bool

    @property
    def adapter(self) -> Any | None:
        """The safetensors weight adapter function, if the architecture names one."""
        from max.graph.weights import WeightsFormat

        if self.architecture is None:
            return None
        return self.architecture.weight_adapters.get(WeightsFormat.safetensors)

    @property
    def weight_adapters(self) -> ModuleType:
        adapter = self.adapter
        if _table_adapter(adapter) is not None:
            return importlib.import_module(adapter.module)
        if adapter is not None:
            return importlib.import_module(adapter.__module__)
        module = _import_optional(f"{self.name}.weight_adapters")
        if module is None:
            raise FamilyError(f"{self.name}: no weight_adapters module and no architecture")
        return module

    def table(self, name: str | None = None) -> tuple[str, MappingTable]:
        """(name, table): `name` if given (an attribute of the weight-adapters module, or
        `module:attribute` anywhere), else the table the adapter function names, else the
        first `MappingTable` attribute of the weight-adapters module."""
        if name is not None and ":" in name:
            module_name, _, attribute = name.partition(":")
            table = getattr(importlib.import_module(module_name), attribute, None)
            if not isinstance(table, MappingTable):
                raise FamilyError(f"{name}: not a MappingTable (found {type(table).__name__})")
            return name, table
        module = self.weight_adapters
        tables = {k: v for k, v in vars(module).items() if isinstance(v, MappingTable)}
        if name is not None:
            if name not in tables:
                raise FamilyError(
                    f"{module.__name__}: no MappingTable named {name!r}; found "
                    f"{', '.join(tables) or 'none'}"
                )
            return name, tables[name]
        if not tables:
            raise FamilyError(f"{module.__name__}: no module attribute is a MappingTable")
        adapter = self.adapter
        if _table_adapter(adapter) is not None:
            names_used: tuple[str, ...] = (adapter.table,)
        else:
            names_used = getattr(getattr(adapter, "__code__", None), "co_names", ())
        named = [n for n in names_used if n in tables]
        chosen = named[0] if named else next(iter(tables))
        return chosen, tables[chosen]

    @contextlib.contextmanager
    def table_replaced(self, name: str | None) -> Iterator[None]:
        """Runs the adapter with another table: the module attribute it names is swapped for
        the duration (adapters read their table at call time, as every family's does)."""
        if name is None:
            yield
            return
        _, table = self.table(name)
        default, original = self.table()
        module = self.weight_adapters
        setattr(module, default, table)
        try:
            yield
        finally:
            setattr(module, default, original)

    @property
    def debug(self) -> ModuleType | None:
        """`debug.py` beside the weight adapters: diff-layers' per-family hooks."""
        package = self.weight_adapters.__name__.rpartition(".")[0]
        return _import_optional(f"{package}.debug")

    def custom_architectures(self) -> list[str]:
        """What to hand MAX's `custom_architectures`. A registered family is named; an
        unregistered candidate is put in MAX's registry for this process only."""
        if self.registered:
            return [self.name]
        if self.architecture is None:
            raise FamilyError(f"{self.name}: no SupportedArchitecture to run")
        from max.pipelines import PIPELINE_REGISTRY

        logger.warning(
            "%s: %s is not in ARCHITECTURES; registering it for this process only",
            self.name,
            self.architecture.name,
        )
        PIPELINE_REGISTRY.register(self.architecture, allow_override=True)
        return []


def load_family(spec: str, architecture: str | None = None) -> Family:
    """The family `spec`, with the candidate architecture named `architecture` (the
    checkpoint's); with one candidate only, that one is taken even if its name differs."""
    name = family_module_name(spec)
    module = importlib.import_module(name)
    registered = list(getattr(module, "ARCHITECTURES", None) or [])
    arch_module = _import_optional(f"{name}.arch")
    candidates = _architectures_in(arch_module) if arch_module is not None else []
    for arch in registered:
        if arch.name == architecture:
            return Family(name, module, arch, True)
    for arch in candidates:
        if arch.name == architecture:
            return Family(name, module, arch, any(a is arch for a in registered))
    known = {id(a): a for a in [*registered, *candidates]}
    if len(known) == 1:
        (arch,) = known.values()
        if architecture is not None:
            logger.warning(
                "%s: checkpoint architecture %s, family architecture %s; using the family's",
                name,
                architecture,
                arch.name,
            )
        return Family(name, module, arch, any(a is arch for a in registered))
    if not known:
        return Family(name, module, None, False)
    raise FamilyError(
        f"{name}: no architecture named {architecture!r}; it has "
        f"{', '.join(sorted(a.name for a in known.values()))}"
    )
