"""The core's image files: read_image in both shapes, folders of labelled images, gray squares."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gensdk.core.images import (BadImage, ImageSet, load_image_folder, read_image, scan_folder,
                                to_gray_square)
from gensdk.errors import UserError


def ink_on(light: bool, shape=(20, 13), mode="L") -> Image.Image:
    """A bar of ink in the middle: dark on white paper (light=True) or bright on black."""
    arr = np.full(shape, 255 if light else 0, np.uint8)
    arr[shape[0] // 4: 3 * shape[0] // 4, shape[1] // 3: 2 * shape[1] // 3] = 0 if light else 255
    return Image.fromarray(arr).convert(mode)


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "input"
    a, b = root / "a", root / "b"
    a.mkdir(parents=True)
    b.mkdir()
    (root / "empty").mkdir()
    ink_on(False).save(a / "gray.png")
    ink_on(True, (17, 30), "RGB").save(a / "photo.jpg", quality=95)
    rgba = np.zeros((11, 9, 4), np.uint8)  # transparent background, opaque black ink
    rgba[3:8, 3:6, 3] = 255
    Image.fromarray(rgba, "RGBA").save(a / "alpha.png")
    ink_on(False, (15, 15), "P").save(a / "palette.png")
    ink_on(True, (33, 21), "RGB").save(b / "scan.bmp")
    ink_on(True, (40, 25)).save(b / "light.png")
    (b / "notes.txt").write_text("not an image")
    (b / ".DS_Store").write_bytes(b"\0\1")
    (b / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    good = (b / "light.png").read_bytes()
    (b / "truncated.png").write_bytes(good[: len(good) // 2])
    (b / "zero.png").write_bytes(b"")
    return root


def test_read_image_modes_and_bad_files(folder):
    assert read_image(folder / "a" / "gray.png", keep_gray=True).shape == (20, 13)
    assert read_image(folder / "a" / "photo.jpg", keep_gray=True).shape == (17, 30, 3)
    assert read_image(folder / "a" / "palette.png", keep_gray=True).shape == (15, 15)  # gray palette -> gray
    alpha = read_image(folder / "a" / "alpha.png", keep_gray=True)
    assert alpha.dtype == np.uint8 and alpha[0, 0].tolist() == [255, 255, 255]  # on white
    assert alpha[5, 4].tolist() == [0, 0, 0]
    assert read_image(folder / "b" / "scan.bmp", keep_gray=True).shape == (33, 21, 3)
    for name in ("gray.png", "palette.png"):  # without keep_gray: always RGB, the gray in each channel
        gray, rgb = read_image(folder / "a" / name, keep_gray=True), read_image(folder / "a" / name)
        assert rgb.shape == (*gray.shape, 3) and (rgb == gray[..., None]).all()
    for name in ("corrupt.png", "truncated.png", "zero.png", "notes.txt", "missing.png"):
        with pytest.raises(BadImage, match=name):
            read_image(folder / "b" / name)
    assert issubclass(BadImage, UserError)  # one line and exit code 2 on the command line


def test_load_folder_skips_and_records_bad_inputs(folder):
    chars = load_image_folder(folder, size=16)
    assert chars.classes == ["a", "b"]
    assert chars.images.shape == (6, 1, 16, 16) and chars.images.dtype == torch.float32
    assert chars.counts() == {"a": 4, "b": 2}
    reasons = {Path(s.path).name: s.reason for s in chars.skipped}
    assert reasons["notes.txt"] == "not an image file" and reasons["empty"] == "empty class folder"
    for name in ("corrupt.png", "truncated.png", "zero.png"):
        assert name in reasons[name]  # the message names the file
    assert ".DS_Store" not in reasons
    # every image comes out ink-bright on dark, light paper inverted
    for image in chars.images[:, 0]:
        assert image[8, 8] > 0.8 and image[0, 0] < 0.2 and image.min() >= 0 and image.max() <= 1
    assert chars.sources[0].endswith("alpha.png")


def test_scan_folder_lists_without_opening_and_verify_checks(folder):
    listed = scan_folder(folder)
    assert len(listed.files) == 9 and listed.labels.dtype == np.int64
    checked = scan_folder(folder, verify=True)
    assert len(checked.files) == 6 and checked.classes == ["a", "b"]
    assert {Path(s.path).name for s in checked.skipped} >= {"corrupt.png", "truncated.png", "zero.png", "empty"}


def test_bad_input_dirs_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        scan_folder(tmp_path / "missing")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(UserError, match="not a folder"):
        load_image_folder(tmp_path / "file.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no class subfolders"):
        load_image_folder(tmp_path / "empty")
    (tmp_path / "empty" / "a").mkdir()
    (tmp_path / "empty" / "a" / "bad.png").write_bytes(b"junk")
    with pytest.raises(UserError, match="no readable images"):
        load_image_folder(tmp_path / "empty")


def test_to_gray_square_polarity_and_shape():
    light = np.full((30, 10, 3), 250, np.uint8)  # paper, with a wide dark bar of ink
    light[5:25, 1:9] = 20
    out = to_gray_square(light, 12)
    assert out.shape == (12, 12) and out.dtype == np.float32
    assert out[6, 6] > 0.9 and out[0, 0] < 0.05 and out[6, 0] < 0.05  # inverted, padded with background
    dark = to_gray_square(np.asarray(ink_on(False, (8, 8))), 8)
    np.testing.assert_allclose(dark, np.asarray(ink_on(False, (8, 8))) / 255, atol=1e-6)


def test_subset_counts_and_determinism():
    labels = torch.tensor([0] * 10 + [1] * 3 + [2] * 1)
    chars = ImageSet(torch.rand(14, 1, 8, 8), labels, ["x", "y", "z"], [f"s{i}" for i in range(14)])
    small = chars.subset(2, seed=1)
    assert small.counts() == {"x": 2, "y": 2, "z": 1} and small.classes == chars.classes
    assert small.sources == chars.subset(2, seed=1).sources
    assert set(small.sources) <= set(chars.subset(5, seed=1).sources)  # budgets are nested
    assert chars.select([0, 13]).labels.tolist() == [0, 2]
    data = chars.to_dataset("tanh")
    assert data.kind == "image" and data.num_classes == 3 and data.x.min() >= -1
    assert data.meta["classes"] == ["x", "y", "z"]
    with pytest.raises(ValueError):
        chars.subset(0, seed=1)
