"""Domain plugins, discovered through the entry point group ``gensdk.plugins``.

A third-party package registers one with, in its pyproject.toml::

    [project.entry-points."gensdk.plugins"]
    mydomain = "my_package:plugin"

where ``plugin`` is a :class:`Plugin` (or an object with the same attributes). Importing the plugin
registers its models (``@register_model``) and data sets (``@register_dataset``) with the core;
its Typer ``app`` becomes ``gensdk <name> ...``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable

import typer

from gensdk.extras import MissingExtra

GROUP = "gensdk.plugins"


@dataclass
class Plugin:
    name: str
    description: str
    app: typer.Typer | None = None
    load_data: Callable[[str], Any] | None = None        # files of the domain -> a core Dataset
    evaluate: Callable[[Any, Any], dict[str, float]] | None = None  # the field's metrics
    models: list[str] = field(default_factory=list)     # registry names this plugin adds
    commands: dict[str, Callable[..., Any]] = field(default_factory=dict)  # top-level shortcuts: gensdk <name>
    # opens a saved folder of one of ``models`` that is no artifact (gensdk.load), where load_model
    # alone does not do (a codec exported for coding lacks its training-only weights)
    open_folder: Callable[[Any, str], Any] | None = None
    version: str = ""


@dataclass
class PluginFailure:
    name: str
    error: str
    missing: MissingExtra | None = None  # the plugin needs an extra that is not installed: not a fault


def discover() -> tuple[dict[str, Plugin], list[PluginFailure]]:
    """Load every installed plugin; a broken one is reported, never fatal to the rest."""
    plugins: dict[str, Plugin] = {}
    failures: list[PluginFailure] = []
    for ep in entry_points(group=GROUP):
        try:
            plugin = ep.load()
            plugin = plugin() if isinstance(plugin, type) else plugin
            if not getattr(plugin, "name", None):
                raise TypeError("the entry point's object has no name")
            if not plugin.version and ep.dist is not None:
                plugin.version = ep.dist.version
            plugins[plugin.name] = plugin
        except MissingExtra as err:  # said only when the plugin's command is used (see cli.add_plugin_apps)
            failures.append(PluginFailure(ep.name, str(err), missing=err))
        except Exception as err:  # a third party's import error must not break the CLI
            failures.append(PluginFailure(ep.name, f"{type(err).__name__}: {err}"))
    return plugins, failures


def warn_failures(failures: list[PluginFailure]) -> None:
    """Warn of plugins that are installed but broken; one whose extra is not installed is not broken."""
    for failure in failures:
        if failure.missing is None:
            print(f"warning: plugin {failure.name!r} failed to load ({failure.error})", file=sys.stderr)
