"""The characters plugin's data: fonts rendered to character images, sklearn digits (image folders: test_images.py)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gensdk.core.data import load_dataset
from gensdk.errors import UserError
from gensdk_plugins.characters import fonts as F
from gensdk_plugins.characters.data import CharacterSet, load_characters, load_digits, render_set


@pytest.fixture(scope="module")
def dejavu() -> list[F.Font]:
    found = [f for f in F.find_fonts() if f.family.startswith("DejaVu")]
    assert found, "no DejaVu fonts found in the system font folders: install fonts-dejavu-core"
    return found


@pytest.fixture(scope="module")
def sans(dejavu) -> F.Font:
    return next(f for f in dejavu if f.name == "DejaVuSans.ttf")


def ink_rows(image: np.ndarray) -> tuple[int, int]:
    rows = np.nonzero(image.max(1) > 64)[0]
    return int(rows[0]), int(rows[-1])


# --- fonts -------------------------------------------------------------------------------------------

def test_find_fonts_skips_bad_files_and_duplicates(tmp_path, sans):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    data = Path(sans.path).read_bytes()
    (tmp_path / "a" / "DejaVuSans.ttf").write_bytes(data)
    (tmp_path / "b" / "copy.TTF").write_bytes(data)  # same family and style: one font
    (tmp_path / "b" / "broken.ttf").write_bytes(b"not a font at all")
    found = F.find_fonts([tmp_path])
    assert [f.family for f in found] == ["DejaVu Sans"] and ord("Ж") in found[0].cmap
    with pytest.raises(UserError, match="no such font folder"):
        F.find_fonts([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no readable fonts"):
        F.find_fonts(tmp_path / "empty")


def test_charsets_and_literal_characters():
    assert F.chars_of("digits") == "0123456789"
    assert len(F.chars_of("cyrillic")) == 66 and "Ё" in F.chars_of("cyrillic")
    assert len(F.chars_of("all")) == 10 + 52 + 66
    assert F.chars_of("0123") == "0123" and F.chars_of("AAb") == "Ab" and F.chars_of("chars:xyz") == "xyz"
    for bad in ("", "latn", "a b"):
        with pytest.raises(UserError):
            F.chars_of(bad)
    assert F.class_name("A") == "0041-A" and F.class_name("а") == "0430-а"


def test_render_glyph_shape_polarity_and_baseline(sans):
    image = F.render_glyph(sans.path, "A", 32, np.random.default_rng(1))
    assert image.shape == (32, 32) and image.dtype == np.uint8
    assert image.max() == 255 and np.median(image) == 0  # white ink on black
    assert len(np.unique(image)) > 10  # anti-aliased
    lower, upper, descender = [], [], []
    for seed in range(6):  # the same random draw for each character: same size and offset
        x, big_x, o, p = (F.render_glyph(sans.path, ch, 32, np.random.default_rng(seed)) for ch in "xXop")
        (x_top, x_bottom), (big_top, big_bottom) = ink_rows(x), ink_rows(big_x)
        lower.append(x_bottom - x_top)
        upper.append(big_bottom - big_top)
        assert abs(x_bottom - big_bottom) <= 1  # both sit on the baseline
        descender.append(ink_rows(p)[1] - ink_rows(o)[1])
    assert np.mean(lower) < 0.85 * np.mean(upper)
    assert min(descender) > 2  # p hangs below the baseline


def test_large_glyph_is_shrunk_not_clipped(sans, monkeypatch):
    monkeypatch.setattr(F, "EM_RANGE", (1.6, 1.6))  # an em far larger than the image
    image = F.render_glyph(sans.path, "W", 32, np.random.default_rng(0))
    cols = np.nonzero(image.max(0))[0]
    assert cols[-1] - cols[0] >= 24  # shrunk to about the image width, not to a speck
    # all the ink of a whole glyph is there: the image holds exactly the ink of W at some em size
    whole = {int(F._draw_ink(sans.path, "W", px)[0].astype(int).sum()) for px in range(20, 52)}
    assert int(image.astype(int).sum()) in whole


def test_render_arrays_deterministic_and_independent_of_workers(dejavu):
    fonts = dejavu[:4]
    one = F.render_arrays(fonts, "0Aa", per_font=2, size=24, seed=3, workers=1)
    two = F.render_arrays(fonts, "0Aa", per_font=2, size=24, seed=3, workers=2)
    assert one.images.shape == (4 * 3 * 2, 24, 24) and one.images.dtype == np.uint8
    assert one.labels.dtype == np.int64 and one.classes == ["0030-0", "0041-A", "0061-a"]
    np.testing.assert_array_equal(one.images, two.images)
    np.testing.assert_array_equal(one.labels, two.labels)
    np.testing.assert_array_equal(one.font_index, two.font_index)
    other = F.render_arrays(fonts, "0Aa", per_font=2, size=24, seed=4, workers=1)
    assert not np.array_equal(one.images, other.images)
    # a font renders the same whichever other fonts are in the list
    alone = F.render_arrays(fonts[1:2], "0Aa", per_font=2, size=24, seed=3, workers=1)
    np.testing.assert_array_equal(alone.images, one.images[one.font_index == 1])


def test_split_is_by_family_and_disjoint(dejavu):
    train, test = F.split_fonts(dejavu, 0.3, seed=0)
    assert train and test and len(train) + len(test) == len(dejavu)
    families = {f.family for f in dejavu}
    design = lambda fonts: {F.design_of(f.family, families) for f in fonts}  # noqa: E731
    assert not design(train) & design(test)
    assert not {f.path for f in train} & {f.path for f in test}
    assert F.split_fonts(dejavu, 0.3, seed=0) == (train, test)
    with pytest.raises(UserError, match="at least 2 families"):
        F.split_fonts([f for f in dejavu if f.family == "DejaVu Sans"])
    known = {"Liberation Sans", "Noto Serif"}
    assert F.design_of("Liberation Sans Narrow", known) == "Liberation Sans"
    assert F.design_of("Noto Serif Display", known) == "Noto Serif"
    assert F.design_of("FreeSans", known) == "Nimbus Sans"  # FreeFont derives from URW's Nimbus


def test_lookalikes_merge_and_keep(sans):
    merged = F.render_arrays([sans], "AАaаBВ", workers=1)
    kept = F.render_arrays([sans], "AАaаBВ", lookalikes="keep", workers=1)
    assert len(merged.classes) == 3 and len(kept.classes) == 6
    assert merged.members["0041-A"] == ["A", "А"] and merged.members["0061-a"] == ["a", "а"]
    assert np.bincount(merged.labels).tolist() == [2, 2, 2]  # both members of each class rendered
    assert all(group["merged"] for group in merged.lookalikes)
    assert {tuple(g["classes"]) for g in kept.lookalikes} >= {("0041-A", "0410-А"), ("0061-a", "0430-а")}
    assert not any(group["merged"] for group in kept.lookalikes)
    with pytest.raises(UserError):
        F.render_arrays([sans], "A", lookalikes="fold")


def test_confusables_are_flagged_not_merged(sans):
    out = F.render_arrays([sans], "0OО1lIcCвВ", workers=1)
    assert len(out.classes) == 9  # only O/О merged
    flagged = {tuple(g["classes"]) for g in out.confusables}
    assert ("0030-0", "004F-O") in flagged and ("0031-1", "0049-I", "006C-l") in flagged
    assert ("0043-C", "0063-c") in flagged and ("0412-В", "0432-в") in flagged


def test_missing_character_is_skipped_and_counted(sans):
    out = F.render_arrays([sans, sans], "A中", workers=1)  # DejaVu has no CJK
    assert len(out.images) == 2 and out.classes == ["0041-A"]
    assert out.skipped == [(0, "中", "not in font"), (1, "中", "not in font")]


def test_render_dataset_layout_and_refuses_non_empty_folder(tmp_path, dejavu):
    out = tmp_path / "chars"
    summary = F.render_dataset(out, dejavu, charset="01", per_font=2, size=24, progress=False, workers=1)
    meta = json.loads((out / "characters.json").read_text())
    assert summary["classes"] == 2 and summary["train_images"] > 0 and summary["test_images"] > 0
    assert [c["name"] for c in meta["classes"]] == ["0030-0", "0031-1"]
    assert meta["seed"] == 0 and meta["size"] == 24 and meta["per_font"] == 2
    train_families = {f["family"] for f in meta["fonts"]["train"]}
    test_families = {f["family"] for f in meta["fonts"]["test"]}
    assert train_families and test_families and not train_families & test_families
    for split, fonts in meta["fonts"].items():
        stem = Path(fonts[0]["path"]).stem
        for k in range(2):
            image = Image.open(out / split / "0030-0" / f"{stem}-{k}.png")
            assert image.mode == "L" and image.size == (24, 24)
    pngs = list(out.rglob("*.png"))
    assert len(pngs) == summary["train_images"] + summary["test_images"] == len(dejavu) * 2 * 2
    assert not [p for p in out.rglob(".*")]  # no temporary files left
    with pytest.raises(UserError, match="not empty"):
        F.render_dataset(out, dejavu, charset="01", per_font=1, progress=False)
    again = F.render_dataset(out, dejavu, charset="0", per_font=1, progress=False, overwrite=True, workers=1)
    assert again["classes"] == 1 and not (out / "train" / "0031-1").exists()
    with pytest.raises(UserError, match="train"):
        load_characters(out)  # the root of a rendered set: pass train/ or test/
    train = load_characters(out / "train", size=24)
    assert train.classes == ["0030-0"] and len(train) == again["train_images"]


def test_render_dataset_keeps_n_training_images_per_class_and_the_whole_test_split(tmp_path, dejavu):
    whole = F.render_dataset(tmp_path / "whole", dejavu, charset="01", per_font=2, size=24, progress=False, workers=1)
    low = F.render_dataset(tmp_path / "low", dejavu, charset="01", per_font=2, size=24, progress=False, workers=1,
                           train_per_class=3)
    assert low["train_images"] == 2 * 3 and low["test_images"] == whole["test_images"]
    for name in ("0030-0", "0031-1"):
        kept = sorted(p.name for p in (tmp_path / "low" / "train" / name).glob("*.png"))
        assert len(kept) == 3 and set(kept) <= {p.name for p in (tmp_path / "whole" / "train" / name).glob("*.png")}
        for file in kept:  # the same render as in the whole set, under the same name
            assert (tmp_path / "low" / "train" / name / file).read_bytes() == \
                (tmp_path / "whole" / "train" / name / file).read_bytes()
    assert json.loads((tmp_path / "low" / "characters.json").read_text())["train_per_class"] == 3
    with pytest.raises(UserError, match="train_per_class must be a positive integer"):
        F.render_dataset(tmp_path / "bad", dejavu, charset="01", progress=False, train_per_class=0)
    assert not (tmp_path / "bad").exists()


def test_render_set_is_a_character_set(sans):
    chars = render_set([sans], "AЖ", per_font=2, size=16)
    assert chars.images.shape == (4, 1, 16, 16) and chars.images.dtype == torch.float32
    assert 0 <= chars.images.min() and chars.images.max() <= 1 and chars.images.max() > 0.9
    assert chars.sources == ["font:DejaVuSans.ttf"] * 4 and chars.classes == ["0041-A", "0416-Ж"]
    assert isinstance(chars, CharacterSet)


def test_a_rendered_set_root_is_refused(tmp_path):
    (tmp_path / "train" / "a").mkdir(parents=True)
    (tmp_path / "characters.json").write_text("{}")
    with pytest.raises(UserError, match="a rendered character set; pass"):
        load_characters(tmp_path)
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(UserError, match="not a folder"):
        load_characters(tmp_path / "file.png")


def test_digits_loader_and_registered_dataset():
    digits = load_digits(size=16)
    assert digits.images.shape == (1797, 1, 16, 16) and digits.classes == [str(d) for d in range(10)]
    assert digits.images.min() >= 0 and digits.images.max() <= 1 and digits.sources[5] == "sklearn-digits:5"
    data = load_dataset("characters", source="sklearn-digits", size=8, per_class=5, seed=0)
    assert data.x.shape == (50, 1, 8, 8) and data.x.min() >= -1 and data.x.min() < 0 and data.num_classes == 10
