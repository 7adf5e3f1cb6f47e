"""``gensdk compression train|evaluate|info`` and the top-level ``gensdk compress`` / ``decompress``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from gensdk.errors import UserError

app = typer.Typer(help="Learned image compression: train codecs, write .gsdk files, compare with classical codecs.",
                  no_args_is_help=True)
console = Console(stderr=True)

CODECS_HELP = "Folder of trained codecs (<model>-q<quality>/, variable-rate-hyperprior/); default $GENSDK_CODECS or ./codecs."
ARCH_HELP = ("factorized-prior, scale-hyperprior, mean-scale-hyperprior (one model per quality), variable-rate-hyperprior "
             "or channel-context-hyperprior (one model, every quality).")
MODEL_DIR_HELP = "A trained codec's folder; default: the codec shipped with gensdk."
QUALITY_HELP = "1 (smallest file) to 8; default 4 with a variable-rate codec, else the model's own."
DEFAULT_QUALITY = 4


def _codecs(path: Optional[Path]) -> Path:
    from .training import default_codecs_dir

    return path if path is not None else default_codecs_dir()


def _device(name: str) -> str:
    from gensdk.core.device import resolve_device

    return str(resolve_device(name))


def _pairs(source: Path, target: Path, in_suffixes: tuple[str, ...], kind: str,
           out_suffix: str) -> list[tuple[Path, Path]]:
    """A file -> one (source, target); a folder -> every matching file under it, mirrored under target."""
    from .data import files_under

    if source.is_file():
        return [(source, target)]
    if not source.is_dir():
        raise UserError(f"{source}: no such file or folder")
    return [(p, (target / p.relative_to(source)).with_suffix(out_suffix))
            for p in files_under(source, in_suffixes, kind)]


def _open(source: Optional[Path], device: str, header=None):
    """The codec of ``--model``: the shipped one by default; a model or run folder; or, to decode, a
    codecs folder of runs, where the file's header picks the run."""
    from gensdk.core.artifact import artifact_folder

    from .training import load_codec, open_codec, shipped_codec

    if source is None:
        return shipped_codec(device)
    if header is not None and source.is_dir() and not (artifact_folder(source) / "config.json").is_file():
        return load_codec(source, header.model_name, header.quality, device)
    return open_codec(source, device)


def compress_command(input: Path = typer.Argument(..., help="An image, or a folder of images."),
                     output: Path = typer.Argument(..., help="The .gsdk file, or a folder for a folder."),
                     quality: Optional[int] = typer.Option(None, "--quality", "-q", help=QUALITY_HELP),
                     model: Optional[Path] = typer.Option(None, "--model", "-m", help=MODEL_DIR_HELP),
                     tile: int = typer.Option(768, help="Tile side in pixels (a multiple of 64): bounds memory."),
                     device: str = typer.Option("auto", help="auto, cpu or cuda.")) -> None:
    """Compress images into .gsdk files (the file size is the rate)."""
    from tqdm.auto import tqdm

    from gensdk.core.io import atomic_write

    from .codec import compress
    from .data import IMAGE_SUFFIXES, read_image

    pairs = _pairs(input, output, IMAGE_SUFFIXES, "image files", ".gsdk")
    codec = _open(model, _device(device))
    if quality is None:  # the shipped ladder's middle, or a fixed-rate model's own
        quality = DEFAULT_QUALITY if DEFAULT_QUALITY in codec.qualities else codec.qualities[0]
    codec.rate_index(quality)  # an unknown quality is refused before any file is written
    total_in = total_out = 0
    skipped: list[tuple[Path, str]] = []
    for src, dst in tqdm(pairs, disable=len(pairs) == 1, desc="compress"):
        try:
            image = read_image(src)
        except UserError as err:
            if input.is_file():
                raise
            skipped.append((src, str(err)))  # one bad picture in a folder: skipped and listed, as augment does
            continue
        data = compress(codec, image, tile, quality)
        atomic_write(dst, lambda tmp: Path(tmp).write_bytes(data))
        total_in, total_out = total_in + image.shape[0] * image.shape[1], total_out + len(data)
    _report_skipped(input, skipped, len(pairs))
    written = len(pairs) - len(skipped)
    rate = f", {8 * total_out / total_in:.4f} bpp" if total_in else ""
    console.print(f"wrote {written} file(s) at quality {quality}, {total_out:,} bytes{rate}")


def decompress_command(input: Path = typer.Argument(..., help="A .gsdk file, or a folder of them."),
                       output: Path = typer.Argument(..., help="The PNG, or a folder for a folder."),
                       model: Optional[Path] = typer.Option(None, "--model", "-m", help=MODEL_DIR_HELP + " To decode, "
                                                            "also a folder of codecs trained by `compression train`."),
                       device: str = typer.Option("auto", help="auto, cpu or cuda.")) -> None:
    """Decode .gsdk files to PNG; the integer decoder is built to give the same pixels on every device."""
    from tqdm.auto import tqdm

    from gensdk.core.io import write_png

    from .codec import decompress, read_file, read_header

    pairs = _pairs(input, output, (".gsdk",), "compressed files", ".png")
    loaded: dict = {}
    device = _device(device)
    skipped: list[tuple[Path, str]] = []
    for src, dst in tqdm(pairs, disable=len(pairs) == 1, desc="decompress"):
        try:
            data = read_file(src)
            header = read_header(data, str(src))
            if header.model_name.startswith("unknown"):
                raise UserError(f"{src}: written by an {header.model_name}, which this gensdk lacks")
            key = (header.model_name, header.quality)
            if key not in loaded:
                loaded[key] = _open(model, device, header)
            pixels = decompress(data, loaded[key], str(src))
        except UserError as err:
            if input.is_file():
                raise
            skipped.append((src, str(err)))  # a damaged file in a folder: skipped and listed, nothing written
            continue
        write_png(dst, pixels)
    _report_skipped(input, skipped, len(pairs))
    console.print(f"wrote {len(pairs) - len(skipped)} image(s)")


def _report_skipped(folder: Path, skipped: list[tuple[Path, str]], total: int) -> None:
    """List the files of a folder that were skipped; a folder where every file failed is an error."""
    for path, reason in skipped:
        console.print(f"skipped {path}: {reason}")
    if skipped and len(skipped) == total:
        raise UserError(f"{folder}: none of its {total} file(s) could be read ({skipped[0][1]})")


@app.command()
def info(file: Path = typer.Argument(..., help="A .gsdk file.")) -> None:
    """Print a .gsdk file's header (after checking its checksum)."""
    from .codec import read_file, read_header

    data = read_file(file)
    h = read_header(data, str(file))
    print(json.dumps({"model": h.model_name, "quality": h.quality, "fingerprint": f"{h.fingerprint:08x}",
                      "height": h.height, "width": h.width, "tile": h.tile, "tiles": len(h.tiles),
                      "bytes": len(data), "bpp": 8 * len(data) / (h.height * h.width)}, indent=2))


@app.command()
def train(model: str = typer.Option("variable-rate-hyperprior", "--arch", "--model", help=ARCH_HELP),
          quality: str = typer.Option("3", help="Qualities 1-8, comma-separated: one fixed-rate model each "
                                                "(the variable-rate model learns all 8)."),
          data: str = typer.Option("wallpapers", help="wallpapers (Debian's packages, fetched with apt-get), an "
                                                      "image folder, or a .npy of uint8 crops (n, H, W, 3)."),
          crops: int = typer.Option(20000, help="Random crops to cut from the photos."),
          size: int = typer.Option(256, help="Crop side."),
          steps: int = typer.Option(100000, help="Training steps per model."),
          minutes: Optional[float] = typer.Option(None, help="A time budget per model instead of --steps (the "
                                                             "step rate is measured first)."),
          batch_size: int = typer.Option(16, help="Crops per step."),
          lr: float = typer.Option(1e-4, help="Adam learning rate (cosine schedule)."),
          distortion: str = typer.Option("mse", help="mse or ms-ssim."),
          codecs: Optional[Path] = typer.Option(None, help=CODECS_HELP),
          device: str = typer.Option("auto", help="auto, cpu or cuda."),
          seed: int = typer.Option(0, help="Random seed."),
          resume: bool = typer.Option(False, help="Continue each model from its last checkpoint."),
          overwrite: bool = typer.Option(False, help="Replace models already trained there."),
          quiet: bool = typer.Option(False, help="No progress bar.")) -> None:
    """Train codecs for rate-distortion (lambda from CompressAI's ladder), then prepare them for coding."""
    from .training import train_codec, training_crops, variable_rate

    try:
        qualities = [int(q) for q in quality.split(",")]
    except ValueError:
        raise UserError(f"--quality: expected numbers 1-8 separated by commas, got {quality!r}") from None
    images = training_crops(data, crops, size, seed)
    if variable_rate(model):
        qualities = [None]
    for q in qualities:
        train_codec(model, q, images, _codecs(codecs), steps, batch_size=batch_size, lr=lr, distortion=distortion,
                    device=device, seed=seed, resume=resume, overwrite=overwrite, minutes=minutes, progress=not quiet)
        console.print(f"trained {model}{'' if q is None else f' q{q}'} -> {_codecs(codecs)}")


@app.command()
def evaluate(images: str = typer.Option("test-photos", help="test-photos (scikit-image and scikit-learn's), an "
                                                            "image file or a folder."),
             codecs: Optional[Path] = typer.Option(None, help=CODECS_HELP),
             classical: str = typer.Option("jpeg,webp,jpeg2000,avif,hevc", help="Classical codecs to compare, "
                                           "comma-separated ('' for none)."),
             device: str = typer.Option("auto", help="auto, cpu or cuda."),
             out: Path = typer.Option(Path("rd.json"), "-o", "--out", help="Results (JSON)."),
             plot: Optional[Path] = typer.Option(None, help="Also a PNG of the rate-distortion curves.")) -> None:
    """Rate-distortion (bpp from file sizes vs PSNR and MS-SSIM) of trained codecs and classical ones on
    the same images, and BD-rates of each against each."""
    from gensdk.core.io import write_json

    from .data import load_images
    from .evaluate import evaluate as run

    pictures = load_images(images)
    names = tuple(n for n in classical.split(",") if n)
    codecs = _codecs(codecs)
    result = run(pictures, codecs if codecs.is_dir() else None, names, _device(device), progress=console.print)
    write_json(out, result)
    for pair, value in result["bd_rate_psnr"].items():
        console.print(f"BD-rate {pair}: " + ("n/a" if value is None else f"{value:+.1f}%"))
    if plot is not None:
        from .evaluate import rd_curves
        from .plot import plot_rd

        plot_rd(rd_curves(result["points"]), plot)
    console.print(f"wrote {out}")
