"""Layering: no module of ``undetectable`` imports (at module level or inside a function) a higher layer.

The layers are those of docs/architecture.md. Registries that name a class by string
("module:Class", imported with importlib) are data, not import edges, and are allowed.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "undetectable"

# prefix (dotted, relative to undetectable) → layer; the longest matching prefix wins
LAYERS = {
    "_version": 0, "errors": 0, "safety": 0, "fileio": 0, "spec": 0, "models.coins": 0, "progress": 0, "runtime": 0, "onnxio": 0, "onnx_lower": 0, "resolve": 0,
    "data": 1, "crypto": 1, "bundle": 1, "keys": 1, "export": 1,
    # result records (JSON, versions, perturbation norms, CIs) and the matplotlib primitives are utilities
    # every layer may use; they import nothing above layer 1 (checked here like every module)
    "report.results": 1, "report.figures": 1,
    "models": 2,
    "schemes": 3,
    "audit": 4, "defend": 4,
    "sections": 5, "experiments": 5, "report": 5, "demo": 5,
    "zoo": 5,
    "datasets": 6, "api": 6, "": 6,  # "" = undetectable/__init__
    "cli": 7, "__main__": 7,
}


def layer_of(dotted: str) -> int:
    best, layer = -1, None
    for prefix, lay in LAYERS.items():
        if (dotted == prefix or dotted.startswith(prefix + ".") or prefix == "") and len(prefix) > best:
            best, layer = len(prefix), lay
    assert layer is not None, dotted
    return layer


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(imported module relative to undetectable, line) for every import of an undetectable module."""
    mod = module_name(path)
    is_pkg = path.name == "__init__.py"
    pkg_parts = mod.split(".") if is_pkg else mod.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[: len(pkg_parts) - (node.level - 1)] if node.level > 1 else pkg_parts
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] if node.module else [".".join(base + [a.name]) for a in node.names]
            elif node.module and node.module.split(".")[0] == "undetectable":
                names = [node.module[len("undetectable."):] if node.module != "undetectable" else ""]
            else:
                continue
            out += [(n.strip("."), node.lineno) for n in names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "undetectable":
                    out.append((a.name[len("undetectable."):] if a.name != "undetectable" else "", node.lineno))
    return out


def _skip_type_checking(path: Path) -> set[int]:
    """Lines inside ``if TYPE_CHECKING:`` blocks (annotations only, never executed)."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


FILES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_upward_imports(path):
    mod = module_name(path)
    mine = layer_of(mod)
    skip = _skip_type_checking(path)
    bad = [f"{mod} (layer {mine}) imports {target} (layer {layer_of(target)}) at line {line}"
           for target, line in imports_of(path) if line not in skip and layer_of(target) > mine]
    assert not bad, "\n".join(bad)


def test_layer_table_covers_every_module():
    for path in FILES:
        layer_of(module_name(path))
