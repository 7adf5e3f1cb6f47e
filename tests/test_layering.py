"""The layering rules of DESIGN.md, checked on the source: the core imports no plugin, a plugin imports no other
plugin, and no two project modules import each other, directly or round a longer loop.

Every import counts: top level, inside functions and methods, under ``if TYPE_CHECKING:``, relative ones, and
``importlib.import_module("...")`` with a string literal. An edge goes to the module named, not to the packages
above it: ``import a.b.c`` runs ``a/__init__`` too, but counting that would make every package whose
``__init__`` imports a submodule a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"gensdk": "gensdk", "gensdk_plugins": "plugins"}  # import name -> folder (pyproject package-dir)


def module_names(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under the given top-level packages."""
    names = {}
    for package, folder in packages.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = [package, *path.relative_to(root / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            names[".".join(parts)] = path
    return names


def _literal_import(call: ast.Call) -> str | None:
    """The module of ``importlib.import_module("x")`` / ``import_module("x")`` / ``__import__("x")``."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name in ("import_module", "__import__") and call.args and isinstance(call.args[0], ast.Constant) \
            and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules that ``module`` (in ``path``) imports anywhere in its body."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def absolute(name: str, level: int) -> str:
        if level == 0:
            return name
        base = package.split(".")
        base = base[:len(base) - (level - 1)]
        return ".".join(base + ([name] if name else []))

    def project(name: str) -> str | None:
        """The module itself if it is ours, else the nearest project package above it (None if neither)."""
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = absolute(node.module or "", node.level)
            # `from a import b`: b is a submodule when a.b is a module of ours, else a name in a
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        elif isinstance(node, ast.Call) and (literal := _literal_import(node)):
            targets = [absolute(literal.lstrip("."), len(literal) - len(literal.lstrip(".")))]
        for target in targets:
            if (resolved := project(target)) and resolved != module:
                found.add(resolved)
    return found


def import_graph(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    names = module_names(root, packages)
    return {module: imports_of(module, path, set(names)) for module, path in names.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> ... -> a) for each strongly connected group of modules larger than one (Tarjan)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node: str) -> None:  # the graph has ~100 nodes: recursion is fine
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)

    cycles = []
    for group in groups:  # shortest way back to the group's first module, breadth first inside the group
        start = min(group)
        paths = {start: [start]}
        frontier = [start]
        while frontier and start not in [s for n in frontier for s in graph[n]]:
            nxt = []
            for node in frontier:
                for succ in sorted(graph[node] & group):
                    if succ not in paths:
                        paths[succ] = paths[node] + [succ]
                        nxt.append(succ)
            frontier = nxt
        last = next(n for n in frontier if start in graph[n])
        cycles.append(paths[last] + [start])
    return sorted(cycles)


def plugin_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "gensdk_plugins" and len(parts) > 1 else None


def layering_errors(graph: dict[str, set[str]]) -> list[str]:
    errors = [f"import cycle: {' -> '.join(cycle)}" for cycle in find_cycles(graph)]
    for module in sorted(graph):
        for target in sorted(graph[module]):
            if module.split(".")[0] == "gensdk" and target.split(".")[0] == "gensdk_plugins":
                errors.append(f"the core imports a plugin: {module} -> {target}")
            elif plugin_of(module) and target.split(".")[0] == "gensdk_plugins" and plugin_of(target) != plugin_of(module):
                errors.append(f"a plugin imports another plugin: {module} -> {target}")
    return errors


def test_project_layering():
    graph = import_graph(ROOT)
    assert len(graph) > 50 and "gensdk.core.trainer" in graph  # the walk found the project
    errors = layering_errors(graph)
    assert not errors, "\n".join(errors)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_checker_finds_a_cycle_hidden_in_a_function(tmp_path):
    _write(tmp_path, {
        "gensdk/__init__.py": "",
        "gensdk/core/__init__.py": "",
        "gensdk/core/a.py": "from gensdk.core import b\n",
        "gensdk/core/b.py": "import os\n\ndef late():\n    from . import c\n    return c\n",
        "gensdk/core/c.py": "class K:\n    def m(self):\n        from ..core.a import thing\n",
        "gensdk/core/d.py": "import gensdk.core.a\n",  # imports into the cycle, is not part of it
    })
    graph = import_graph(tmp_path)
    assert graph["gensdk.core.b"] == {"gensdk.core.c"}
    assert graph["gensdk.core.c"] == {"gensdk.core.a"}
    assert find_cycles(graph) == [["gensdk.core.a", "gensdk.core.b", "gensdk.core.c", "gensdk.core.a"]]
    assert layering_errors(graph) == ["import cycle: gensdk.core.a -> gensdk.core.b -> gensdk.core.c -> gensdk.core.a"]


def test_checker_finds_imports_across_layers(tmp_path):
    _write(tmp_path, {
        "gensdk/__init__.py": "",
        "gensdk/util.py": "import importlib\n\ndef f():\n    return importlib.import_module('gensdk_plugins.one.data')\n",
        "plugins/__init__.py": "",
        "plugins/one/__init__.py": "from .data import load\n",
        "plugins/one/data.py": "import gensdk.util\n\ndef load():\n    from gensdk_plugins.two import helper\n",
        "plugins/two/__init__.py": "",
        "plugins/two/helper.py": "from gensdk import util\n",
    })
    graph = import_graph(tmp_path)
    assert graph["gensdk_plugins.one"] == {"gensdk_plugins.one.data"}
    assert graph["gensdk_plugins.two.helper"] == {"gensdk.util"}
    assert layering_errors(graph) == [
        "import cycle: gensdk.util -> gensdk_plugins.one.data -> gensdk.util",
        "the core imports a plugin: gensdk.util -> gensdk_plugins.one.data",
        "a plugin imports another plugin: gensdk_plugins.one.data -> gensdk_plugins.two.helper",
    ]
