"""ARCHITECTURE.md is held to the code: stages import only downwards, no cycle, small modules, every module mapped."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "simplenn"
# The stages in pipeline order. A module may import from its own stage and the ones before it, never after.
STAGES = ("core", "system", "nn", "measure", "store", "sweep", "analyse", "cli")
MAX_TOP_LEVEL = 12
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every simplenn module `name` imports, at module level or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found.update(c for c in candidates if c in known and c != name)
    return found


def stage_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def upward_edges(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for src, targets in edges.items():
        s = stage_of(src)
        for dst in targets:
            d = stage_of(dst)
            if s and d and STAGES.index(d) > STAGES.index(s):
                bad.append(f"{src} ({s}) imports {dst} ({d})")
    return sorted(bad)


def test_every_module_belongs_to_a_stage():
    top = sorted(p.name for p in PACKAGE.iterdir() if p.name != "__pycache__" and not p.name.startswith("."))
    assert len(top) <= MAX_TOP_LEVEL, top
    strays = [name for name in modules() if name != "simplenn" and stage_of(name) is None]
    assert strays == [], f"modules outside the stages {STAGES}: {strays}"


def test_no_import_points_up_the_pipeline():
    assert upward_edges(graph()) == []


def test_the_upward_check_fires_on_a_planted_edge():
    edges = graph()
    edges["simplenn.core.cases"] = edges["simplenn.core.cases"] | {"simplenn.analyse.report.markdown"}
    assert upward_edges(edges) == [
        "simplenn.core.cases (core) imports simplenn.analyse.report.markdown (analyse)"]


def test_no_import_cycle():
    edges = graph()
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            pytest.fail("import cycle: " + " -> ".join(path[path.index(node):] + [node]))
        if node in done:
            return
        for nxt in sorted(edges[node]):
            # A package's __init__ importing its own submodules is how packages are assembled, not a cycle.
            if not nxt.startswith(node + "."):
                visit(nxt, path + [node])
        done.add(node)

    for name in sorted(edges):
        visit(name, [])


def test_no_module_is_over_the_size_limit():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"


def test_architecture_md_names_every_module_and_nothing_that_is_gone():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    named = set(re.findall(r"simplenn/[\w/]+\.py", text))
    actual = {str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")}
    gone = sorted(named - actual)
    assert gone == [], f"ARCHITECTURE.md names modules that do not exist: {gone}"
    missing = sorted(p for p in actual - named if not p.endswith(("__init__.py", "__main__.py")))
    assert missing == [], f"modules ARCHITECTURE.md does not map: {missing}"
