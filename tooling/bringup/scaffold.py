"""`new-family`: a family package with MAX 26.7's rooms, and its parity test, from templates.

The package imports at once and registers nothing (`ARCHITECTURES = []`); its architecture
value lives in arch.py, where the bring-up tools and the generated test find it. The graph's
block raises NotImplementedError and the mapping table has no rows, so the test fails with
"not implemented" until both are written. Templates: tooling/scaffold_templates/<like>/, then
tooling/scaffold_templates/shared/.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

TEMPLATES = Path(__file__).resolve().parents[1] / "scaffold_templates"
DECODER_LIKES = ("gpt2", "llama_style")
ENCODER_LIKES = ("bert_style",)
# Names a family may not take: its own rooms, and packages it would shadow.
RESERVED = frozenset(
    {
        "arch",
        "model_config",
        "weight_adapters",
        "batch_processor",
        "model",
        "debug",
        "graph",
        "common",
        "tooling",
        "families",
        "tests",
        "shared",
        "max",
    }
)
MAX_NAME = 24
MAX_ARCHITECTURE = 40
# A root without families/__init__.py (a scratch directory) gets one that also finds the
# project's families, so a family generated there can import `families.llama_style`.
NAMESPACE_INIT = '''"""Families generated outside the project; the project's own are found too."""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
'''


class ScaffoldError(ValueError):
    """A family name or destination that cannot be used; says why."""


def camel_case(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def default_architecture(name: str, like: str) -> str:
    return camel_case(name) + ("Model" if like in ENCODER_LIKES else "ForCausalLM")


def _template(like: str, file: str) -> Path:
    for folder in (like, "shared"):
        path = TEMPLATES / folder / f"{file}.tmpl"
        if path.is_file():
            return path
    raise ScaffoldError(f"{TEMPLATES}: no template {file}.tmpl for --like {like}")


def plan(name: str, like: str) -> dict[str, Path]:
    """Destination (relative to the root) -> template."""
    rooms = ["__init__.py", "arch.py", "model_config.py", "weight_adapters.py"]
    rooms += ["batch_processor.py", "model.py"]
    files = {f"families/{name}/{room}": _template(like, room) for room in rooms}
    files[f"families/{name}/{name}.py"] = _template(like, "graph.py")
    files[f"families/{name}/debug.py"] = _template(like, "debug.py")
    if like in DECODER_LIKES:
        files[f"tests/{name}/test_parity.py"] = _template(like, "decoder_test_parity.py")
    else:
        files[f"tests/{name}/test_parity.py"] = _template(like, "test_parity.py")
    return files


def _relative_imports(imports: dict[str, str]) -> str:
    """`from .module import name` lines, sorted by module as isort wants them."""
    return "\n".join(f"from .{module} import {imports[module]}" for module in sorted(imports))


def _import_values(name: str, like: str) -> dict[str, str]:
    """The import blocks whose order depends on the family's name."""
    cls = camel_case(name)
    graph = f"{cls}Encoder" if like in ENCODER_LIKES else cls
    config = {name: graph, "model_config": f"{cls}Config"}
    return {
        "model_imports": _relative_imports({**config, "batch_processor": f"{cls}BatchProcessor"}),
        "debug_imports": _relative_imports(config),
    }


def check_name(name: str) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise ScaffoldError(
            f"family name {name!r}: expected a lowercase Python identifier such as 'opt'"
        )
    if len(name) > MAX_NAME:
        raise ScaffoldError(
            f"family name {name!r}: {len(name)} characters, at most {MAX_NAME} (keeps the "
            "generated code inside the 100-column lint)"
        )
    if name in RESERVED:
        raise ScaffoldError(f"family name {name!r} is reserved (a room or a package name)")


@dataclass
class Scaffold:
    name: str
    like: str
    architecture: str
    root: Path
    files: list[Path]

    @property
    def module(self) -> str:
        return f"families.{self.name}"


def new_family(
    name: str,
    like: str,
    *,
    root: Path,
    architecture: str | None = None,
    force: bool = False,
) -> Scaffold:
    """Writes families/NAME and tests/NAME under `root`; refuses to overwrite unless `force`."""
    check_name(name)
    if like not in (*DECODER_LIKES, *ENCODER_LIKES):
        raise ScaffoldError(f"--like {like!r}: expected one of {DECODER_LIKES + ENCODER_LIKES}")
    architecture = architecture or default_architecture(name, like)
    if not architecture.isidentifier() or len(architecture) > MAX_ARCHITECTURE:
        raise ScaffoldError(
            f"--architecture {architecture!r}: expected a class name of at most "
            f"{MAX_ARCHITECTURE} characters"
        )
    files = plan(name, like)
    existing = [rel for rel in files if (root / rel).exists()]
    if existing and not force:
        raise ScaffoldError(
            f"{root}: would overwrite {', '.join(existing)}; pass --force to replace them"
        )
    values = {
        "name": name,
        "Name": camel_case(name),
        "NAME": name.upper(),
        "module": f"families.{name}",
        "architecture": architecture,
        "like": like,
        **_import_values(name, like),
    }
    written = []
    for rel, template in files.items():
        out = root / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(Template(template.read_text(encoding="utf-8")).substitute(values))
        written.append(out)
    tests_init = root / "tests" / name / "__init__.py"
    if not tests_init.exists():
        tests_init.write_text("")
        written.append(tests_init)
    families_init = root / "families" / "__init__.py"
    if not families_init.exists():
        families_init.write_text(NAMESPACE_INIT)
        written.append(families_init)
    return Scaffold(name, like, architecture, root, written)


def nox_session(name: str, like: str) -> str:
    """The noxfile.py session that runs the family's tests, in the style of its neighbours."""
    if like in ENCODER_LIKES:
        return (
            f'@nox.session(name="test-{name}")\n'
            '@nox.parametrize("encoding", ENCODINGS)\n'
            f"def test_{name}(session: nox.Session, encoding: str) -> None:\n"
            "    _skip_unrunnable(session, encoding)\n"
            f'    _pytest(session, "tests/{name}", env={{"MAXFAM_ENCODING": encoding}})\n'
        )
    return (
        f'@nox.session(name="test-{name}")\n'
        '@nox.parametrize("kv", KV_STRATEGIES)\n'
        '@nox.parametrize("encoding", ENCODINGS)\n'
        f"def test_{name}(session: nox.Session, encoding: str, kv: str) -> None:\n"
        "    _skip_unrunnable(session, encoding)\n"
        f'    _pytest(session, "tests/{name}", env={{"MAXFAM_ENCODING": encoding, '
        '"MAXFAM_KV": kv})\n'
    )


def next_steps(scaffold: Scaffold) -> list[str]:
    name, module = scaffold.name, scaffold.module
    lines = [
        f"created {module} (like families.{scaffold.like}) for {scaffold.architecture}, "
        f"under {scaffold.root}:"
    ]
    lines += [f"  {p.relative_to(scaffold.root)}" for p in scaffold.files]
    lines += [
        "next (docs/BRINGUP.md):",
        f"  1. pytest tests/{name}  -- fails 'not implemented' until each stage is written",
        f"  2. python -m tooling.bringup inspect CHECKPOINT --family {module}"
        "  -- rows in weight_adapters.py, fields in model_config.py",
        f"  3. the block in families/{name}/{name}.py;"
        f" python -m tooling.bringup verify CHECKPOINT --family {module}",
    ]
    if scaffold.like in DECODER_LIKES:
        lines.append(
            f"  4. IDENTITY_BLOCK_TENSORS in families/{name}/debug.py;"
            f" python -m tooling.bringup diff-layers CHECKPOINT --family {module}"
        )
    lines += [
        f"  5. once tests/{name} passes: register {name}_arch in families/{name}/__init__.py",
        "nox: add this session to noxfile.py (`nox -s tests` already runs tests/" + name + "):",
        "",
        nox_session(name, scaffold.like),
    ]
    return lines


def new_family_command(args: Any) -> int:
    import sys

    try:
        scaffold = new_family(
            args.name, args.like, root=args.root, architecture=args.architecture, force=args.force
        )
    except ScaffoldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(next_steps(scaffold)))
    return 0
