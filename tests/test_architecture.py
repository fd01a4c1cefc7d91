"""The house's shape: no import circle, and no layer imports one above it.

Layers, bottom to top (a module may import its own package and anything below):
core < tasks < sandbox, generation < engine < selectors, runlog < session < tui, progress,
evals_bridge < commands < cli < __main__. Imports under ``if TYPE_CHECKING:`` are types only and do not
count. Packages on one level do not import each other.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
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


EXTENSION = '''
from ai_code_evals.engine.scoring import Selection
from ai_code_evals.sandbox.local import make_local_backend

CREATED = []


async def select_by_last(ctx):
    """A strategy of a plug-in: the last version, whatever the tests say."""
    return Selection(winner=sorted(ctx.candidates)[-1], reason="the last one")


def make(env, jobs, unsafe):
    """A backend of a plug-in: the local one, counting its sandboxes."""
    backend = make_local_backend(env, jobs, unsafe)
    create = backend.create

    async def counted(spec):
        CREATED.append(spec)
        return await create(spec)

    backend.create = counted
    return backend
'''


def test_a_new_selector_and_a_new_backend_are_a_module_and_a_line_each(tmp_path, monkeypatch):
    """What docs/ARCHITECTURE.md promises, through a real run: one module plus one registration
    line, and ``Run.start`` (as the CLI uses it) picks both up by name."""
    import asyncio
    import json
    import sys

    from ai_code_evals.engine import selection
    from ai_code_evals.sandbox import registry
    from ai_code_evals.session import Run, RunRequest

    (tmp_path / "plugin_example.py").write_text(EXTENSION)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.BACKENDS, "counted", "plugin_example:make")  # the backend's line
    monkeypatch.setitem(selection.SELECTORS, "last", "plugin_example:select_by_last")  # the strategy's line
    task = tmp_path / "task.yaml"
    task.write_text("id: add\nprompt: Add.\nentry_point: add\ntests:\n  - {args: [1, 2], expect: 3}\n")
    samples = tmp_path / "samples.jsonl"
    codes = ["def add(a, b):\n    return a + b\n", "def add(a, b):\n    return a - b\n"]
    samples.write_text("".join(json.dumps({"task_id": "add", "code": c}) + "\n" for c in codes))
    req = RunRequest(tasks=[str(task)], samples=str(samples), backend="counted", select="last", jobs=2,
                     record=str(tmp_path / "run.jsonl"))
    run = Run.start(req, {})
    try:
        summary = asyncio.run(run.execute())
    finally:
        run.close()
    assert summary["tasks"][0]["winner"] == "add#1"  # the strategy's pick, not the passing one
    assert len(sys.modules["plugin_example"].CREATED) >= 2


def test_the_engine_alone_knows_score_and_says_where_the_other_strategies_come_from():
    """The engine never imports the selectors; a program that uses it alone learns in one line
    why 'agreement' is unknown (seen in benchmarks/bench_agreement.py: silently scored)."""
    import subprocess
    import sys

    code = ("from ai_code_evals.engine.selection import get_selector\n"
            "try:\n    get_selector('agreement')\nexcept Exception as exc:\n    print(exc)\n"
            "import ai_code_evals.selectors\nprint(get_selector('agreement').__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    unknown = ("unknown selection strategy 'agreement' (choose from score; the others register when "
               "ai_code_evals.selectors is imported)")
    assert out.splitlines() == [unknown, "select_by_agreement"]


def test_an_offline_run_never_imports_openai():
    """The client library costs ~0.5 s of start-up (before the TUI's first frame): a run with no
    model (the demo, samples files) and the default selection must not load it. It used to, via
    the judge strategy's module, which the default ``agreement`` consults for its tie-breaks."""
    code = ("import sys\n"
            "from ai_code_evals.core.events import EventBus\n"
            "from ai_code_evals.session.request import RunRequest, build_config\n"
            "config = build_config(RunRequest(), {}, EventBus())\n"
            "print('openai' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}).stdout
    assert out.split()[-1] == "False", out
