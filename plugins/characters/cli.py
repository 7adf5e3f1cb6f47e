"""``gensdk characters render|pipeline|train|sample|evaluate|augment`` and the top-level ``gensdk augment``.

Every gensdk command builds this sub-app: torch and what imports it are imported inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from gensdk.core.executor import RAY_HELP
from gensdk.core.io import atomic_write, write_png
from gensdk.errors import UserError

app = typer.Typer(help="Character images for OCR: render from fonts, augment, train generators, evaluate.",
                  no_args_is_help=True)
console = Console()


def augment(input_dir: Path = typer.Argument(..., help="Image folder: one subfolder per class (PNG/JPEG/BMP)."),
            output_dir: Path = typer.Argument(..., help="Where the enlarged data set goes (same layout)."),
            factor: int = typer.Option(4, "--factor", "-k", help="New images per input image."),
            method: str = typer.Option("classic", help="classic, cgan, cvae, dagan, diffusion, style or mix "
                                       "(classic + --mix-with)."),
            mix_with: str = typer.Option("dagan", help="The generative half of --method mix."),
            pipeline: str = typer.Option("default", help="Classic pipeline: default, light, strong or a YAML file."),
            model: Optional[Path] = typer.Option(None, "--model", help="Generator folder: reused if trained, "
                                                 "else trained there (default runs/characters/<method>-<data hash>)."),
            pretrained: bool = typer.Option(False, "--pretrained", help="Draw with the generator shipped with "
                                            "gensdk (style, trained on renders of many fonts) instead of training one "
                                            "on the input; its classes must include the input's."),
            generated: Optional[int] = typer.Option(None, help="In a mix: how many of the --factor new images per "
                                                    "input are generated (default: every other one)."),
            classic_on_generated: bool = typer.Option(False, "--classic-on-generated",
                                                      help="In a mix: pass the generated images through the classic "
                                                      "pipeline too."),
            steps: Optional[int] = typer.Option(None, help="Training steps of a new generator."),
            filter_samples: bool = typer.Option(True, "--filter/--no-filter",
                                                help="Drop generated images a real-data classifier puts in another class."),
            filter_confidence: float = typer.Option(0.9, help="Confidence above which a wrong class is dropped."),
            filter_min_prob: Optional[float] = typer.Option(None, help="Also drop images whose own class gets "
                                                            "less than this probability."),
            keep_originals: bool = typer.Option(True, "--originals/--no-originals", help="Copy the inputs too."),
            size: int = typer.Option(32, help="Image side the generators work at."),
            seed: int = typer.Option(0, help="Random seed (recorded per file in manifest.csv)."),
            device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
            workers: int = typer.Option(1, help="Local processes that write the images."),
            ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]", help=RAY_HELP),
            resume: bool = typer.Option(False, help="Continue an interrupted run into OUTPUT_DIR."),
            overwrite: bool = typer.Option(False, help="Replace an earlier gensdk augment output in OUTPUT_DIR."),
            quiet: bool = typer.Option(False, help="No progress bar.")) -> None:
    """Enlarge a character-image data set with classic and/or generative augmentation."""
    from gensdk.core.executor import Backend

    from .augmentation import augment as run

    s = run(input_dir, output_dir, factor=factor, method=method, pipeline=pipeline, mix_with=mix_with,
            model_dir=model, pretrained=pretrained, generated=generated, classic_on_generated=classic_on_generated,
            seed=seed, filter_samples=filter_samples, filter_confidence=filter_confidence,
            filter_min_prob=filter_min_prob, keep_originals=keep_originals, steps=steps, size=size, device=device,
            resume=resume, overwrite=overwrite, progress=not quiet, backend=Backend(workers, ray))
    table = Table(title=f"gensdk augment -> {output_dir}")
    table.add_column("")
    table.add_column("", justify="right")
    for key, value in (("input images", s.inputs), ("classes", s.classes), ("planned outputs", s.planned),
                       ("written now", s.written), ("already there (resumed)", s.already_done),
                       ("skipped inputs", len(s.skipped)), ("filter redraws", s.filter_dropped),
                       ("not generated (filter)", s.not_generated), ("images/s", f"{s.images_per_second:.1f}"),
                       ("generator", s.model or "-")):
        table.add_row(key, str(value))
    console.print(table)
    for skipped in s.skipped:
        console.print(f"skipped {skipped['path']}: {skipped['reason']}")


app.command("augment")(augment)


@app.command()
def render(out: Path = typer.Argument(..., help="Output folder: train/ and test/ image folders + characters.json."),
           fonts: list[Path] = typer.Option([], "--fonts", help="Font folders (default: the system's)."),
           charset: str = typer.Option("all", help="digits, latin, cyrillic, all, or literal characters."),
           per_font: int = typer.Option(4, help="Images per character and font (random size and offset)."),
           size: int = typer.Option(32, help="Image side in pixels."),
           test_fraction: float = typer.Option(0.25, help="Fraction of font families held out for test."),
           lookalikes: str = typer.Option("merge", help="merge Latin/Cyrillic look-alikes into one class, or keep."),
           seed: int = typer.Option(0, help="Random seed."),
           train_per_class: Optional[int] = typer.Option(None, help="Keep N training images per class (a low-data "
                                                         "set, drawn across the training fonts); test stays whole."),
           overwrite: bool = typer.Option(False, help="Replace a non-empty output folder."),
           quiet: bool = typer.Option(False, help="No progress bar.")) -> None:
    """Render a character data set from fonts, split by font family into train and test."""
    from .fonts import find_fonts, render_dataset

    found = find_fonts(fonts or None)
    summary = render_dataset(out, found, charset=charset, per_font=per_font, size=size, test_fraction=test_fraction,
                             lookalikes=lookalikes, seed=seed, progress=not quiet, overwrite=overwrite,
                             train_per_class=train_per_class)
    console.print({k: v for k, v in summary.items() if not isinstance(v, (list, dict))})


@app.command("pipeline")
def pipeline_(out: Path = typer.Argument(..., help="YAML file to write."),
              preset: str = typer.Option("default", help="default, light or strong.")) -> None:
    """Write a classic augmentation pipeline as YAML, to edit and pass to --pipeline."""
    from .classic import ClassicAugmenter

    ClassicAugmenter(preset).save(out)
    console.print(f"wrote {out}")


@app.command()
def train(input_dir: str = typer.Argument(..., help="Image folder, or 'sklearn-digits'."),
          model_dir: Path = typer.Argument(..., help="Folder for the trained generator."),
          method: str = typer.Option("dagan", help="cgan, cvae, dagan, diffusion or style."),
          steps: Optional[int] = typer.Option(None, help="Training steps (default per method)."),
          epochs: Optional[float] = typer.Option(None, help="Or passes over the images."),
          minutes: Optional[float] = typer.Option(None, help="Or a time budget (the step rate is measured first)."),
          set_: list[str] = typer.Option([], "--set", help="Model option: key=value (e.g. width=64)."),
          size: int = typer.Option(32, help="Image side."),
          seed: int = typer.Option(0, help="Random seed."),
          device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
          resume: bool = typer.Option(False, help="Continue from the folder's last checkpoint."),
          overwrite: bool = typer.Option(False, help="Replace a model already in the folder."),
          quiet: bool = typer.Option(False, help="No progress bar.")) -> None:
    """Train a character generator (and its filtering classifier) on an image folder."""
    from gensdk.api import parse_override

    from .data import load_characters, style_groups
    from .generative import train_generator

    options = {}
    for item in set_:
        keys, value = parse_override(item)
        options[".".join(keys)] = value
    chars = load_characters(input_dir, size=size)
    for skipped in chars.skipped:
        console.print(f"skipped {skipped.path}: {skipped.reason}")
    train_generator(method, chars.images, chars.labels, chars.classes, model_dir, steps=steps, epochs=epochs,
                    minutes=minutes, seed=seed, device=device, model_options=options, resume=resume,
                    overwrite=overwrite, progress=not quiet, groups=style_groups(chars))
    console.print(f"trained {method} on {len(chars)} images ({len(chars.classes)} classes) -> {model_dir}")


@app.command()
def sample(model_dir: Path = typer.Argument(..., help="A trained generator folder."),
           out: Path = typer.Argument(..., help="A .png grid, or a folder (one subfolder per class)."),
           n: int = typer.Option(8, "-n", help="Images per class."),
           class_: list[str] = typer.Option([], "--class", help="Class folder names (default: all)."),
           source: Optional[Path] = typer.Option(None, help="dagan: an image folder whose images are varied; "
                                                 "style: one whose images' look is taken."),
           seed: int = typer.Option(0, help="Random seed."),
           device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N.")) -> None:
    """Draw images of given classes from a trained generator."""
    import torch

    from gensdk.core.device import resolve_device
    from gensdk.core.plot import image_grid

    from .data import load_characters
    from .generative import REFERENCE_METHODS, load_generator, to_uint8

    generator = load_generator(model_dir, str(resolve_device(device)))
    wanted = class_ or generator.classes
    unknown = [c for c in wanted if c not in generator.classes]
    if unknown:
        raise UserError(f"unknown class {unknown[0]!r}; the model's classes: {', '.join(generator.classes[:20])} ...")
    if n < 1:
        raise UserError(f"-n must be positive, got {n}")
    labels = torch.tensor([generator.classes.index(c) for c in wanted]).repeat_interleave(n)
    sources = None
    if generator.method in REFERENCE_METHODS:
        if source is None:
            raise UserError(f"a {generator.method} generator draws from given images: pass --source IMAGE_FOLDER")
        chars = load_characters(str(source), size=generator.image_size)
        if chars.classes != generator.classes:
            raise UserError(f"{source}: its classes differ from the model's")
        if generator.method == "style":  # n references spread over the folder: column j of a grid is one style
            references = torch.linspace(0, len(chars) - 1, n).round().long()
            sources = chars.images[references[torch.arange(len(labels)) % n]]
    if generator.method == "dagan":
        picks = []
        for label in labels.tolist():
            of_class = (chars.labels == label).nonzero().squeeze(1)
            if len(of_class) == 0:
                raise UserError(f"{source}: no image of class {generator.classes[label]!r} to vary")
            picks.append(int(of_class[len(picks) % len(of_class)]))
        sources = chars.images[picks]
    torch.manual_seed(seed)
    images = generator.generate(labels, sources, [seed * 1_000_000 + i for i in range(len(labels))]).cpu()
    if out.suffix.lower() == ".png":
        write_png(out, image_grid(images, columns=n))
    else:
        for i, (image, label) in enumerate(zip(images, labels.tolist())):
            write_png(out / generator.classes[label] / f"{generator.method}-{seed}-{i}.png", to_uint8(image, False))
    console.print(f"wrote {len(images)} images to {out}")


@app.command()
def evaluate(train_dir: str = typer.Argument(..., help="Training image folder (e.g. rendered/train), or a trained "
                                             "generator's folder: FD and precision/recall of its images against TEST_DIR."),
             test_dir: str = typer.Argument(..., help="Test image folder with the same classes (e.g. rendered/test)."),
             out: Path = typer.Option(Path("runs/characters-evaluate"), "--out", help="Results folder."),
             per_class: list[int] = typer.Option([5, 20], "--per-class", help="Real images per class."),
             seeds: int = typer.Option(3, help="Number of seeds (0..N-1)."),
             methods: str = typer.Option("cgan,cvae,dagan", help="Generators to compare, comma-separated "
                                         "(cgan, cvae, dagan, diffusion, style)."),
             factor: int = typer.Option(10, help="Classic / generated images per real image."),
             steps: Optional[int] = typer.Option(None, help="Generator training steps."),
             classifier_steps: int = typer.Option(2000, help="Classifier training steps."),
             device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
             quiet: bool = typer.Option(False, help="No progress bars.")) -> None:
    """Low-data benchmark: classifier test accuracy with real, +classic, +generative, +both; or a trained generator."""
    from gensdk.core.artifact import is_saved_model

    from .classifier import ClassifierRecipe
    from .data import load_characters
    from .evaluate import low_data_benchmark, markdown
    from .generative import check_method, load_generator

    if is_saved_model(train_dir):
        from gensdk.cli import print_metrics
        from gensdk.core.device import resolve_device

        print_metrics(train_dir, load_generator(train_dir, str(resolve_device(device))).evaluate(test_dir))
        return

    chosen = [check_method(m.strip()) for m in methods.split(",") if m.strip()]
    train_set, test_set = load_characters(train_dir), load_characters(test_dir)
    if train_set.classes != test_set.classes:
        raise UserError(f"{test_dir}: its classes differ from {train_dir}'s")
    table = low_data_benchmark(train_set, test_set, out, per_class=per_class, seeds=list(range(seeds)),
                               methods=chosen, factor=factor, generator_steps=steps,
                               classifier_recipe=ClassifierRecipe(steps=classifier_steps), device=device,
                               progress=not quiet, log=console.print)
    text = markdown(table)
    atomic_write(out / "summary.md", lambda tmp: Path(tmp).write_text(text + "\n"))
    console.print(text)
