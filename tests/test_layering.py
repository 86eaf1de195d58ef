"""Layers: screens -> station -> data, never back. ``station`` and ``data``
import neither textual nor screens: checked in a fresh interpreter (what is in
sys.modules after importing every module) and statically over the source."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("textual", "screens")
#: no exceptions: the composition root is ``screens.main`` (the console script), which
#: hands the app factory down to ``station.cli.main``
ALLOWED_DYNAMIC: set[tuple[str, str]] = set()


def core_modules() -> list[str]:
    mods = []
    for pkg in ("station", "data"):
        for f in sorted((ROOT / pkg).rglob("*.py")):
            rel = f.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__main__":
                continue   # runs the command when imported
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods.append(".".join(parts))
    return mods


def test_core_modules_exist():
    mods = core_modules()
    for m in ("station.catalog", "station.cli.core", "station.cli", "data.models", "data.db"):
        assert m in mods


def test_importing_station_and_data_loads_no_textual_or_screens():
    code = (
        "import importlib, json, sys\n"
        f"mods = {core_modules()!r}\n"
        "for m in mods: importlib.import_module(m)\n"
        "from station import cli; cli.build_parser()\n"   # every CLI module registers itself
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'screens'))\n"
        "print(json.dumps(bad))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []


def _imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call):
            # importlib.import_module("x") / __import__("x") with a literal or a module constant
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in ("import_module", "__import__") and node.args:
                a = node.args[0]
                if isinstance(a, ast.Constant) and isinstance(a.value, str):
                    yield node.lineno, a.value
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            v = node.value
            if v.split(".")[0] in FORBIDDEN and v.replace(".", "").replace("_", "").isalnum() and "." in v:
                yield node.lineno, v   # a module name kept in a string, e.g. UI_ENTRY


def test_no_forbidden_import_statically():
    problems = []
    for pkg in ("station", "data"):
        for f in sorted((ROOT / pkg).rglob("*.py")):
            rel = f.relative_to(ROOT).as_posix()
            tree = ast.parse(f.read_text(encoding="utf-8"), filename=rel)
            for line, mod in _imports(tree):
                if mod.split(".")[0] in FORBIDDEN and (rel, mod) not in ALLOWED_DYNAMIC:
                    problems.append(f"{rel}:{line} imports {mod}")
    assert problems == []


def test_console_script_is_the_composition_root(tmp_path):
    import tomllib
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["station"] == "screens.main:main"
    # a subcommand through the console script still never loads textual
    code = ("import sys, json\nfrom screens import main\n"
            "rc = main.main(['config', 'show'])\n"
            "print(json.dumps([rc, sorted(n for n in sys.modules if n.split('.')[0] == 'textual')]))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env={**__import__("os").environ, "STATION_HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    rc, loaded = json.loads(r.stdout.strip().splitlines()[-1])
    assert rc == 0 and loaded == []


def test_the_static_check_catches_a_violation():
    tree = ast.parse("def f():\n    from textual.app import App\nimport screens.sale\n"
                     "import importlib\nimportlib.import_module('textual.widgets')\n")
    assert sorted(m for _l, m in _imports(tree)) == ["importlib", "screens.sale", "textual.app",
                                                     "textual.widgets", "textual.widgets"]


def test_data_does_not_import_station():
    for f in sorted((ROOT / "data").rglob("*.py")):
        for _line, mod in _imports(ast.parse(f.read_text(encoding="utf-8"))):
            assert mod.split(".")[0] != "station", f"{f.name} imports {mod}"


def _imports_of(path: Path, module: str, modules: set[str]) -> set[str]:
    """Every module of ours that ``module`` imports, at the top or in a function."""
    import ast
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        out.update(n for n in names if n in modules and n != module)
    return out


def _import_graph() -> dict[str, set[str]]:
    files = {}
    for pkg in ("station", "screens", "data"):
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            files[".".join(parts)] = path
    modules = set(files)
    return {m: _imports_of(p, m, modules) for m, p in files.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_modules_import_each_other():
    """Not at the top, not hidden in a function, not round a longer loop: the map
    of station/, screens/ and data/ stays a tree of arrows."""
    assert _cycles(_import_graph()) == []


def test_the_cycle_check_finds_a_loop():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_screens_reach_the_database_only_through_station():
    """No screen imports the model layer: every read and write (and releasing a
    worker thread's connection) is a station/ function."""
    files = {".".join(p.relative_to(ROOT).with_suffix("").parts): p for p in (ROOT / "screens").rglob("*.py")}
    modules = set(files) | {"data", "data.db", "data.models", "data.migrations"}
    offenders = {m: sorted(n for n in _imports_of(p, m, modules) if n.startswith("data"))
                 for m, p in files.items()}
    assert {m: n for m, n in offenders.items() if n} == {}
