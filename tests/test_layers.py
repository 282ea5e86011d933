"""The layers point one way: every import goes from a module to its own layer or a lower one.

Contracts (types, tools, env, records, chat, policy, the registry) at the bottom; environments,
agents and models above them; then the runner, the store, the tools that read the store, and the
CLI on top. Imports inside functions and under ``TYPE_CHECKING`` count too: a dependency is a
dependency, whenever it is resolved. The package's root (``palaestra``, the public API that
re-exports from every layer) is the one exception: anything may import it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import palaestra

SRC = Path(palaestra.__file__).parent

LAYERS: list[tuple[str, ...]] = [
    ("types", "errors", "registry"),
    ("sanitize", "_literal", "_hints", "loops"),
    ("tasksource", "tools", "chat", "policy", "records", "envs"),  # "envs": BUILTIN_ENVS, the names alone
    ("env", "multi", "perturb", "safety"),
    ("sandbox", "ratings"),
    ("models",),
    ("agents", "testing"),
    ("envs.*",),  # the environments themselves: experts may use agents, envs may call models
    ("runner", "checker", "sim"),  # "sim": populations evolving over rounds, a model deciding
    ("store",),
    (
        "eval",
        "export",
        "report",
        "viewer",
        "train",
        "evolve",
        "adapters",
        "play",
        "_display",
        "_match_display",
    ),
    ("cli", "__main__"),
]
"""Lowest first. A module belongs to the layer of its longest matching entry (``envs.*``: any
module inside an environment's package)."""


def layer_of(module: str) -> int:
    """The layer of a ``palaestra.x.y`` module name (``palaestra`` itself: -1, exempt)."""
    parts = module.split(".")[1:]
    if not parts:
        return -1
    if parts[0] == "envs" and len(parts) > 1:
        return next(i for i, names in enumerate(LAYERS) if "envs.*" in names)
    for i, names in enumerate(LAYERS):
        if parts[0] in names:
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, module: str) -> list[tuple[int, str]]:
    """``(line, imported module)`` for every palaestra import in the file, relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from palaestra.x import y`` may import the module palaestra.x.y: take the deeper one
            for a in node.names:
                deeper = f"{base}.{a.name}"
                where = SRC.parent / deeper.replace(".", "/")
                is_module = where.is_dir() or where.with_suffix(".py").is_file()
                out.append((node.lineno, deeper if is_module else base))
    return [(line, m) for line, m in out if m == "palaestra" or m.startswith("palaestra.")]


def violations(path: Path, module: str) -> list[str]:
    mine = layer_of(module)
    return [
        f"{path.name}:{line}: {module} (layer {mine}) imports {target} (layer {layer_of(target)})"
        for line, target in imports(path, module)
        if layer_of(target) > mine >= 0
    ]


def test_every_import_points_down() -> None:
    found = [v for path in sorted(SRC.rglob("*.py")) for v in violations(path, module_name(path))]
    assert not found, "imports that point up:\n" + "\n".join(found)


def test_the_check_catches_an_import_that_points_up(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from typing import TYPE_CHECKING\nfrom palaestra.types import Task\n"
        "if TYPE_CHECKING:\n    from palaestra.runner.run import RunConfig\n"
        "def f():\n    from palaestra import cli\n"
    )
    found = violations(bad, "palaestra.tools.bad")
    assert [v.split(" imports ")[1].split(" ")[0] for v in found] == ["palaestra.runner.run", "palaestra.cli"]
