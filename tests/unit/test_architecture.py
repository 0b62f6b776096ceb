"""The package keeps its two floors (docs/architecture.md), read from the source with ``ast``.

- the core never imports a feature;
- a feature imports another feature only through its public module (the package itself,
  ``from landingpad.deploy import DomainManager``), never one of its inner modules;
- no two packages import each other, directly or round a longer circle.

Every import counts, at module level or inside a function: a lazy import is still a
dependency, and so is ``importlib.import_module("landingpad....")`` (or ``__import__``,
werkzeug's ``import_string``) with a written name. Features are loaded by name only
where the core composes them (the app factory's FEATURES, the CLI's COMMANDS), and
those names are checked here too.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import landingpad
from landingpad.web.app import FEATURES

PACKAGE = Path(landingpad.__file__).parent
CORE = {"settings", "sites", "storage", "mail", "web", "files", "logs", "cli", "public", "values",
        "wsgi", "resolver"}


def module_name(path: Path) -> str:
    parts = ["landingpad", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _parse(path: Path) -> ast.Module:
    source = path.read_text()
    for attempt in range(3):
        try:
            return ast.parse(source, str(path))
        except SystemError:
            # CPython 3.11: "AST constructor recursion depth mismatch" when another
            # thread compiles at the same moment (gh-106905; a background thread an
            # earlier test's app left, rendering a template). Not this file's fault.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def imports_of(path: Path) -> set[str]:
    """Every landingpad module ``path`` imports, by absolute name (``from a import b``:
    ``a.b`` when b is a submodule, else ``a``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(_parse(path)):
        if isinstance(node, ast.Call) and _loader(node.func) and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            found.add(node.args[0].value.partition(":")[0])
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if _is_module(sub) else base)
    return {m for m in found if m == "landingpad" or m.startswith("landingpad.")}


def _loader(func: ast.expr) -> bool:
    """Whether a call imports the module its first argument names."""
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in ("import_module", "__import__", "import_string")


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def top(name: str) -> str:
    """The top-level part a module belongs to ('' for the package root)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(root.rglob("*.py"))}


def violations(edges: dict[str, set[str]]) -> list[str]:
    found = []
    for source, targets in sorted(edges.items()):
        here = top(source)
        for target in sorted(targets):
            there = top(target)
            if there in ("", here):
                continue
            if here in CORE | {""} and there not in CORE:
                found.append(f"core {source} imports feature {target}")
            elif here not in CORE and there not in CORE and target != f"landingpad.{there}":
                found.append(f"{source} imports {target}: use landingpad.{there}, "
                             "its public module")
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Circles among the top-level parts (Tarjan's strongly connected components)."""
    parts: dict[str, set[str]] = defaultdict(set)
    for source, targets in edges.items():
        for target in targets:
            if top(target) and top(source) != top(target):
                parts[top(source)].add(top(target))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(parts[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(parts):
        if node not in index:
            visit(node)
    return found


def test_the_core_never_imports_a_feature_and_features_meet_only_through_public_modules():
    assert violations(graph()) == []


def test_no_two_parts_of_the_package_import_each_other():
    assert cycles(graph()) == []


def test_every_command_the_cli_loads_by_name_is_a_click_command_of_that_part():
    import click

    from landingpad.cli import COMMANDS

    for verb, target in COMMANDS.items():
        module, _, attr = target.partition(":")
        assert _is_module(module), target
        assert isinstance(getattr(importlib.import_module(module), attr), click.Command), verb


def test_every_feature_the_app_loads_by_name_is_a_feature_with_init_app():
    for name in FEATURES:
        assert top(name) not in CORE
        assert (PACKAGE / top(name) / "__init__.py").is_file()
        assert "def init_app" in (PACKAGE / top(name) / "__init__.py").read_text()


# The checks themselves, on a small package written for them: each rule can fail.

@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "landingpad"

    def write(files: dict[str, str]) -> dict[str, set[str]]:
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        monkeypatch.setattr(sys.modules[__name__], "PACKAGE", root)
        return graph(root)

    return write


BASE = {"__init__.py": "", "web/__init__.py": "", "web/app.py": "", "signup/__init__.py": "",
        "signup/views.py": "", "deploy/__init__.py": "", "deploy/domains.py": ""}


def test_a_core_module_importing_a_feature_is_refused_even_inside_a_function(fake):
    edges = fake({**BASE, "web/app.py": "def f():\n    from landingpad.signup import views\n"})
    assert violations(edges) == ["core landingpad.web.app imports feature landingpad.signup.views"]


def test_a_feature_reaching_into_another_features_module_is_refused(fake):
    edges = fake({**BASE, "signup/views.py": "from landingpad.deploy.domains import X\n"})
    assert violations(edges) == [
        "landingpad.signup.views imports landingpad.deploy.domains: "
        "use landingpad.deploy, its public module"]
    edges = fake({**BASE, "signup/views.py": "from landingpad.deploy import DomainManager\n"})
    assert violations(edges) == []


def test_a_core_module_loading_a_feature_module_by_its_written_name_is_refused(fake):
    edges = fake({**BASE, "web/app.py": "import importlib\n"
                  "def f():\n    return importlib.import_module('landingpad.signup.views')\n"})
    assert violations(edges) == ["core landingpad.web.app imports feature landingpad.signup.views"]
    edges = fake({**BASE, "web/app.py": "import importlib\nNAMES = ('landingpad.signup',)\n"
                  "def f():\n    return [importlib.import_module(n) for n in NAMES]\n"})
    assert violations(edges) == []  # a name from a table: FEATURES, checked above


def test_relative_imports_are_resolved_like_absolute_ones(fake):
    edges = fake({**BASE, "signup/views.py": "from ..deploy import domains\n"})
    assert "landingpad.deploy.domains" in edges["landingpad.signup.views"]


def test_a_circle_between_features_is_found(fake):
    edges = fake({**BASE, "signup/views.py": "from landingpad.deploy import X\n",
                  "deploy/domains.py": "import landingpad.signup\n"})
    assert cycles(edges) == [["deploy", "signup"]]
