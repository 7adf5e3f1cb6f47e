"""The ``gensdk`` command line: core verbs here, one sub-app per installed plugin.

Errors a user can cause end with one line on stderr and exit code 2 (see ``main``). Every command, ``--help``
included, imports this module and builds every plugin's sub-app, so torch and the API behind the verbs are
imported inside the commands (tests/test_cli_startup.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape  # "gensdk[molecules]" is not rich markup
from rich.table import Table

from gensdk.core.io import write_json
from gensdk.errors import UserError
from gensdk.extras import MissingExtra
from gensdk.plugins import discover, owned, warn_failures

app = typer.Typer(help="gensdk: deep generative models for data augmentation and design.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False)
console = Console()


def print_metrics(title: str, results: dict[str, Any]) -> None:
    """An evaluation's flat dict as a metric/value table; the plugins' ``evaluate`` commands use it too."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in results.items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)


@app.command()
def train(recipe: Path = typer.Argument(..., help="A YAML recipe (see recipes/)."),
          set_: list[str] = typer.Option([], "--set", help="Override a recipe value: key.path=value."),
          out: Optional[Path] = typer.Option(None, help="Run folder (default: the recipe's 'out')."),
          resume: bool = typer.Option(False, help="Continue from the run folder's last checkpoint."),
          overwrite: bool = typer.Option(False, help="Replace a run already in the run folder."),
          quiet: bool = typer.Option(False, help="No progress bar.")) -> None:
    """Train the model a recipe describes; checkpoints, log.jsonl and model/ go to the run folder."""
    from gensdk import api

    recipe_dict = api.load_recipe(recipe, set_)
    api.train(recipe_dict, out=out, resume=resume, overwrite=overwrite, progress=not quiet)
    metrics_file = api.run_folder(recipe_dict, out) / "metrics.json"
    if metrics_file.exists():
        print_metrics(recipe.name, json.loads(metrics_file.read_text()))


@app.command()
def sample(model: Path = typer.Argument(..., help="A saved folder (a plugin's model or a core model) or a run folder."),
           n: int = typer.Option(64, "-n", help="How many samples."),
           out: Path = typer.Option(..., "-o", "--out", help="Output in the domain's format (tables .csv/.parquet, "
                                    "molecules .smi, characters and C programs a folder); core models .npy, .csv "
                                    "(points) or .png."),
           seed: int = typer.Option(0, help="Random seed."),
           device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
           option: list[str] = typer.Option([], "--option", help="A core model's sampling option key=value, e.g. "
                                            "steps=20, sampler=heun, guidance=2, labels=3 (repeatable).")) -> None:
    """Draw samples from any trained model and write them to a file or folder."""
    from gensdk import api
    from gensdk.core.device import resolve_device

    written = api.sample(api.load(model, str(resolve_device(device))), n, out, seed=seed, **api.parse_options(option))
    console.print(f"wrote {n} samples to {written}")


@app.command()
def evaluate(model: Path = typer.Argument(..., help="A saved folder or a run folder."),
             data: Optional[str] = typer.Option(None, help="A plugin's model: the real data to compare with, in its "
                                                "domain's form (a table, a SMILES file, an image folder, a C corpus)."),
             n: Optional[int] = typer.Option(None, "-n", help="A plugin's model: samples to draw (default: its own)."),
             seed: int = typer.Option(0, help="Random seed of the samples."),
             recipe: Optional[Path] = typer.Option(None, help="A core model: recipe whose data and evaluate sections to use."),
             set_: list[str] = typer.Option([], "--set", help="Override a recipe value: key.path=value."),
             out: Optional[Path] = typer.Option(None, "-o", "--out", help="Also write the metrics as JSON.")) -> None:
    """The metrics of the model's field: a plugin's own (tables, molecules, characters, C programs), or for a
    core model those that fit it and its data (mode coverage, NLL, Frechet distance)."""
    from gensdk import api

    loaded = api.load(model)
    if isinstance(loaded, api.Artifact):
        results = api.evaluate(loaded, data, n_samples=n, seed=seed)
    else:
        if recipe is None:
            saved = Path(model) / "recipe.json"
            if not saved.exists():
                plugin = api.plugin_of(loaded.model_name)
                if plugin is not None:  # a plugin's model that is no artifact (a codec): its own verb evaluates it
                    raise UserError(f"{model}: a {loaded.model_name!r} model of plugin {plugin!r}; evaluate it with "
                                    f"`gensdk {plugin} evaluate`")
                raise UserError(f"{model}: no recipe.json in this folder; pass --recipe")
            recipe = saved
        recipe_dict = api.load_recipe(recipe, set_)
        results = api.evaluate_recipe(loaded, recipe_dict)
    print_metrics(str(model), results)
    if out:
        write_json(out, results)


@app.command()
def plugins() -> None:
    """List the installed domain plugins."""
    found, failures = discover()
    table = Table(title="gensdk plugins")
    for column in ("name", "version", "description", "trains (artifacts)", "models"):
        table.add_column(column)
    for plugin in found.values():  # what each defines, read from the registries
        names = owned(plugin)
        table.add_row(plugin.name, plugin.version, plugin.description, ", ".join(names["artifacts"]),
                      ", ".join(names["models"]))
    for failure in failures:
        if failure.missing is not None:
            table.add_row(failure.name, "-", escape(failure.missing.line(f"gensdk {failure.name}")), "", "")
    console.print(table if table.row_count else "no plugins installed")
    warn_failures(failures)


@app.command()
def toy(loss: str = typer.Option("nonsaturating", help="GAN objective: minimax, nonsaturating, wgan, wgan-gp, lsgan, hinge."),
        data: str = typer.Option("ring", help="ring (8 Gaussians, radius 2, std 0.02) or grid (5x5)."),
        steps: int = typer.Option(20000, help="Training steps (discriminator updates)."),
        minibatch_std: bool = typer.Option(True, help="Minibatch standard deviation in D."),
        seed: int = typer.Option(0, help="Random seed."),
        out: Path = typer.Option(Path("runs/toy"), help="Run folder; the picture is toy.png inside it."),
        quiet: bool = typer.Option(False, help="No progress bar.")) -> None:
    """The 2-D Gaussians playground: train a small GAN, print mode coverage, draw real vs generated."""
    from gensdk.toy import run_toy

    results, picture = run_toy(loss=loss, data=data, steps=steps, minibatch_std=minibatch_std, seed=seed,
                               out=out, progress=not quiet)
    print_metrics(f"{loss} GAN on {data}, {steps} steps, seed {seed}", results)
    console.print(f"picture: {picture}")


def needs_extra(name: str, missing: MissingExtra) -> None:
    """``gensdk <name> ...`` of a plugin whose extra is not installed: whatever follows, the one line."""
    def stub() -> None:
        raise missing

    app.command(name, help=escape(f"(not installed) {missing.line(f'gensdk {name}')}"), add_help_option=False,
                context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(stub)


def add_plugin_apps() -> None:
    found, failures = discover(register=False)  # the sub-apps only: registering the models imports torch
    for plugin in found.values():
        if plugin.app is not None:
            app.add_typer(plugin.app, name=plugin.name, help=plugin.description)
        for name, command in getattr(plugin, "commands", {}).items():  # e.g. gensdk augment
            app.command(name)(command)
    for failure in failures:
        if failure.missing is not None:
            needs_extra(failure.name, failure.missing)
    warn_failures(failures)


def ray_flag(argv: list[str]) -> list[str]:
    """``--ray`` takes an optional address: alone (last, or before another option) it means "auto", the cluster
    of RAY_ADDRESS or of this machine. Typer has no options with optional values, so that case is spelt out."""
    return [f"{arg}=auto" if arg == "--ray" and (i + 1 == len(argv) or argv[i + 1].startswith("-")) else arg
            for i, arg in enumerate(argv)]


def main(argv: list[str] | None = None) -> None:
    add_plugin_apps()
    try:
        app(args=ray_flag(sys.argv[1:] if argv is None else argv), prog_name="gensdk")
    except MissingExtra as err:  # named after the command: "gensdk molecules needs the 'molecules' extra ..."
        words = [arg for arg in (sys.argv[1:] if argv is None else argv) if not arg.startswith("-")]
        print(f"error: {err.line(f'gensdk {words[0]}' if words else 'gensdk')}", file=sys.stderr)
        sys.exit(2)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
