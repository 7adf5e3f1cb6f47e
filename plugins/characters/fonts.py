"""A character data set rendered from the system's fonts: digits, Latin and Cyrillic letters.

Each image is one character of one font, white ink on black, drawn on its baseline at a random size
and offset. Fonts are split into train and test by family, so a test font is never seen in training.
Latin/Cyrillic letters that are the same glyph (A/А, o/о, ...) are merged into one class by default;
other confusable groups (0/O, 1/l/I, c/C) are only flagged in the metadata.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import os
import random
import shutil
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gensdk.core.io import write_json, write_png
from gensdk.errors import UserError
from gensdk.extras import require

log = logging.getLogger(__name__)

# The last is where Debian's fonts-texgyre puts TeX Gyre (fontconfig scans it too).
FONT_DIRS: tuple[Path, ...] = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"),
                               Path.home() / ".fonts", Path.home() / ".local/share/fonts",
                               Path("/usr/share/texmf/fonts/opentype"))
FONT_SUFFIXES = (".ttf", ".otf", ".ttc")

# Symbol and dingbat fonts map the code points of letters to pictures or Greek letters (URW's D050000L
# is Zapf Dingbats, Standard Symbols PS is Symbol; Noto Sans Symbols draws blanks): their "A" is no A.
SYMBOL_FONT_WORDS = ("symbol", "dingbat", "wingding", "webding", "d050000l")

_DIGITS = "0123456789"
_LATIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CYRILLIC = ("".join(chr(c) for c in range(0x410, 0x430)) + "Ё"
             + "".join(chr(c) for c in range(0x430, 0x450)) + "ё")
CHARSETS: dict[str, str] = {"digits": _DIGITS, "latin": _LATIN, "cyrillic": _CYRILLIC,
                            "all": _DIGITS + _LATIN + _CYRILLIC}

# (Latin, Cyrillic) letters drawn with the same glyph in normal fonts (Unicode confusables, same shape).
LOOKALIKES: tuple[tuple[str, str], ...] = (
    ("A", "А"), ("B", "В"), ("C", "С"), ("E", "Е"), ("H", "Н"), ("K", "К"), ("M", "М"), ("O", "О"),
    ("P", "Р"), ("T", "Т"), ("X", "Х"),
    ("a", "а"), ("c", "с"), ("e", "е"), ("o", "о"), ("p", "р"), ("x", "х"), ("y", "у"),
)
# Groups a reader (or a classifier) confuses, though fonts draw them differently: flagged, never merged.
CONFUSABLES: tuple[tuple[str, str], ...] = (
    ("0OО", "digit zero and the letters O"),
    ("1lI", "digit one, lowercase L and capital i"),
    ("3З", "digit three and Cyrillic Ze"),
    ("6б", "digit six and Cyrillic be"),
    ("bЬ", "Latin b and Cyrillic capital soft sign"),
    ("nп", "Latin n and Cyrillic pe"),
    ("rг", "Latin r and Cyrillic ghe"),
)
# Lowercase letters that are their capital drawn smaller: only the size (kept by the baseline) differs.
SIZE_ONLY_CASE = "cosvwxz" + "вгджзийклмнопстхцчшщъыьэюя"

# Families drawn from the same Latin outlines under another name (GNU FreeFont and TeX Gyre derive
# from URW's base 35; the math and Nushu fonts borrow their Latin letters): the split keeps each with
# its source, or the test set would hold copies of training fonts.
SAME_DESIGN = {
    "FreeSans": "Nimbus Sans", "TeX Gyre Heros": "Nimbus Sans",
    "FreeSerif": "Nimbus Roman", "TeX Gyre Termes": "Nimbus Roman",
    "FreeMono": "Nimbus Mono PS", "TeX Gyre Cursor": "Nimbus Mono PS",
    "TeX Gyre Bonum": "URW Bookman", "TeX Gyre Schola": "C059", "TeX Gyre Pagella": "P052",
    "TeX Gyre Adventor": "URW Gothic", "TeX Gyre Chorus": "Z003",
    "DejaVu Math TeX Gyre": "DejaVu Serif", "TeX Gyre DejaVu Math": "DejaVu Serif",
    "Noto Traditional Nushu": "Noto Sans",
}

LOOKALIKE_MODES = ("merge", "keep")
EM_RANGE = (0.55, 0.95)  # font size as a fraction of the image side
JITTER = 0.1             # random offset, as a fraction of the image side
POOL_MIN_FONTS = 8       # below this, starting worker processes costs more than it saves


@dataclass(frozen=True)
class Font:
    path: str
    family: str
    style: str
    cmap: frozenset[int] = field(repr=False)

    @property
    def name(self) -> str:
        return Path(self.path).name

    def describe(self) -> dict[str, str]:
        return {"path": self.path, "family": self.family, "style": self.style}


def _read_font(path: Path) -> Font:
    from fontTools.ttLib import TTFont  # find_fonts has required it

    with TTFont(path, lazy=True, fontNumber=0) as tt:  # the first face of a .ttc is enough
        names = tt["name"]
        family = names.getBestFamilyName() or path.stem
        style = names.getBestSubFamilyName() or "Regular"
        cmap = frozenset(tt.getBestCmap() or ())
    return Font(str(path), family, style, cmap)


def find_fonts(folders: Iterable[str | os.PathLike] | str | os.PathLike | None = None) -> list[Font]:
    """Every readable font under ``folders`` (default: the system's font folders), one per
    (family, style), sorted by path. Unreadable files and symbol fonts are logged and left out."""
    if folders is None:
        roots = [d for d in FONT_DIRS if d.is_dir()]
        where = ", ".join(map(str, FONT_DIRS))
    else:
        roots = [Path(folders)] if isinstance(folders, (str, os.PathLike)) else [Path(f) for f in folders]
        for root in roots:
            if not root.is_dir():
                raise UserError(f"{root}: no such font folder")
        where = ", ".join(map(str, roots))
    paths = sorted(p for root in roots for p in root.rglob("*")
                   if p.suffix.lower() in FONT_SUFFIXES and p.is_file())
    best: dict[tuple[str, str], Font] = {}
    require("fontTools", "images")  # before the loop, which skips a font that fails to read
    for path in paths:
        try:
            font = _read_font(path)
        except Exception as err:  # fontTools raises many kinds; a bad font file must never stop the scan
            log.warning("skipping unreadable font %s: %s", path, err)
            continue
        if any(word in font.family.lower() for word in SYMBOL_FONT_WORDS):
            log.info("skipping symbol font %s", path)
            continue
        key = (font.family, font.style)
        # The same face installed twice (Debian's Liberation 1 and 2): keep the one covering more.
        if key not in best or len(font.cmap) > len(best[key].cmap):
            best[key] = font
    if not best:
        raise UserError(f"no readable fonts (.ttf, .otf, .ttc) in {where}")
    return sorted(best.values(), key=lambda f: f.path)


def chars_of(spec: str) -> str:
    """A charset name (digits, latin, cyrillic, all) or the characters themselves ("0123"; write
    "chars:abc" for a lowercase word that would read as a name), deduplicated in order."""
    if spec in CHARSETS:
        return CHARSETS[spec]
    if spec.startswith("chars:"):
        spec = spec[len("chars:"):]
    elif spec.isascii() and spec.isalpha() and spec.islower() and len(spec) >= 3:
        raise UserError(f"unknown character set {spec!r}; known: {', '.join(sorted(CHARSETS))} "
                        f"(write chars:{spec} for these letters themselves)")
    if not spec:
        raise UserError("empty character set: give a name (" + ", ".join(sorted(CHARSETS)) + ") or characters")
    if any(not ch.isprintable() or ch.isspace() for ch in spec):
        raise UserError(f"character set {spec!r}: spaces and control characters draw no glyph")
    return "".join(dict.fromkeys(spec))


def class_name(ch: str) -> str:
    """A folder name that stays distinct on case-insensitive file systems: 0041-A, 0430-а."""
    return f"{ord(ch):04X}-{ch}"


def class_members(chars: str, lookalikes: str = "merge") -> dict[str, list[str]]:
    """Class name -> its characters, sorted by name. ``merge`` joins a look-alike group whose
    members are both requested into the class of its Latin member."""
    if lookalikes not in LOOKALIKE_MODES:
        raise UserError(f"lookalikes must be one of {', '.join(LOOKALIKE_MODES)}, got {lookalikes!r}")
    owner = {ch: ch for ch in chars}
    if lookalikes == "merge":
        for latin, cyrillic in LOOKALIKES:
            if latin in owner and cyrillic in owner:
                owner[cyrillic] = latin
    members: dict[str, list[str]] = defaultdict(list)
    for ch in chars:
        members[class_name(owner[ch])].append(ch)
    return {name: sorted(members[name]) for name in sorted(members)}


def flagged_groups(members: dict[str, list[str]], lookalikes: str) -> tuple[list[dict], list[dict]]:
    """(look-alike groups, confusable groups) among the classes, for the metadata."""
    class_of = {ch: name for name, chars in members.items() for ch in chars}
    alike = [{"chars": [latin, cyrillic], "classes": sorted({class_of[latin], class_of[cyrillic]}),
              "merged": lookalikes == "merge"}
             for latin, cyrillic in LOOKALIKES if latin in class_of and cyrillic in class_of]
    groups = list(CONFUSABLES)
    groups += [(low + low.upper(), "case pair that differs only by size") for low in SIZE_ONLY_CASE]
    confusable, seen = [], set()
    for chars, why in groups:
        present = [ch for ch in chars if ch in class_of]
        classes = tuple(sorted({class_of[ch] for ch in present}))
        if len(classes) >= 2 and classes not in seen:  # merged look-alikes make some groups repeat
            seen.add(classes)
            confusable.append({"chars": present, "classes": list(classes), "reason": why})
    return alike, confusable


def design_of(family: str, families: set[str]) -> str:
    """The design a family shares with others: a family whose name extends another's by words
    ("Liberation Sans Narrow", "Noto Serif Display", "DejaVu Sans Mono") joins it, and SAME_DESIGN
    names the derived families."""
    words = family.split()
    for n in range(1, len(words) + 1):
        prefix = " ".join(words[:n])
        if prefix in SAME_DESIGN:
            return SAME_DESIGN[prefix]
        if prefix in families:
            return prefix
    return family


def split_fonts(fonts: Sequence[Font], test_fraction: float = 0.25, seed: int = 0) -> tuple[list[Font], list[Font]]:
    """Split by family (as grouped by ``design_of``): all styles of a family go to one side, so a
    test font is never seen in training. ``test_fraction`` counts fonts, approximately."""
    if not 0 < test_fraction < 1:
        raise UserError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    families = {f.family for f in fonts}
    design = {family: design_of(family, families) for family in families}
    names = sorted(set(design.values()))
    if len(names) < 2:
        raise UserError(f"a train/test split by font family needs at least 2 families, got {len(names)}: "
                        + ", ".join(names))
    random.Random(seed).shuffle(names)
    # Families differ in size (TeX Gyre joins Nimbus): add whole families until the test side
    # holds test_fraction of the fonts, keeping at least one family on each side.
    size = {name: sum(design[f.family] == name for f in fonts) for name in names}
    test: set[str] = set()
    for name in names[:-1]:
        if test and sum(size[n] for n in test) + size[name] / 2 > test_fraction * len(fonts):
            break
        test.add(name)
    return ([f for f in fonts if design[f.family] not in test], [f for f in fonts if design[f.family] in test])


def usable_fonts(fonts: Sequence[Font], chars: str) -> tuple[list[Font], list[Font]]:
    """(fonts to render, fonts left out): a font needs one of ``chars`` and, to count as a font of
    these scripts, a Latin or Cyrillic letter: fonts of other scripts (Noto Sans Devanagari, ...)
    carry digits copied from a Latin font, which would only repeat it."""
    wanted = {ord(ch) for ch in chars}
    letters = {ord(ch) for ch in _LATIN + _CYRILLIC}
    used: list[Font] = []
    unused: list[Font] = []
    for font in fonts:
        (used if font.cmap & wanted and font.cmap & letters else unused).append(font)
    return used, unused


@functools.lru_cache(maxsize=64)
def _load_font(path: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, px, layout_engine=ImageFont.Layout.BASIC)


def _draw_ink(font_path: str, ch: str, px: int) -> tuple[np.ndarray, int] | None:
    """The glyph's ink, cropped, and the row of its top relative to the baseline; None if blank."""
    font = _load_font(font_path, px)
    left, top, right, bottom = font.getbbox(ch, anchor="ls")
    canvas = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    origin = (1 - left, 1 - top)
    ImageDraw.Draw(canvas).text(origin, ch, font=font, fill=255, anchor="ls")
    box = canvas.getbbox()
    if box is None:
        return None
    return np.asarray(canvas.crop(box)), box[1] - origin[1]


def render_glyph(font_path: str | os.PathLike, ch: str, size: int = 32,
                 rng: np.random.Generator | None = None) -> np.ndarray | None:
    """One character, white anti-aliased ink on black, (size, size) uint8; None if the glyph is blank.

    The em is a random 0.55..0.95 of ``size`` and the glyph sits on a baseline shared by all
    characters (so x-height letters stay smaller than capitals and descenders hang below), moved by
    a random offset; a glyph that would be cut is shifted, or shrunk when larger than the image.
    The caller checks that the font has ``ch`` (``Font.cmap``): a missing glyph would draw tofu.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    em = rng.uniform(*EM_RANGE) * size
    dx, dy = rng.uniform(-JITTER, JITTER, 2) * size
    px = max(1, round(em))
    while True:
        drawn = _draw_ink(str(font_path), ch, px)
        if drawn is None:
            return None
        ink, top = drawn
        height, width = ink.shape
        if (height <= size and width <= size) or px == 1:
            break
        px = min(px - 1, int(px * size / max(height, width)))  # larger than the image: shrink
    height, width = min(height, size), min(width, size)
    # Baseline a quarter em below the centre: the span from cap height to descender is centred.
    baseline = size / 2 + 0.25 * px + dy
    row = min(max(round(baseline + top), 0), size - height)
    col = min(max(round((size - width) / 2 + dx), 0), size - width)
    out = np.zeros((size, size), np.uint8)
    out[row:row + height, col:col + width] = ink[:height, :width]
    return out


def _glyph_seed(seed: int, font_path: str, ch: str, k: int) -> list[int]:
    """The random stream of one image depends on (seed, font file name, character, k) only, so a
    result never depends on the number of workers or on which other fonts are rendered."""
    return [seed, zlib.crc32(Path(font_path).name.encode()), ord(ch), k]


def _render_font(task: tuple[str, str, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Worker: every (character, k) of one font, in order, as one array (cheap to send back) and
    the mask of blank glyphs."""
    font_path, chars, per_font, size, seed = task
    out = np.zeros((len(chars) * per_font, size, size), np.uint8)
    blank = np.zeros(len(out), bool)
    for j, (ch, k) in enumerate((ch, k) for ch in chars for k in range(per_font)):
        image = render_glyph(font_path, ch, size, np.random.default_rng(_glyph_seed(seed, font_path, ch, k)))
        if image is None:
            blank[j] = True
        else:
            out[j] = image
    return out, blank


@dataclass
class Rendered:
    """Images of fonts x characters in memory, with what was left out and why."""

    images: np.ndarray            # uint8 (N, size, size), ink 255 on 0
    labels: np.ndarray            # int64 (N,), index into classes
    classes: list[str]            # folder names, e.g. 0041-A
    members: dict[str, list[str]]  # class -> its characters (two for a merged look-alike)
    font_index: np.ndarray        # int64 (N,), index into fonts
    fonts: list[Font]
    skipped: list[tuple[int, str, str]]  # (font index, character, reason)
    lookalikes: list[dict[str, Any]]
    confusables: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.images)


def render_arrays(fonts: Sequence[Font], chars: str, per_font: int = 1, size: int = 32,
                  lookalikes: str = "merge", seed: int = 0, workers: int | None = None,
                  progress: bool = False) -> Rendered:
    """Render ``per_font`` images of every character in every font that has it.

    ``chars``: a charset name or the characters. ``workers``: processes (default: one per core
    when there are many fonts); the result is the same for any number.
    """
    chars = chars_of(chars)
    if per_font < 1 or size < 4:
        raise UserError(f"per_font must be >= 1 and size >= 4, got {per_font} and {size}")
    members = class_members(chars, lookalikes)
    class_of = {ch: name for name, group in members.items() for ch in group}
    skipped = [(i, ch, "not in font") for i, font in enumerate(fonts) for ch in chars if ord(ch) not in font.cmap]
    tasks = [(font.path, "".join(ch for ch in chars if ord(ch) in font.cmap), per_font, size, seed)
             for font in fonts]
    if workers is None:
        workers = min(os.cpu_count() or 1, len(fonts)) if len(fonts) >= POOL_MIN_FONTS else 1
    from tqdm import tqdm

    with contextlib.ExitStack() as stack:
        # imap keeps the order of the fonts, so the result is the same with any number of workers
        pool = stack.enter_context(multiprocessing.get_context().Pool(workers)) if workers > 1 else None
        results = pool.imap(_render_font, tasks) if pool else map(_render_font, tasks)
        results = list(tqdm(results, total=len(tasks), desc="rendering fonts", unit="font", disable=not progress))
    images, names, font_index, blank = [], [], [], set()
    for i, (task, (rendered, is_blank)) in enumerate(zip(tasks, results)):
        chars_of_image = [ch for ch in task[1] for _ in range(per_font)]
        blank |= {(i, ch, "blank glyph") for ch, b in zip(chars_of_image, is_blank) if b}
        images.append(rendered[~is_blank])
        names += [class_of[ch] for ch, b in zip(chars_of_image, is_blank) if not b]
        font_index += [i] * int((~is_blank).sum())
    skipped = sorted(skipped + list(blank))
    # Classes with no image at all (no font has them) would be empty folders: leave them out.
    present = set(names)
    members = {name: group for name, group in members.items() if name in present}
    classes = list(members)
    label = {name: i for i, name in enumerate(classes)}
    alike, confusable = flagged_groups(members, lookalikes)
    return Rendered(
        images=np.concatenate(images) if images else np.zeros((0, size, size), np.uint8),
        labels=np.array([label[n] for n in names], np.int64), classes=classes, members=members,
        font_index=np.array(font_index, np.int64), fonts=list(fonts), skipped=skipped,
        lookalikes=alike, confusables=confusable)


def _file_stems(fonts: Sequence[Font]) -> list[str]:
    """File-name stems for images, unique even when two folders hold fonts of the same file name."""
    stems, seen = [], defaultdict(int)
    for font in fonts:
        stem = Path(font.path).stem
        seen[stem] += 1
        stems.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return stems


def _per_class(labels: np.ndarray, among: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A mask that keeps ``n`` of the images of each class where ``among`` is true (all if fewer),
    drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(labels), bool)
    for label in np.unique(labels[among]):
        candidates = np.flatnonzero(among & (labels == label))
        keep[rng.choice(candidates, min(n, len(candidates)), replace=False)] = True
    return keep


def render_dataset(out_dir: str | os.PathLike, fonts: Sequence[Font] | None = None, charset: str = "all",
                   per_font: int = 4, size: int = 32, test_fraction: float = 0.25, lookalikes: str = "merge",
                   seed: int = 0, progress: bool = True, overwrite: bool = False,
                   workers: int | None = None, train_per_class: int | None = None) -> dict[str, Any]:
    """Write ``out_dir/{train,test}/<class>/<fontstem>-<k>.png`` and ``out_dir/characters.json``.
    ``train_per_class``: keep that many training images of each class (a low-data set, drawn with ``seed``
    across the training fonts); the test split stays whole.

    Fonts without any of the characters (``usable_fonts``) are left out before the split. Every file is
    written atomically and characters.json last, so a killed run never looks complete.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    replace = out.is_dir() and any(out.iterdir())
    if replace and not overwrite:
        raise UserError(f"{out}: folder is not empty; choose another or overwrite it (--overwrite)")
    if train_per_class is not None and (isinstance(train_per_class, bool) or not isinstance(train_per_class, int)
                                        or train_per_class < 1):
        raise UserError(f"train_per_class must be a positive integer, got {train_per_class!r}")
    chars = chars_of(charset)
    fonts, unused = usable_fonts(find_fonts() if fonts is None else fonts, chars)
    train_fonts, test_fonts = split_fonts(fonts, test_fraction, seed)
    ordered = train_fonts + test_fonts
    rendered = render_arrays(ordered, chars, per_font, size, lookalikes, seed, workers, progress)
    if replace:  # only now that rendering worked; characters.json first, so it never looks complete
        (out / "characters.json").unlink(missing_ok=True)
        for split in ("train", "test"):
            shutil.rmtree(out / split, ignore_errors=True)
    split_of = ["train"] * len(train_fonts) + ["test"] * len(test_fonts)
    stems = _file_stems(ordered)
    count: dict[tuple[int, int], int] = defaultdict(int)  # images so far per (font, class): k
    is_train = rendered.font_index < len(train_fonts)
    keep = (np.ones(len(rendered), bool) if train_per_class is None
            else ~is_train | _per_class(rendered.labels, is_train, train_per_class, seed))
    from tqdm import tqdm

    for image, label, i, kept in tqdm(zip(rendered.images, rendered.labels, rendered.font_index, keep),
                                      total=len(rendered), desc="writing images", unit="image", disable=not progress):
        k = count[i, label]  # counted whether kept or not: a file's name says which render of its font it is
        count[i, label] += 1
        if kept:
            write_png(out / split_of[i] / rendered.classes[label] / f"{stems[i]}-{k}.png", image)
    n_train = int((keep & is_train).sum())
    summary = {"out_dir": str(out), "classes": len(rendered.classes), "train_images": n_train,
               "test_images": int((~is_train).sum()), "train_fonts": len(train_fonts),
               "test_fonts": len(test_fonts), "skipped": len(rendered.skipped), "unused_fonts": len(unused)}
    write_json(out / "characters.json", {
        "charset": charset, "seed": seed, "size": size, "per_font": per_font, "test_fraction": test_fraction,
        "train_per_class": train_per_class, "lookalike_mode": lookalikes,
        "fonts": {"train": [f.describe() for f in train_fonts], "test": [f.describe() for f in test_fonts]},
        "classes": [{"name": name, "chars": group} for name, group in rendered.members.items()],
        "lookalikes": rendered.lookalikes, "confusables": rendered.confusables,
        "skipped": [{"font": ordered[i].path, "char": ch, "reason": why} for i, ch, why in rendered.skipped],
        "unused_fonts": [f.path for f in unused],
        "summary": summary,
    })
    summary["seconds"] = round(time.perf_counter() - start, 1)
    return summary
