"""The house's shape: no import circle, and no layer imports one above it.

Layers, bottom to top (a module may import its own package and anything below):
core < tasks < sandbox, generation < engine < selectors, runlog < session < tui, progress,
evals_bridge < commands < cli < __main__. Imports under ``if TYPE_CHECKING:`` are types only and do not
count. Packages on one level do not import each other.
"""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "ai_code_evals"
LAYERS = [
    {"core"},
    {"tasks"},
    {"sandbox", "generation"},
    {"engine"},
    {"selectors", "runlog"},
    {"session"},
    {"tui", "progress", "evals_bridge"},
    {"commands"},
    {"cli", "__init__"},
    {"__main__"},
]
LEVEL = {part: i for i, layer in enumerate(LAYERS) for part in layer}


def modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / PACKAGE).rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 2:
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def runtime_imports(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """Project modules ``name`` imports when it runs (lazy imports inside functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: runtime_imports(path, name, known) for name, path in known.items()}


def part(module: str) -> str:
    bits = module.split(".")
    return bits[1] if len(bits) > 1 else "__init__"


def test_every_part_has_a_layer():
    assert {part(m) for m in modules()} <= set(LEVEL), "add the new package or module to LAYERS"


def test_no_layer_imports_one_above_it_or_a_neighbour():
    wrong = sorted(f"{m} imports {t}" for m, targets in graph().items() for t in targets
                   if part(t) != part(m) and LEVEL[part(t)] >= LEVEL[part(m)])
    assert not wrong, "\n".join(wrong)


def test_no_import_circle():
    g = graph()
    seen: dict[str, int] = {}  # 1: on the current path, 2: done
    circles = []

    def visit(m: str, path: list[str]) -> None:
        seen[m] = 1
        for t in sorted(g[m]):
            if seen.get(t) == 1:
                circles.append(" -> ".join(path[path.index(t):] + [t]))
            elif t not in seen:
                visit(t, path + [t])
        seen[m] = 2

    for m in sorted(g):
        if m not in seen:
            visit(m, [m])
    assert not circles, "\n".join(circles)


def test_nothing_below_the_tui_imports_textual():
    """The engine and everything under it run headless (CLI, oaieval) without Textual."""
    def imports_textual(path: Path) -> bool:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] == "textual" for n in names):
                return True
        return False

    below = [m for m, path in modules().items() if LEVEL[part(m)] < LEVEL["tui"] and imports_textual(path)]
    assert not below
