"""Every ``gensdk`` command, ``--help`` included, first builds the whole CLI: the core's verbs and every installed
plugin's sub-app. That must not import torch (1.2 s of every start) nor the domains' heavy packages; commands
import them when they run (gensdk/plugins.py says how a plugin keeps to that)."""

import importlib
import json
import pkgutil
import subprocess
import sys
from importlib.metadata import entry_points

from gensdk.plugins import discover
from helpers import ENV, gensdk

HEAVY = {"torch", "pandas", "rdkit", "sklearn", "scipy", "sdv"}

# What gensdk.cli.main does before it runs a command (discover the plugins, mount their sub-apps), then
# `gensdk --help` and `gensdk <plugin> --help` for each plugin named on the command line.
BUILD_AND_HELP = """
import json, sys
from gensdk import cli

cli.add_plugin_apps()
for args in ([], *([name] for name in sys.argv[1:])):
    try:
        cli.app(args=[*args, "--help"], prog_name="gensdk")
    except SystemExit as done:
        assert done.code == 0, (args, done.code)
assert "torch" not in sys.modules
print(json.dumps(sorted(sys.modules)))
"""


def plugin_names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group="gensdk.plugins"))


def test_building_the_cli_and_its_help_imports_no_torch():
    names = plugin_names()
    assert {"characters", "tabular", "molecules", "architectures", "compression", "fuzzing"} <= set(names)
    result = subprocess.run([sys.executable, "-c", BUILD_AND_HELP, *names], capture_output=True, text=True, env=ENV)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # no plugin failed to load
    for name in names:  # each plugin's sub-app was mounted and printed its own help
        assert f"Usage: gensdk {name} [OPTIONS] COMMAND [ARGS]..." in result.stdout, name
    imported = set(json.loads(result.stdout.splitlines()[-1]))
    assert "gensdk_plugins.tabular.cli" in imported  # the plugins were really imported
    assert imported & HEAVY == set()


def test_help_lists_every_plugin_and_its_top_level_commands():
    from gensdk.plugins import discover

    shortcuts = [name for plugin in discover(register=False)[0].values() for name in plugin.commands]
    assert {"augment", "compress", "decompress"} <= set(shortcuts)
    result = gensdk("--help", check=True)
    listed = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 2}
    for name in [*plugin_names(), *shortcuts, "train", "sample", "evaluate", "plugins", "toy"]:
        assert name in listed, (name, result.stdout)


def test_no_lazy_export_shares_a_name_with_a_submodule():
    # importing a submodule sets it on the package, and the package's lazy __getattr__ is then never asked:
    # a function named like its module would read as the module (as characters.augment once did)
    for plugin in discover()[0].values():
        package = importlib.import_module(plugin.package)
        if hasattr(package, "__path__"):
            submodules = {m.name for m in pkgutil.iter_modules(package.__path__)}
            assert not set(getattr(package, "__all__", [])) & submodules, plugin.name
