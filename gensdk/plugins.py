"""Domain plugins, discovered through the entry point group ``gensdk.plugins``.

A third-party package registers one with, in its pyproject.toml::

    [project.entry-points."gensdk.plugins"]
    mydomain = "my_package:plugin"

where ``plugin`` is a :class:`Plugin` (or an object with the same attributes). Importing the plugin,
or the modules it names in ``registers``, registers its models (``@register_model``), trained artifacts
(``@register_artifact``) and data sets (``@register_dataset``) with the core; its Typer ``app`` becomes
``gensdk <name> ...``; its ``train_recipe`` trains the recipes that say ``plugin: <name>`` (``gensdk train RECIPE``).

Every ``gensdk`` command, ``--help`` included, builds the sub-apps of all plugins, so the module the entry
point names should be light: its sub-app imports torch and the domain's packages inside the commands, and
the modules that register (which import torch) are named in ``registers`` and imported only where the
registries are read. ``lazy_exports`` keeps the plugin's Python API at the package's top level all the same.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable

import typer

from gensdk.errors import UserError
from gensdk.extras import MissingExtra

GROUP = "gensdk.plugins"


@dataclass
class Plugin:
    name: str
    description: str
    app: typer.Typer | None = None
    commands: dict[str, Callable[..., Any]] = field(default_factory=dict)  # top-level shortcuts: gensdk <name>
    # train_recipe(recipe, out, resume=, overwrite=, progress=) -> the trained model's folder: a recipe
    # with ``plugin: <name>`` (its data, model, train sections in the domain's terms, see gensdk.api.train)
    train_recipe: Callable[..., Path] | None = None
    # opens a saved folder of one of its models that is no artifact (gensdk.load), where load_model
    # alone does not do (a codec exported for coding lacks its training-only weights)
    open_folder: Callable[[Any, str], Any] | None = None
    version: str = ""
    package: str = ""  # the module its entry point names (set by discover): its models are those defined under it
    # the modules whose import registers its models, artifacts and data sets (they import torch): discover
    # imports them, except for building the CLI (discover(register=False))
    registers: tuple[str, ...] = ()


@dataclass
class PluginFailure:
    name: str
    error: str
    missing: MissingExtra | None = None  # the plugin needs an extra that is not installed: not a fault


def discover(register: bool = True) -> tuple[dict[str, Plugin], list[PluginFailure]]:
    """Load every installed plugin; a broken one is reported, never fatal to the rest. ``register=False``
    leaves out the modules that register its models (``Plugin.registers``): the CLI needs only the sub-apps."""
    plugins: dict[str, Plugin] = {}
    failures: list[PluginFailure] = []
    for ep in entry_points(group=GROUP):
        try:
            plugin = ep.load()
            plugin = plugin() if isinstance(plugin, type) else plugin
            if not getattr(plugin, "name", None):
                raise TypeError("the entry point's object has no name")
            for module in getattr(plugin, "registers", ()) if register else ():
                importlib.import_module(module)
            if not plugin.version and ep.dist is not None:
                plugin.version = ep.dist.version
            if not getattr(plugin, "package", ""):
                plugin.package = ep.module
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


def owned(plugin: Plugin) -> dict[str, list[str]]:
    """The registry names a (loaded) plugin defines, from the registries themselves: the model classes
    and the artifacts whose code lives under its package. A model of the core that it trains (a token
    LM) is not its own."""
    from gensdk.core.artifact import ARTIFACTS  # the registries import torch: only where they are read
    from gensdk.core.model import MODELS

    package = getattr(plugin, "package", "")

    def inside(cls: type) -> bool:
        return bool(package) and (cls.__module__ == package or cls.__module__.startswith(package + "."))

    return {"models": sorted(name for name, cls in MODELS.items() if inside(cls)),
            "artifacts": sorted(name for name, cls in ARTIFACTS.items() if inside(cls))}


def find_plugin(name: str, needed_by: str) -> Plugin:
    """The installed plugin ``name``, with one clear line when it is missing, broken or needs an extra."""
    found, failures = discover()
    for failure in failures:
        if failure.name == name:
            if failure.missing is not None:
                raise failure.missing
            raise UserError(f"{needed_by}: plugin {name!r} fails to load ({failure.error})")
    if name not in found:
        raise UserError(f"{needed_by}: plugin {name!r} is not installed; installed: {', '.join(sorted(found)) or 'none'}")
    return found[name]


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A plugin package's module ``__getattr__`` (PEP 562): ``exports`` maps each name of its Python API to
    the submodule that defines it, imported on first use, so that importing the package to build the CLI
    stays light while ``from gensdk_plugins.characters import render_dataset`` still works."""

    def attribute(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        setattr(sys.modules[package], name, value)  # later reads skip this function
        return value

    return attribute
