"""The test suite's own rules: no test module imports another, each shared name means one thing, `slow` is marked."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# The plain modules beside the tests that hold what several test modules share (conftest.py wraps some in fixtures):
# every module here that is neither a test module nor a conftest.
SHARED = tuple(sorted(p.stem for p in TESTS.glob("*.py") if not p.stem.startswith(("test_", "conftest"))))


def imported_modules(source: str) -> set[str]:
    """Top-level names of every module `source` imports (at any depth: inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


def test_imports(source: str) -> set[str]:
    """The test modules (test_*.py) that `source` imports."""
    return {name for name in imported_modules(source) if name.startswith("test_")}


test_imports.__test__ = False  # a helper named test_…, not a test


def module_level_names(source: str) -> set[str]:
    """Names a module binds at its top level by assignment."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def shared_names() -> set[str]:
    """The upper-case names tiny.py and synthetic.py define: each has one meaning in the whole suite."""
    return {n for m in SHARED for n in module_level_names((TESTS / f"{m}.py").read_text()) if n.isupper()}


def test_the_shared_modules_are_the_helpers():
    assert {"synthetic", "tiny", "graphs"} <= set(SHARED)


def suite_files() -> list[Path]:
    return sorted([*TESTS.glob("*.py"), *(ROOT / "bench").glob("*.py"), ROOT / "conftest.py"])


def test_no_test_module_imports_another_test_module():
    offenders = {str(p.relative_to(ROOT)): sorted(found) for p in suite_files() if (found := test_imports(p.read_text()))}
    assert offenders == {}, f"shared helpers belong in {SHARED} or tests/conftest.py, not in a test module: {offenders}"


def test_the_import_check_fires_on_a_planted_import():
    assert test_imports("from test_report import SMALL, write_run\n") == {"test_report"}
    assert test_imports("def f():\n    import test_sweep as s\n") == {"test_sweep"}
    assert test_imports("from synthetic import write_run\nfrom tiny import TINY\n") == set()


def test_shared_names_are_defined_once():
    """TINY, FAST, CPU0, SMALL, … mean one thing each: a test module imports them and never binds its own."""
    shared = shared_names()
    assert {"TINY", "FAST", "CPU0", "CPU1", "SMALL", "TINY_GRID"} <= shared
    clashes = {p.name: sorted(module_level_names(p.read_text()) & shared)
               for p in suite_files() if p.stem.startswith(("test_", "conftest"))}
    assert {k: v for k, v in clashes.items() if v} == {}


def test_the_redefinition_check_fires_on_a_planted_constant():
    planted = 'FAST = Settings(min_blocks=2)\nCPU0: dict = {"name": "CPU:0"}\nTINY, OTHER = (1, 2), 3\n'
    assert module_level_names(planted) & shared_names() == {"FAST", "CPU0", "TINY"}


def test_the_slow_marker_is_registered_and_a_fast_target_deselects_it(pytestconfig):
    markers = pytestconfig.getini("markers")
    assert any(m.startswith("slow:") for m in markers), markers
    makefile = (ROOT / "Makefile").read_text()
    assert "test-fast:" in makefile and '-m "not slow"' in makefile


def suite_conftest(config: pytest.Config):
    """tests/conftest.py as pytest loaded it (a plugin; `import conftest` would be ambiguous with the root one)."""
    return next(p for p in config.pluginmanager.get_plugins() if getattr(p, "__file__", None) == str(TESTS / "conftest.py"))


def test_every_collected_test_that_needs_a_real_run_is_marked_slow(request):
    slow_fixtures = suite_conftest(request.config).SLOW_FIXTURES
    needs = [item for item in request.session.items if slow_fixtures & set(getattr(item, "fixturenames", ()))]
    unmarked = [item.nodeid for item in needs if item.get_closest_marker("slow") is None]
    assert unmarked == []


def test_every_slow_fixture_exists(pytestconfig):
    # A renamed fixture would silently leave its tests in the fast subset.
    sources = "".join(p.read_text() for p in TESTS.glob("*.py"))
    missing = [name for name in suite_conftest(pytestconfig).SLOW_FIXTURES if f"def {name}(" not in sources]
    assert missing == []


def test_the_slow_marking_fires_on_a_planted_test(pytestconfig):
    class Item:  # what pytest_collection_modifyitems reads and calls on a collected test
        def __init__(self, fixturenames):
            self.fixturenames, self.markers = fixturenames, []

        def add_marker(self, marker):
            self.markers.append(marker.name)

    real, synthetic = Item(["tmp_path", "real_run"]), Item(["tmp_path", "synthetic_run"])
    suite_conftest(pytestconfig).pytest_collection_modifyitems(None, None, [real, synthetic])
    assert (real.markers, synthetic.markers) == (["slow"], [])


def namespace_fakes(source: str) -> int:
    """How many argparse Namespaces `source` builds by hand (to reach code that should take plain values)."""
    def built(f: ast.expr) -> bool:  # argparse.Namespace(...) or, imported by name, Namespace(...)
        return (isinstance(f, ast.Attribute) and f.attr == "Namespace" and ast.unparse(f.value) == "argparse") or (
            isinstance(f, ast.Name) and f.id == "Namespace")

    return sum(1 for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call) and built(node.func))


def test_no_test_or_script_fakes_an_argparse_namespace():
    # Configuration is loaded below the CLI (sweep.config.load_config): nothing needs to dress up as parsed flags.
    files = [*suite_files(), *(ROOT / "scripts").glob("*.py"), *(ROOT / "examples").glob("*.py")]
    assert {p.name: n for p in files if (n := namespace_fakes(p.read_text()))} == {}
    assert namespace_fakes("import argparse\nargs = argparse.Namespace(config=None, quick=False)\n") == 1
