"""A trained artifact: what a plugin hands its users after training, saved as one folder.

An artifact is the main model (a ``GenerativeModel``), the processors fitted with it (a table's
transformer, a vocabulary, a filtering classifier) and metadata (settings, how it was trained). Its
folder is a core model folder with more in it: ``config.json`` holds the main model (``model``,
``config``), ``"artifact"`` (the registry name), ``"plugin"`` (the plugin that defines it), the
artifact's state under ``state_key`` and the training record; ``model.safetensors`` the weights;
``files()`` the fitted processors. ``save`` writes all of it in one rename (``write_folder``), so a
folder is whole or absent.

A plugin registers its class with ``@register_artifact(name, plugin=...)``; ``gensdk.load`` finds it
by the name in ``config.json``, discovering plugins through their entry points when needed (the core
never imports a plugin).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, ClassVar, TypeVar

from gensdk.core.device import resolve_device
from gensdk.core.model import GenerativeModel, load_model, read_model_config, save_model
from gensdk.core.trainer import MODEL_DIR  # a training run's folder holds its artifact in model/
from gensdk.errors import UserError

ARTIFACTS: dict[str, type["Artifact"]] = {}
ARTIFACT_KEY, PLUGIN_KEY = "artifact", "plugin"

A = TypeVar("A", bound="Artifact")


def register_artifact(name: str, plugin: str) -> Callable[[type[A]], type[A]]:
    """Class decorator: ``gensdk.load`` opens folders whose config.json says ``"artifact": name``."""

    def wrap(cls: type[A]) -> type[A]:
        if name in ARTIFACTS and ARTIFACTS[name] is not cls:
            raise ValueError(f"artifact name {name!r} is already registered by {ARTIFACTS[name].__name__}")
        cls.artifact_name, cls.plugin_name = name, plugin
        cls.title = cls.__dict__.get("title") or name.replace("-", " ")
        ARTIFACTS[name] = cls
        return cls

    return wrap


def artifact_folder(folder: str | os.PathLike) -> Path:
    """The folder itself, or the ``model/`` of a training run's folder."""
    folder = Path(folder)
    if not (folder / "config.json").is_file() and (folder / MODEL_DIR / "config.json").is_file():
        return folder / MODEL_DIR
    return folder


def is_saved_model(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a saved model's folder or a run folder holding one (not a data folder): the
    domains' evaluate verbs take either their data files or a trained model."""
    return Path(path).is_dir() and (artifact_folder(path) / "config.json").is_file()


class Artifact:
    """Base of every plugin's trained thing. A subclass sets ``model`` and gives:

      - ``state() -> dict``: its settings and small fitted processors, as JSON;
      - ``restore(folder, state, model, device)``: the artifact again from what ``save`` wrote;
      - ``files() -> {name: write(path)}``: larger fitted processors, each its own file (or folder);
      - ``write_samples(n, out, seed)`` and ``evaluate(data, n, seed)``: what ``gensdk sample`` and
        ``gensdk evaluate`` do with it, in the domain's own formats and metrics.
    """

    artifact_name: ClassVar[str] = ""
    plugin_name: ClassVar[str] = ""
    # config.json's key for state(); a plugin keeps the key its folders had before artifacts existed,
    # so that those folders still load
    state_key: ClassVar[str] = "state"
    title: ClassVar[str] = ""  # what errors call it ("molecule generator"); default: the name, dashes as spaces
    sample_formats: ClassVar[str] = ""  # what `gensdk sample -o` takes, for help and errors
    model: GenerativeModel
    record: dict[str, Any] = {}  # config.json entries on how it was trained (the Trainer's settings); kept as read

    # --- a subclass gives ----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def restore(cls: type[A], folder: Path, state: dict[str, Any], model: GenerativeModel, device: Any) -> A:
        raise NotImplementedError

    def files(self) -> dict[str, Callable[[Path], Any]]:
        return {}

    def write_samples(self, n: int, out: Path, seed: int = 0) -> Path:
        raise UserError(f"a {self.title} does not sample")

    def evaluate(self, data: str | None = None, n: int | None = None, seed: int = 0) -> dict[str, Any]:
        raise UserError(f"a {self.title} has no evaluation")

    # --- the one save and the one load ---------------------------------------------------------
    def save(self, folder: str | os.PathLike, record: dict[str, Any] | None = None) -> Path:
        """Write the artifact atomically. ``record``: how it was trained (the Trainer passes its
        settings when it saves a run's ``model/`` with this method, see ``Trainer.fit(save=...)``)."""
        if record is not None:
            self.record = dict(record)
        extra = {**self.record, ARTIFACT_KEY: self.artifact_name, PLUGIN_KEY: self.plugin_name,
                 self.state_key: self.state()}
        return save_model(self.model, folder, extra=extra, files=self.files())

    @classmethod
    def load(cls: type[A], folder: str | os.PathLike, device: str = "auto") -> A:
        """The artifact in ``folder`` (or in a training run's ``model/``), on ``device``."""
        folder = artifact_folder(folder)
        meta = read_model_config(folder)
        state = meta.get(cls.state_key)
        if not isinstance(state, dict):
            raise UserError(f"{folder}: a saved {meta['model']!r} model, not a {cls.title}")
        device = resolve_device(device)
        artifact = cls.restore(folder, state, load_model(folder, map_location=device), device)
        skip = {"model", "config", ARTIFACT_KEY, PLUGIN_KEY, cls.state_key}
        artifact.record = {k: v for k, v in meta.items() if k not in skip}
        return artifact
