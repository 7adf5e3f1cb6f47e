"""The Python API; the CLI is a thin layer over these functions.

    import gensdk
    model = gensdk.train("recipes/ring-wgan-gp.yaml", overrides=["train.steps=500"])
    points = model.sample(1000)
"""

from __future__ import annotations

import copy
import inspect
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from gensdk.core import registry  # noqa: F401  (registers the core models)
from gensdk.core.artifact import ARTIFACT_KEY, ARTIFACTS, PLUGIN_KEY, Artifact, artifact_folder
from gensdk.core.data import DATASETS, Dataset, load_dataset
from gensdk.core.device import resolve_device
from gensdk.core.evaluation import evaluate as evaluate_model
from gensdk.core.io import atomic_write, write_json, write_png
from gensdk.core.model import MODELS, GenerativeModel, build_model, check_sample_options, load_model, read_model_config
from gensdk.core.trainer import Trainer, TrainConfig
from gensdk.errors import UserError
from gensdk.plugins import discover, find_plugin, owned

RECIPE_KEYS = {"plugin", "data", "valid", "model", "train", "evaluate", "out"}
PLUGIN_EVALUATE_KEYS = {"data", "samples", "seed"}  # a plugin recipe's evaluate section: the artifact's evaluate


# --- recipes -------------------------------------------------------------------------------------
def parse_override(text: str) -> tuple[list[str], Any]:
    key, sep, value = text.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise UserError(f"--set {text!r}: expected key.path=value, e.g. train.steps=500")
    try:
        return key.split("."), yaml.safe_load(value)
    except Exception:  # YAMLError, and PyYAML's plain errors on bad values (see load_recipe)
        raise UserError(f"--set {text!r}: the value is not valid YAML") from None


def load_recipe(source: str | os.PathLike | dict[str, Any], overrides: list[str] = ()) -> dict[str, Any]:
    """A recipe from a YAML file or a dict, with ``key.path=value`` overrides applied."""
    if isinstance(source, dict):
        recipe, name = copy.deepcopy(source), "recipe"
    else:
        path, name = Path(source), str(source)
        if not path.is_file():
            raise UserError(f"{path}: recipe file not found")
        try:
            recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:  # an image or other binary file given where a recipe belongs
            raise UserError(f"{path}: not a YAML recipe (not UTF-8 text); give a .yaml file like those "
                            "in recipes/") from None
        except yaml.YAMLError as err:
            where = getattr(err, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            raise UserError(f"{path}: not valid YAML{line}") from None
        except Exception as err:  # PyYAML's constructors raise plain errors (`!!int x`, a date 2001-02-30),
            # and nesting deeper than Python's recursion limit a RecursionError
            raise UserError(f"{path}: not valid YAML ({err.__class__.__name__}: "
                            f"{str(err).splitlines()[0] if str(err) else ''})") from None
    if not isinstance(recipe, dict):
        raise UserError(f"{name}: a recipe is a mapping with keys {', '.join(sorted(RECIPE_KEYS))}")
    for text in overrides:
        keys, value = parse_override(text)
        node = recipe
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise UserError(f"--set {text!r}: {key!r} is not a mapping in the recipe")
        node[keys[-1]] = value
    unknown = set(recipe) - RECIPE_KEYS
    if unknown:
        raise UserError(f"{name}: unknown key {sorted(unknown, key=str)[0]!r}; a recipe has {', '.join(sorted(RECIPE_KEYS))}")
    for key in ("data", "model"):
        section = recipe.get(key)
        if not isinstance(section, dict) or not isinstance(section.get("name"), str):
            raise UserError(f"{name}: '{key}' must be a mapping with a 'name'")
    for key in ("train", "evaluate", "valid"):
        if not isinstance(recipe.setdefault(key, {}) or {}, dict):
            raise UserError(f"{name}: '{key}' must be a mapping")
    if "plugin" in recipe:
        if not isinstance(recipe["plugin"], str):
            raise UserError(f"{name}: 'plugin' must be the name of an installed plugin, e.g. tabular")
        if recipe["valid"]:
            raise UserError(f"{name}: a plugin's recipe has no 'valid' section (the plugin holds out its own data)")
        unknown = set(recipe["evaluate"] or {}) - PLUGIN_EVALUATE_KEYS
        if unknown:
            raise UserError(f"{name}: evaluate: unknown option {sorted(unknown, key=str)[0]!r}; "
                            f"options: {', '.join(sorted(PLUGIN_EVALUATE_KEYS))}")
    return recipe


def recipe_section(recipe: dict[str, Any], key: str, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """A plugin recipe's section (``data``, ``model`` or ``train``, without ``name``) over the plugin's
    defaults ``known``; a key the plugin does not know is one clear line. ``known=None``: any keys (a
    model's options, which its constructor checks)."""
    section = {k: v for k, v in (recipe.get(key) or {}).items() if k != "name"}
    unknown = set(section) - set(known or section)
    if unknown:
        raise UserError(f"recipe {key}: unknown option {sorted(unknown, key=str)[0]!r} for plugin "
                        f"{recipe.get('plugin')!r}; options: {', '.join(sorted(known)) or 'none'}")
    return {**(known or {}), **section}


def dataset_from(spec: dict[str, Any]) -> Dataset:
    options = {k: v for k, v in spec.items() if k != "name"}
    if spec["name"] not in DATASETS:
        discover()  # importing the plugins registers their data sets
    return load_dataset(spec["name"], **options)


def model_for(spec: dict[str, Any], data: Dataset) -> GenerativeModel:
    """Build the recipe's model, filling ``data_shape`` / ``num_classes`` / ``vocab_size`` from the data."""
    name = spec["name"]
    options = {k: v for k, v in spec.items() if k != "name"}
    if name not in MODELS:
        discover()  # importing the plugins registers their models
    if name in MODELS:
        params = inspect.signature(MODELS[name].__init__).parameters
        if "data_shape" in params:
            options.setdefault("data_shape", list(data.shape))
        if "image_size" in params and data.x.dim() == 4:  # PixelCNN takes channels and size apart
            options.setdefault("image_size", list(data.shape[1:]))
            options.setdefault("channels", data.shape[0])
        if "num_classes" in params and options.get("conditional"):
            options["num_classes"] = data.num_classes
        options.pop("conditional", None)
    return build_model(name, **options)


# --- the verbs -----------------------------------------------------------------------------------
def train(recipe: str | os.PathLike | dict[str, Any], overrides: list[str] = (), out: str | os.PathLike | None = None,
          resume: bool = False, overwrite: bool = False, progress: bool = True) -> GenerativeModel | Artifact:
    """Train what a recipe describes; writes checkpoint, log, ``model/`` and ``metrics.json`` to ``out``.

    A recipe with ``plugin: NAME`` is that plugin's: its ``data``, ``model`` and ``train`` sections are
    in the domain's terms (those of ``gensdk NAME train``), the plugin trains it (``Plugin.train_recipe``)
    and ``evaluate`` (``data``, ``samples``, ``seed``) runs the trained artifact's own evaluation."""
    recipe = load_recipe(recipe, overrides)
    out_dir = run_folder(recipe, out)
    if "plugin" in recipe:
        return train_plugin_recipe(recipe, out_dir, resume, overwrite, progress)
    data = dataset_from(recipe["data"])
    cfg = TrainConfig.from_dict({"progress": progress, **recipe["train"]})
    torch.manual_seed(cfg.seed)  # the same seed gives the same initial weights
    model = model_for(recipe["model"], data)
    valid = dataset_from({**recipe["data"], **recipe["valid"]}).tensors() if recipe["valid"] else None
    trainer = Trainer(model, data.tensors(), cfg, out_dir, valid=valid)
    model = trainer.fit(resume=resume, overwrite=overwrite)
    if trainer.dist.main:
        write_json(out_dir / "recipe.json", recipe)
        (out_dir / "metrics.json").unlink(missing_ok=True)
        if recipe["evaluate"]:
            write_json(out_dir / "metrics.json", evaluate_recipe(model, recipe))
    return model


def train_plugin_recipe(recipe: dict[str, Any], out_dir: Path, resume: bool, overwrite: bool,
                        progress: bool) -> GenerativeModel | Artifact:
    """The plugin trains; the core keeps the recipe and runs the evaluation, as for its own models."""
    plugin = find_plugin(recipe["plugin"], "recipe")
    if getattr(plugin, "train_recipe", None) is None:
        raise UserError(f"recipe: plugin {plugin.name!r} trains no recipes; see `gensdk {plugin.name} train`")
    folder = plugin.train_recipe(recipe, out_dir, resume=resume, overwrite=overwrite, progress=progress)
    trained = load(folder, device=str(resolve_device(str(recipe["train"].get("device", "auto")))))
    write_json(out_dir / "recipe.json", recipe)
    (out_dir / "metrics.json").unlink(missing_ok=True)
    if recipe["evaluate"]:
        if not isinstance(trained, Artifact):  # a plugin whose models are evaluated by its own verb says so up front
            raise UserError(f"recipe: plugin {plugin.name!r} evaluates with `gensdk {plugin.name} evaluate`")
        spec = recipe["evaluate"]
        write_json(out_dir / "metrics.json", trained.evaluate(spec.get("data"), n=spec.get("samples"),
                                                              seed=spec.get("seed", 0)))
    return trained


def run_folder(recipe: dict[str, Any], out: str | os.PathLike | None = None) -> Path:
    """Where a run writes: ``out`` if given, else the recipe's ``out``, else runs/<model name>."""
    return Path(out or recipe.get("out") or Path("runs") / str(recipe["model"]["name"]))


def evaluate_recipe(model: GenerativeModel, recipe: dict[str, Any]) -> dict[str, Any]:
    if "plugin" in recipe:  # its training evaluated it already (metrics.json); its model is evaluated its own way
        raise UserError(f"a recipe of plugin {recipe['plugin']!r}: evaluate with `gensdk {recipe['plugin']} evaluate`")
    spec = dict(recipe["evaluate"])
    n = spec.pop("samples", 10_000)
    seed = spec.pop("seed", 0)
    nll_options = spec.pop("nll", None)
    sample_options = spec.pop("sample", None) or {}
    data_spec = {**recipe["data"], **spec.pop("data", {})}
    if spec:
        raise UserError(f"evaluate: unknown option {sorted(spec)[0]!r}; options: samples, seed, nll, data, sample")
    if not isinstance(sample_options, dict):
        raise UserError("evaluate.sample must be a mapping of sampling options, e.g. {steps: 20}")
    check_sample_options(model, sample_options)
    return evaluate_model(model, dataset_from(data_spec), n_samples=n, seed=seed, nll_options=nll_options,
                          sample_options=sample_options)


def load(path: str | os.PathLike, device: str = "cpu") -> GenerativeModel | Artifact:
    """Open any saved folder, or the ``model/`` inside a run folder: a plugin's artifact where its
    config.json names one (``gensdk.core.artifact``), else a model. Plugins are discovered through
    their entry points when the artifact or the model is not registered yet."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such model folder")
    path = artifact_folder(path)
    meta = read_model_config(path)
    if ARTIFACT_KEY in meta:
        return artifact_class(meta, path).load(path, device)
    known = MODELS.get(meta["model"])
    if known is None or not known.__module__.startswith("gensdk."):  # a plugin's model, or not registered yet
        for plugin in discover()[0].values():  # importing a plugin registers its models
            opener = getattr(plugin, "open_folder", None)
            if opener is not None and meta["model"] in owned(plugin)["models"]:
                return opener(path, device)  # a folder that its plugin opens its own way
    return load_model(path, device)


def plugin_of(model_name: str) -> str | None:
    """The installed plugin that defines a registered model, if one does."""
    return next((name for name, plugin in discover()[0].items() if model_name in owned(plugin)["models"]), None)


def artifact_class(meta: dict[str, Any], path: Path) -> type[Artifact]:
    """The registered class of the artifact that config.json names, with one clear line when its
    plugin is not installed (or needs an extra) or does not define it."""
    name, plugin = meta[ARTIFACT_KEY], meta.get(PLUGIN_KEY)
    if name not in ARTIFACTS:  # loading its plugin registers it
        find_plugin(plugin, f"{path} (a {name!r} folder)")
    if name not in ARTIFACTS:
        raise UserError(f"{path}: unknown artifact {name!r}; known: {', '.join(sorted(ARTIFACTS)) or 'none'}")
    return ARTIFACTS[name]


def sample(model: GenerativeModel | Artifact, n: int, out: str | os.PathLike, seed: int = 0, **kw: Any) -> Path:
    """Draw ``n`` samples and write them: an artifact in its domain's formats (``write_samples``); a
    model's as ``.npy`` (any), ``.csv`` (points) or ``.png`` (an image grid)."""
    out = Path(out)
    if n < 1:
        raise UserError(f"n must be positive, got {n}")
    if isinstance(model, Artifact):
        if kw:  # an artifact samples in its domain's terms: its plugin's own sample command takes options
            raise UserError(f"a {model.title} takes no sampling options here; see `gensdk {model.plugin_name} sample`")
        return model.write_samples(n, out, seed=seed)
    if out.suffix not in (".npy", ".csv", ".png"):
        raise UserError(f"{out}: output must end in .npy, .csv or .png")
    check_sample_options(model, kw)
    torch.manual_seed(seed)
    x = model.sample(n, **kw).float().cpu()
    if out.suffix == ".npy":
        atomic_write(out, lambda path: np.save(path, x.numpy()))
    elif out.suffix == ".csv":
        if x.dim() != 2:
            raise UserError(f"{out}: CSV holds points (n x d); these samples have shape {tuple(x.shape)}")
        atomic_write(out, lambda path: np.savetxt(path, x.numpy(), delimiter=",", fmt="%.6g"))
    else:
        from gensdk.core.plot import image_grid, scatter

        image = image_grid(x) if x.dim() == 4 else scatter([x], ["generated"])
        write_png(out, image)
    return out


def parse_options(pairs: list[str], flag: str = "--option") -> dict[str, Any]:
    """``key=value`` pairs (values read as YAML: 20, 1.5, heun, [1, 2]) as a dict."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"{flag} {pair!r}: expected key=value, e.g. steps=20")
        try:
            options[key] = yaml.safe_load(value)
        except Exception:  # YAMLError, and PyYAML's plain errors on bad values (`!!int x`)
            raise UserError(f"{flag} {pair!r}: the value is not valid YAML") from None
    return options


def evaluate(model: GenerativeModel | Artifact, data: dict[str, Any] | Dataset | str | None,
             n_samples: int | None = 10_000, seed: int = 0, **kw: Any) -> dict[str, Any]:
    """The metrics of the model's field: an artifact's own (``data``: the real data in its domain's
    form, e.g. a table file, where its evaluation needs one); a model's against a core data set."""
    if isinstance(model, Artifact):
        return model.evaluate(None if data is None else str(data), n=n_samples, seed=seed)
    dataset = data if isinstance(data, Dataset) else dataset_from(data)
    return evaluate_model(model, dataset, n_samples=n_samples, seed=seed, **kw)
