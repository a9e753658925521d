"""The layers of DESIGN §7: a module imports only from its own layer or the layers below it.

Every ``import`` / ``from ... import`` of a ``ddbuild`` module anywhere in a file counts, lazy
imports inside functions included (a lazy import is still a dependency). The test fails with the
offending file, line and both layers, so a new upward import is caught in review, not in a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ddbuild

PACKAGE = Path(ddbuild.__file__).parent

# Top to bottom. A unit is a subpackage or a top-level module of ddbuild.
LAYERS: list[tuple[str, set[str]]] = [
    ("cli", {"cli"}),
    ("report", {"report"}),
    ("entry points", {"designer", "interface"}),
    ("workflow API", {"workflow", "results"}),
    ("analysis", {"analysis"}),
    ("execution", {"execution"}),
    ("planning", {"planning"}),
    ("settings", {"settings"}),
    ("store", {"store"}),
    ("engine", {"engine"}),
    ("config", {"config"}),
    ("canonical form", {"fingerprint", "templating"}),
    ("foundations", {"atomic", "bounds", "usercode", "sandbox", "loading"}),
    ("errors", {"errors", "_version", "__init__"}),
]

# (importing unit, imported unit): why the edge is allowed although it points up. Keep this short.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {
    ("config", "engine"): "DataDesignerConfigBuilder.build() checks columns against the seed's, as Data "
    "Designer's does; the seed's schema is read by engine.seed_reader (DESIGN §7 puts seed reading in the engine)",
}


def _layer_of(unit: str) -> int:
    for index, (_, units) in enumerate(LAYERS):
        if unit in units:
            return index
    raise AssertionError(f"ddbuild/{unit} is in no layer of tests/test_layers.py: add it to LAYERS")


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "ddbuild":  # from ddbuild import atomic → ddbuild.atomic
                found += [(node.lineno, f"ddbuild.{alias.name}") for alias in node.names]
            elif node.module.startswith("ddbuild."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("ddbuild.")]
    return found


def _violations() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent)
        unit = _unit(".".join(relative.with_suffix("").parts))
        for line, target in _imports(path):
            target_unit = _unit(target)
            if target_unit == unit or (unit, target_unit) in ALLOWED_UPWARD:
                continue
            mine, theirs = _layer_of(unit), _layer_of(target_unit)
            if theirs < mine:
                problems.append(
                    f"{relative}:{line} imports {target} — layer '{LAYERS[mine][0]}' may not import "
                    f"from the layer above it, '{LAYERS[theirs][0]}'"
                )
    return problems


def test_imports_point_down_only() -> None:
    assert _violations() == []


def test_every_allowed_upward_edge_still_exists() -> None:
    """An allow-list entry whose import is gone must be deleted, so the list only ever shrinks."""
    edges = set()
    for path in PACKAGE.rglob("*.py"):
        unit = _unit(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        edges |= {(unit, _unit(target)) for _, target in _imports(path)}
    assert sorted(set(ALLOWED_UPWARD) - edges) == []


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    planted = tmp_path / "probe.py"
    planted.write_text("from ddbuild.cli.app import main\n")
    assert _imports(planted) == [(1, "ddbuild.cli.app")]
    assert _layer_of(_unit("ddbuild.cli.app")) < _layer_of(_unit("ddbuild.planning.plan"))
