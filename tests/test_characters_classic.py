import json
import os
import random

import numpy as np
import pytest
import torch

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # before albumentations is imported
import albumentations as A  # noqa: E402

from gensdk.errors import UserError  # noqa: E402
from gensdk_plugins.characters.classic import PRESETS, ClassicAugmenter  # noqa: E402


def glyph(h: int, w: int, light: bool, color: bool = False) -> np.ndarray:
    """A centred 'H'-like character: ink strokes on a plain white or black background."""
    img = np.zeros((h, w), np.uint8)
    t = max(2, min(h, w) // 10)
    y0, y1, x0, x1 = h // 4, h - h // 4, w // 4, w - w // 4
    img[y0:y1, x0:x0 + t] = img[y0:y1, x1 - t:x1] = img[h // 2 - t // 2:h // 2 + t - t // 2, x0:x1] = 255
    if color:  # blue-ish ink: the channels differ inside the strokes only
        img = np.stack([img, img // 2, img // 4 * 3], -1)
    return 255 - img if light else img


def border(img: np.ndarray) -> np.ndarray:
    return np.concatenate([img[0].ravel(), img[-1].ravel(), img[:, 0].ravel(), img[:, -1].ravel()])


def corners(img: np.ndarray) -> np.ndarray:
    """3x3 blocks at the four corners: a 30 degree rotation moves them outside the source image."""
    return np.concatenate([img[:3, :3].ravel(), img[:3, -3:].ravel(), img[-3:, :3].ravel(), img[-3:, -3:].ravel()])


def save_pipeline(path, *transforms) -> str:
    A.save(A.Compose(list(transforms)), str(path), data_format="yaml")
    return str(path)


@pytest.mark.parametrize("shape", [(29, 31), (17, 45), (33, 21, 3), (40, 27, 3)])
@pytest.mark.parametrize("light", [True, False])
def test_shape_dtype_polarity(shape, light):
    aug = ClassicAugmenter("default")
    img = glyph(shape[0], shape[1], light, color=len(shape) == 3)
    for seed in range(8):
        out = aug.augment(img, seed)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert (np.median(border(out)) > 127) == light
        assert not np.shares_memory(out, img)


def test_output_never_aliases_input():
    aug, img = ClassicAugmenter("light"), glyph(20, 20, light=False)
    before = img.copy()
    for seed in range(50):  # some seeds fire no transform at all
        out = aug.augment(img, seed)
        assert not np.shares_memory(out, img)
        out[:] = 7
    assert np.array_equal(img, before)


def test_light_background_stays_light_under_affine(tmp_path):
    # a large rotation and shift expose the corners: they must be filled with the background
    path = save_pipeline(tmp_path / "affine.yaml",
                         A.Affine(rotate=(30, 30), translate_percent=(0.15, 0.15), fill=0, p=1.0))
    aug = ClassicAugmenter(path)
    for img in (glyph(32, 32, light=True), glyph(31, 37, light=True, color=True)):
        out = aug.augment(img, 0)
        assert not np.array_equal(out, img)
        assert corners(out).min() >= 250, "corners filled with black instead of the light background"
    dark = aug.augment(glyph(32, 32, light=False), 0)
    assert corners(dark).max() <= 5


def test_default_keeps_background_on_border():
    aug, img = ClassicAugmenter("default"), glyph(32, 32, light=True)
    borders = np.concatenate([border(aug.augment(img, s)) for s in range(20)])
    assert np.median(borders) >= 250 and (borders < 128).mean() < 0.02


def test_determinism_by_seed():
    img = glyph(32, 32, light=True)
    a, b = ClassicAugmenter("strong"), ClassicAugmenter("strong")
    first = a.augment(img, 7)
    np.random.seed(123)
    random.seed(456)
    torch.manual_seed(789)
    a.augment(img, 8)  # an earlier call must not change what seed 7 gives
    assert np.array_equal(a.augment(img, 7), first)
    assert np.array_equal(b.augment(img, 7), first)
    outs = [a.augment(img, s) for s in range(10)]
    distinct = {o.tobytes() for o in outs}
    assert len(distinct) >= 8


def test_save_load_round_trip(tmp_path):
    aug = ClassicAugmenter("default")
    path = tmp_path / "sub" / "pipeline.yaml"
    aug.save(path)
    assert os.listdir(path.parent) == ["pipeline.yaml"]  # no temporary file left behind
    loaded = ClassicAugmenter(path)
    assert loaded.to_dict() == aug.to_dict()
    for img in (glyph(32, 32, True), glyph(25, 30, False, color=True)):
        for seed in range(5):
            assert np.array_equal(loaded.augment(img, seed), aug.augment(img, seed))


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets(name):
    aug = ClassicAugmenter(name)
    d = aug.to_dict()
    json.dumps(d)  # recordable in a JSON manifest
    names = json.dumps(d)
    assert d["transform"]["__class_fullname__"] == "Compose" and "Affine" in names
    assert "Flip" not in names and "Transpose" not in names and "Rotate90" not in names
    assert set(PRESETS) == {"default", "light", "strong"}


def test_bad_yaml_raises_user_error(tmp_path):
    good = tmp_path / "good.yaml"
    ClassicAugmenter("light").save(good)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(good.read_text().replace("GaussNoise", "GaussNoize"))
    misspelt = tmp_path / "misspelt.yaml"
    misspelt.write_text(good.read_text().replace("std_range", "stdev_range"))
    malformed = tmp_path / "malformed.yaml"
    malformed.write_text("transform: [unclosed\n  - : :\n")
    # found by tests/test_reader_properties.py: PyYAML's plain ValueError on a bad date escaped
    bad_date = tmp_path / "date.yaml"
    bad_date.write_text("transform: {p: 2001-02-30}\n")
    for path, words in [(unknown, "GaussNoize"), (misspelt, "stdev_range"), (malformed, "malformed"),
                        (bad_date, "malformed YAML: ValueError: day is out of range"),
                        (tmp_path / "missing.yaml", "preset")]:
        with pytest.raises(UserError) as e:
            ClassicAugmenter(path)
        msg = str(e.value)
        assert str(path) in msg and words in msg and "\n" not in msg


def ink(img: np.ndarray, light: bool) -> int:
    return int((255 - img if light else img).astype(np.int64).sum())


@pytest.mark.parametrize("light", [True, False])
def test_morphology_changes_stroke_width(tmp_path, light):
    img = glyph(32, 32, light)
    for op, sign in [("dilation", 1), ("erosion", -1)]:
        path = save_pipeline(tmp_path / f"{op}.yaml", A.Morphological(scale=(2, 2), operation=op, p=1.0))
        out = ClassicAugmenter(path).augment(img, 0)
        assert sign * (ink(out, light) - ink(img, light)) > 0.1 * ink(img, light)


def test_augment_batch():
    aug = ClassicAugmenter("default")
    x = torch.from_numpy(np.stack([glyph(32, 32, light=False)] * 6)).float().unsqueeze(1) / 255
    out = aug.augment_batch(x, seed=3)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, aug.augment_batch(x, seed=3))
    assert not torch.equal(out, aug.augment_batch(x, seed=4))
    assert len({o.numpy().tobytes() for o in out}) >= 5  # each image gets its own randomness
    # background stays dark (ink-bright input): corners are near 0
    assert out[:, 0, 0, 0].max() < 0.2
    with pytest.raises(ValueError):
        aug.augment_batch(x[:, 0], seed=0)
