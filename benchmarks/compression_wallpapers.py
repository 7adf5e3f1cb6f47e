"""The training photos for a GPU run, small enough to carry: the photographs of Debian's wallpaper
packages (fetched with apt-get, one copy of each picture; ``data.WALLPAPER_PHOTOS``), downscaled to
a short side of at most 1024 px (training crops come from downscales between 320 and 1024 px
anyway) and saved as JPEG quality 95. Writes ``benchmarks/results/compression_photos.md`` (record under ``results/raw/``):
per package, its pictures and its photographs.

    python benchmarks/compression_wallpapers.py [--out .wallpapers]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from PIL import Image  # noqa: E402

from common import provenance, write_results  # noqa: E402
from gensdk_plugins.compression.data import fetch_wallpapers, picture_name, read_image  # noqa: E402
from gensdk_plugins.compression.training import wallpapers_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path(".wallpapers"))
    parser.add_argument("--short-side", type=int, default=1024)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("[0-9][0-9][0-9]_*.jpg"):  # an earlier selection's pictures
        old.unlink()
    photos = fetch_wallpapers(wallpapers_dir())
    names = []
    for i, path in enumerate(photos):
        picture = Image.fromarray(read_image(path))
        scale = args.short_side / min(picture.size)
        if scale < 1:
            picture = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.LANCZOS)
        names.append(f"{i:03d}_{picture_name(path)}.jpg")
        picture.save(args.out / names[-1], quality=95)
    counts = json.loads((wallpapers_dir() / "photos.json").read_text())
    record = {**provenance(), "title": "compression: training photographs from Debian's wallpaper packages",
              "packages": counts, "photographs": names}
    table = ["| package | pictures (>= 512 px, opaque, largest variant) | photographs kept |", "|---|---|---|"]
    table += [f"| {p} | {c['pictures']} | {c['photographs']} |" for p, c in counts.items()]
    table += [f"| total | {sum(c['pictures'] for c in counts.values())} | {len(photos)} |", "",
              "Chosen by eye (plugins/compression/data.py, WALLPAPER_PHOTOS); drawings, renders and vector art",
              "are left out. gnome-backgrounds (webp and svg graphics), ukui-wallpapers (12 drawings and renders),",
              "sway-backgrounds (vector art) and lomiri-wallpapers (2 graphics) hold no photograph.", "",
              "Files: " + ", ".join(names)]
    write_results(Path("benchmarks/results/compression_photos"), record, table)
    print(f"{len(photos)} photographs in {args.out}")


if __name__ == "__main__":
    main()
