"""The training photos for a GPU run, small enough to carry: Debian's wallpaper packages (fetched
with apt-get, one copy of each picture), downscaled to a short side of at most 1024 px (training
crops come from downscales between 320 and 1024 px anyway) and saved as JPEG quality 95.

    python benchmarks/compression_wallpapers.py [--out .wallpapers]      # about 18 MB, 51 pictures
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from plugins.compression.data import fetch_wallpapers, read_image  # noqa: E402
from plugins.compression.training import wallpapers_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path(".wallpapers"))
    parser.add_argument("--short-side", type=int, default=1024)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(fetch_wallpapers(wallpapers_dir())):
        picture = Image.fromarray(read_image(path))
        scale = args.short_side / min(picture.size)
        if scale < 1:
            picture = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.LANCZOS)
        picture.save(args.out / f"{i:03d}_{path.stem}.jpg", quality=95)
    print(f"{i + 1} pictures in {args.out}")


if __name__ == "__main__":
    main()
