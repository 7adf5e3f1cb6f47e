"""Photographs in for compression: files and folders, the bundled test photos, and training crops.

Every image becomes a uint8 RGB (H, W, 3) array, whatever its mode (gray, palette, alpha, 16 bits),
because codecs and metrics compare RGB at 8 bits. Training data comes from Debian's wallpaper
packages (real photographs, fetched with ``apt-get download`` + ``dpkg -x``: no other network is
needed) cut into random crops after a random downscale, as in CompressAI / Balle et al. practice:
downscaling a large photo averages away its JPEG blocks and sensor noise, which a codec should not
learn to spend bits on.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from gensdk.core.images import IMAGE_SUFFIXES, MAX_PIXELS, read_image  # noqa: F401 - used through this module too
from gensdk.core.images import has_alpha as _has_alpha  # _pictures keeps its name
from gensdk.core.io import atomic_write
from gensdk.errors import UserError

TEST_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "china", "flower")
# Debian's wallpaper packages and, for each, the pictures in it that are photographs, chosen by eye
# (2026-12-06, bookworm's versions; benchmarks/results/compression_photos.md): drawings, renders and
# vector art are left out, since the codec is for photos. A picture is named by its file name
# without a size suffix, or by its folder in Plasma's layout (Name/contents/images/WxH.jpg).
# gnome-backgrounds, ukui-wallpapers, sway-backgrounds and lomiri-wallpapers were looked at too and
# hold no photograph.
WALLPAPER_PHOTOS = {
    "mate-backgrounds": ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops",
                         "Storm", "TwoWings", "Wood", "YellowFlower"),
    "plasma-workspace-wallpapers": ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
                                    "FallenLeaf", "Grey", "Kite", "OneStandsOut", "Path", "Volna", "summer_1am"),
    "lomiri-wallpapers-16.04": ("Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace",
                                "Picture_1A_by_freespace", "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi",
                                "analogpattern_by_Peter_Nerlich", "free_by_Peter_Nerlich",
                                "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich",
                                "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi",
                                "seeding_by_Clements_Engelhardt", "sunset_by_Aitzol_Berasategi"),
    "lomiri-wallpapers-20.04": ("Kleiber_by_Lukas_Baubkus",),
}
WALLPAPER_PACKAGES = tuple(WALLPAPER_PHOTOS)


def load_test_photos(names: Sequence[str] = TEST_PHOTOS) -> dict[str, np.ndarray]:
    """The photos that scikit-image and scikit-learn bundle (300x451 to 512x512), by name."""
    unknown = [n for n in names if n not in TEST_PHOTOS]
    if unknown:
        raise UserError(f"unknown test photo {unknown[0]!r} (known: {', '.join(TEST_PHOTOS)})")
    photos = {}
    for name in names:
        if name in ("china", "flower"):
            from sklearn.datasets import load_sample_image

            photos[name] = load_sample_image(f"{name}.jpg")
        else:
            try:
                from skimage import data as skdata
            except ImportError:
                raise UserError(f"test photo {name!r} needs scikit-image: pip install scikit-image") from None
            photos[name] = getattr(skdata, name)()
    return {k: np.ascontiguousarray(v, dtype=np.uint8) for k, v in photos.items()}


def files_under(folder: str | os.PathLike, suffixes: Sequence[str], kind: str) -> list[Path]:
    """Files with one of ``suffixes`` anywhere under ``folder``, sorted; hidden files and folders
    skipped; none is an error naming ``kind``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in suffixes and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise UserError(f"{folder}: no {kind} ({', '.join(suffixes)}) in it")
    return files


def image_files(folder: str | os.PathLike) -> list[Path]:
    """Image files (by suffix) anywhere under ``folder``, sorted; hidden files and folders skipped."""
    return files_under(folder, IMAGE_SUFFIXES, "image files")


def load_images(source: str | os.PathLike) -> dict[str, np.ndarray]:
    """``"test-photos"``, an image file ({stem: image}) or a folder ({relative path without suffix:
    image}) as uint8 RGB arrays."""
    if str(source) == "test-photos":
        return load_test_photos()
    path = Path(source)
    if path.is_file():
        return {path.stem: read_image(path)}
    if path.is_dir():
        return {p.relative_to(path).with_suffix("").as_posix(): read_image(p) for p in image_files(path)}
    raise UserError(f"{source}: no such file or folder (or use 'test-photos')")


# --- training photos from Debian's wallpaper packages ------------------------------------------

def _run(command: list[str], what: str, cwd: Path | None = None) -> None:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise UserError(f"{what}: {command[0]} not found (Debian's apt-get and dpkg are needed; "
                        "or pass your own photo folder)") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or [f"exit code {done.returncode}"]
        raise UserError(f"{what}: {' '.join(command[:2])} failed ({lines[-1]}; try apt-get update)")


def fetch_wallpapers(dest: str | os.PathLike, packages: Sequence[str] = WALLPAPER_PACKAGES) -> list[Path]:
    """Download the Debian packages, extract each under ``dest/<package>`` and return the photographs
    in them (``WALLPAPER_PHOTOS``; a package not listed there gives every picture it has).

    Each package is fetched once: a marker file is written after ``dpkg -x`` completes, so a second
    call (or one after an interrupted extraction, which lacks the marker) does only what is missing.
    Of a package's pictures, only .jpg/.jpeg/.png files of at least 512x512 count, opaque (the MATE
    package's translucent PNGs are overlays drawn over a desktop colour, not pictures), not symlinks
    (the Plasma packages link one picture under a dozen screen sizes), and of the variants of one
    picture (``Name.jpg``, ``Name_3840x2160.jpg`` or ``images/1080x1920.png``,
    ``images/5120x2880.png``) the largest. ``dest/photos.json`` records, per package, how many
    pictures it has and how many are photographs."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    found, counts = [], {}
    for package in packages:
        folder = dest / package
        marker = folder / ".extracted"
        if not marker.exists():
            with tempfile.TemporaryDirectory(prefix="gensdk-deb-") as tmp:
                os.chmod(tmp, 0o755)  # apt's sandbox user must be able to write there
                _run(["apt-get", "download", package], f"package {package}", cwd=Path(tmp))
                debs = sorted(Path(tmp).glob("*.deb"))
                if not debs:
                    raise UserError(f"package {package}: apt-get download left no .deb file")
                _run(["dpkg", "-x", str(debs[0]), str(folder)], f"package {package}")
            atomic_write(marker, lambda t: Path(t).write_text(debs[0].name + "\n"))
        pictures = _pictures(folder)
        chosen = WALLPAPER_PHOTOS.get(package)
        photos = [p for name, p in pictures.items() if chosen is None or name in chosen]
        counts[package] = {"pictures": len(pictures), "photographs": len(photos)}
        found += photos
    atomic_write(dest / "photos.json", lambda t: Path(t).write_text(json.dumps(counts, indent=2) + "\n"))
    return sorted(found)


def picture_name(path: Path) -> str:
    """A picture's name, whatever its size variant: ``Name`` for ``Name_3840x2160.jpg`` and for
    Plasma's ``Name/contents/images/3840x2160.jpg``."""
    if len(path.parts) >= 4 and path.parts[-3] == "contents":
        return path.parts[-4]
    return re.sub(r"_?\d+x\d+$", "", path.stem)


def _pictures(root: Path, min_side: int = 512) -> dict[str, Path]:
    """``picture_name -> file`` of the pictures under ``root`` (see ``fetch_wallpapers``)."""
    best: dict[str, tuple[int, Path]] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png") or path.is_symlink() or not path.is_file():
            continue
        try:
            with Image.open(path) as im:
                w, h = im.size
                if min(w, h) < min_side or (_has_alpha(im) and im.convert("RGBA").getextrema()[3][0] < 255):
                    continue
        except Exception:  # noqa: BLE001 - an unreadable file is simply not a photo here
            continue
        name = picture_name(path)
        if name not in best or w * h > best[name][0]:
            best[name] = (w * h, path)
    return {name: path for name, (_, path) in sorted(best.items())}


def random_crops(files: Sequence[str | os.PathLike], n: int, size: int = 256, seed: int = 0,
                 downscale: bool = True) -> np.ndarray:
    """``n`` random size x size uint8 RGB crops (n, size, size, 3), spread evenly over ``files`` (in
    the order given: the first ``n % len(files)`` files give one crop more), grouped by file.

    With ``downscale`` each crop comes from the photo downscaled (Lanczos) so that its short side is
    a random value in [1.25 size, min(short side, 4 size)], drawn per crop. The crop is cut from the
    original and resized in one step (Pillow's resize with a box), which equals downscaling the whole
    photo and cropping it, at a fraction of the cost. The same files, n, size and seed give the same
    crops."""
    if not files:
        raise UserError("random_crops: no image files given")
    rng = np.random.default_rng(seed)
    counts = [n // len(files) + (i < n % len(files)) for i in range(len(files))]
    crops = np.empty((n, size, size, 3), np.uint8)
    k = 0
    for path, count in zip(files, counts):
        if count == 0:
            continue
        picture = Image.fromarray(read_image(path))
        short = min(picture.size)
        if short < size:
            raise UserError(f"{path}: {picture.width}x{picture.height} is smaller than the crop size {size}")
        for _ in range(count):
            low, high = 1.25 * size, min(short, 4 * size)
            target = rng.uniform(low, high) if downscale and high > low else short
            side = size * short / target  # the crop's side in the original's pixels
            x0 = rng.uniform(0, picture.width - side)
            y0 = rng.uniform(0, picture.height - side)
            if side == size:
                box = (int(x0), int(y0), int(x0) + size, int(y0) + size)
                crops[k] = np.asarray(picture.crop(box))
            else:
                crops[k] = np.asarray(picture.resize((size, size), Image.LANCZOS, box=(x0, y0, x0 + side, y0 + side)))
            k += 1
    return crops


def save_crops(path: str | os.PathLike, crops: np.ndarray) -> None:
    """Crops as one .npy file, written atomically."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save would add .npy to a bare name
            np.save(f, np.ascontiguousarray(crops, dtype=np.uint8), allow_pickle=False)

    atomic_write(path, write)


def load_crops(path: str | os.PathLike) -> np.ndarray:
    """Crops saved by ``save_crops``: uint8 (n, size, size, 3)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        crops = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise UserError(f"{path}: not a crops .npy file ({err})") from None
    if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[-1] != 3:
        raise UserError(f"{path}: expected uint8 crops (n, size, size, 3), found {crops.dtype} {crops.shape}")
    return crops
