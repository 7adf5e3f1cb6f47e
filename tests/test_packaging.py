"""The installed package names: every folder of code is listed in pyproject.toml, and nothing imports the
folder name ``plugins`` (which installs as ``gensdk_plugins``)."""

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_installed():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name: ROOT / tool["package-dir"].get(name.split(".")[0], name.split(".")[0])
               for name in tool["packages"]}
    listed = {folders[name].joinpath(*name.split(".")[1:]) for name in tool["packages"]}
    with_code = {path.parent for top in ("gensdk", "plugins") for path in (ROOT / top).rglob("*.py")
                 if "__pycache__" not in path.parts}
    assert with_code - listed == set(), "package folders missing from pyproject.toml's packages"
    assert listed - with_code == set(), "pyproject.toml lists packages that have no code"


def test_nothing_imports_the_folder_name():
    offenders = []
    for top in ("gensdk", "plugins", "tests", "benchmarks"):
        for path in (ROOT / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
                offenders += [f"{path.relative_to(ROOT)}:{node.lineno}" for n in names if n.split(".")[0] == "plugins"]
    assert offenders == []
