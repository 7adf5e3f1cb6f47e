"""Classical codecs, metrics, BD-rate and the image data of the compression plugin (fast, CPU)."""

import io
import json
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gensdk.errors import UserError
from gensdk_plugins.compression import classical, data, metrics

# Published example: FAU-LMS "bjontegaard" package, test 1 (x265 at two presets). The expected
# values are those of that package (v1.3.0) for the same methods; they agree with the JVET CTC
# spreadsheet (pchip) and with VCEG-M33 (cubic).
ANCHOR = list(zip([9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851]))
TEST = list(zip([9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987]))


@pytest.fixture(scope="module")
def crops():
    """Two 64x96 crops of test photos: real texture, small enough for every codec in milliseconds."""
    photos = data.load_test_photos(("astronaut", "coffee"))
    return {name: np.ascontiguousarray(img[100:164, 200:296]) for name, img in photos.items()}


# --- codecs ---------------------------------------------------------------------------------------

def test_core_codecs_available():
    assert {"jpeg", "webp", "jpeg2000"} <= set(classical.available_codecs())


@pytest.mark.parametrize("name", classical.available_codecs())
def test_codec_round_trip(name, crops):
    codec = classical.CODECS[name]
    image = crops["astronaut"]
    encoded = codec.encode(image, codec.qualities[len(codec.qualities) // 2])
    decoded = codec.decode(encoded)
    assert isinstance(encoded, bytes) and 0 < len(encoded) < image.nbytes
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert metrics.psnr(image, decoded) > 22


@pytest.mark.parametrize("name", classical.available_codecs())
def test_rate_and_quality_rise_with_quality(name, crops):
    ladder = classical.CODECS[name].qualities
    points = classical.rd_points(name, crops, [ladder[1], ladder[len(ladder) // 2], ladder[-1]])
    bpp, psnr = [p["bpp"] for p in points], [p["psnr"] for p in points]
    assert bpp == sorted(bpp) and psnr == sorted(psnr) and bpp[0] < bpp[-1] and psnr[0] < psnr[-1]
    first = points[0]
    assert first["codec"] == name and set(first["per_image"]) == set(crops)
    assert first["bpp"] == pytest.approx(np.mean([v["bpp"] for v in first["per_image"].values()]))
    assert 0 < first["ms_ssim"] <= 1


@pytest.mark.parametrize("name", [n for n in ("hevc", "avif") if n in classical.available_codecs()])
def test_full_resolution_chroma(name):
    """1-pixel red/blue columns live in full-resolution chroma: 4:2:0 would smear them to purple."""
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, ::2], image[:, 1::2] = (255, 0, 0), (0, 0, 255)
    encoded = classical.CODECS[name].encode(image, 95 if name == "avif" else 60)
    error = np.abs(classical.CODECS[name].decode(encoded).astype(int) - image)
    assert error.mean() < 2
    if name == "hevc":
        import pillow_heif

        assert pillow_heif.open_heif(io.BytesIO(encoded)).info["chroma"] == 444
    else:
        av1c = encoded[encoded.find(b"av1C") + 4:][:4]
        assert av1c[1] >> 5 == 1 and (av1c[2] >> 2) & 3 == 0  # High profile, no subsampling in x or y


def test_jpeg2000_hits_target_rate(crops):
    point = classical.rd_points("jpeg2000", crops, [0.5])[0]
    assert point["bpp"] == pytest.approx(0.5, rel=0.1)


def test_unknown_and_unavailable_codecs(monkeypatch):
    with pytest.raises(UserError, match="unknown codec 'nope'.*jpeg"):
        classical.rd_points("nope", {})
    monkeypatch.setattr(classical, "_unavailable", lambda name: "no module named pillow_heif")
    with pytest.raises(UserError, match="codec hevc is not available.*install pillow-heif"):
        classical.CODECS["hevc"].encode(np.zeros((32, 32, 3), np.uint8), 50)
    assert classical.available_codecs() == []


# --- metrics ----------------------------------------------------------------------------------------

def test_psnr_known_values():
    a = np.full((8, 8, 3), 100, np.uint8)
    assert metrics.psnr(a, a) == math.inf
    assert metrics.psnr(a, a + 1) == pytest.approx(20 * math.log10(255), abs=1e-9)  # 48.13 dB
    assert metrics.psnr(a, a + 1) == pytest.approx(48.1308, abs=1e-4)
    x = torch.full((2, 3, 4, 4), 100 / 255)
    y = x.clone()
    y[1] += 1 / 255
    assert metrics.psnr_torch(x, y)[1].item() == pytest.approx(48.1308, abs=1e-3)
    assert metrics.psnr_torch(x, y)[0].item() == math.inf


def test_ms_ssim():
    import pytorch_msssim

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (176, 180, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    assert metrics.ms_ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    as_tensor = lambda v: torch.tensor(v, dtype=torch.float32).permute(2, 0, 1)[None]  # noqa: E731
    reference = float(pytorch_msssim.ms_ssim(as_tensor(a), as_tensor(b), data_range=255))
    assert metrics.ms_ssim(a, b) == pytest.approx(reference, abs=1e-6)  # standard 5 scales
    small = metrics.ms_ssim(a[:64, :96], b[:64, :96])  # 3 scales
    assert 0 < small < 1
    with pytest.raises(ValueError, match="too small"):
        metrics.ms_ssim(a[:8, :8], b[:8, :8])


def test_ms_ssim_torch_is_a_loss():
    x = torch.rand(2, 3, 64, 64)
    y = (x + 0.05 * torch.randn_like(x)).clamp(0, 1).requires_grad_()
    value = metrics.ms_ssim_torch(y, x)
    assert value.shape == (2,)
    (1 - value.mean()).backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


# --- Bjontegaard -------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bd_identities(method):
    assert metrics.bd_rate(ANCHOR, ANCHOR, method) == pytest.approx(0, abs=1e-9)
    assert metrics.bd_psnr(ANCHOR, ANCHOR, method) == pytest.approx(0, abs=1e-9)
    half = [(r * 0.5, d) for r, d in ANCHOR]
    assert metrics.bd_rate(ANCHOR, half, method) == pytest.approx(-50, abs=1e-9)
    assert metrics.bd_rate(half, ANCHOR, method) == pytest.approx(100, abs=1e-9)
    better = [(r, d + 0.5) for r, d in ANCHOR]
    assert metrics.bd_psnr(ANCHOR, better, method) == pytest.approx(0.5, abs=1e-9)
    assert metrics.bd_rate(ANCHOR[::-1], half, method) == pytest.approx(-50, abs=1e-9)  # order-free


def test_bd_published_example():
    assert metrics.bd_rate(ANCHOR, TEST) == pytest.approx(-4.417485350589, abs=1e-8)
    assert metrics.bd_rate(ANCHOR, TEST, "cubic") == pytest.approx(-4.420462706, abs=1e-8)
    assert metrics.bd_psnr(ANCHOR, TEST) == pytest.approx(0.119692785425, abs=1e-8)
    assert metrics.bd_psnr(ANCHOR, TEST, "cubic") == pytest.approx(0.120409419115, abs=1e-8)


def test_bd_errors_and_table():
    far = [(r, d + 20) for r, d in ANCHOR]
    assert metrics.bd_rate(ANCHOR, far) is None  # no common PSNR range
    with pytest.raises(ValueError, match="at least 4"):
        metrics.bd_rate(ANCHOR[:3], ANCHOR)
    with pytest.raises(ValueError, match="unknown method"):
        metrics.bd_rate(ANCHOR, TEST, method="akima")
    table = metrics.bd_table({"a": ANCHOR, "b": TEST, "far": far})
    assert set(table) == {("a", "b"), ("b", "a"), ("a", "far"), ("far", "a"), ("b", "far"), ("far", "b")}
    assert table[("a", "b")] == pytest.approx(-4.417485350589, abs=1e-8) and table[("a", "far")] is None


# --- data ----------------------------------------------------------------------------------------------

def test_load_test_photos():
    photos = data.load_test_photos()
    assert list(photos) == list(data.TEST_PHOTOS)
    assert photos["astronaut"].shape == (512, 512, 3) and photos["chelsea"].shape == (300, 451, 3)
    assert all(p.dtype == np.uint8 and p.ndim == 3 and p.shape[2] == 3 for p in photos.values())
    with pytest.raises(UserError, match="unknown test photo 'lena'.*astronaut"):
        data.load_test_photos(("lena",))


def _png16_rgb(path, h=4, w=5):
    """A 16-bit RGB PNG written by hand (Pillow cannot write one)."""
    pixels = (np.arange(h * w * 3).reshape(h, w, 3) * 1000).astype(">u2")
    raw = b"".join(b"\x00" + pixels[i].tobytes() for i in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def test_read_image_modes(tmp_path):
    Image.new("L", (6, 4), 77).save(tmp_path / "gray.png")
    Image.new("RGBA", (6, 4), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    Image.fromarray(np.full((4, 6), 65535, np.uint16)).save(tmp_path / "gray16.png")
    Image.new("P", (6, 4), 3).save(tmp_path / "palette.png")
    _png16_rgb(tmp_path / "rgb16.png")
    for name in ("gray", "clear", "gray16", "palette", "rgb16"):
        image = data.read_image(tmp_path / f"{name}.png")
        assert image.dtype == np.uint8 and image.shape[2] == 3, name
    assert (data.read_image(tmp_path / "gray.png") == 77).all()
    assert (data.read_image(tmp_path / "clear.png") == 255).all()  # transparent on white
    assert (data.read_image(tmp_path / "gray16.png") == 255).all()


def test_read_image_errors(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = tmp_path / "notes.png"
    text.write_text("not a picture\n")
    with pytest.raises(UserError, match=r"truncated\.png: cannot read image \("):
        data.read_image(truncated)
    with pytest.raises(UserError, match=r"notes\.png: cannot read image \(not an image format"):
        data.read_image(text)
    with pytest.raises(UserError, match=r"missing\.png: no such file"):
        data.read_image(tmp_path / "missing.png")
    with pytest.raises(UserError, match="larger than 1000 pixels"):
        data.read_image(good, max_pixels=1000)
    assert data.read_image(good).shape == (64, 64, 3)
    assert Image.MAX_IMAGE_PIXELS not in (1000, data.MAX_PIXELS)  # the global limit is restored


def _photo(path, w, h, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def test_image_files_and_load_images(tmp_path):
    _photo(tmp_path / "b" / "one.jpg", 40, 30)
    _photo(tmp_path / "a.png", 20, 10)
    _photo(tmp_path / ".hidden" / "x.png", 20, 10)
    (tmp_path / "readme.txt").write_text("hi")
    assert data.image_files(tmp_path) == [tmp_path / "a.png", tmp_path / "b" / "one.jpg"]
    images = data.load_images(tmp_path)
    assert list(images) == ["a", "b/one"] and images["b/one"].shape == (30, 40, 3)
    assert list(data.load_images(tmp_path / "a.png")) == ["a"]
    assert len(data.load_images("test-photos")) == 6
    with pytest.raises(UserError, match="no such folder"):
        data.image_files(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="empty: no image files"):
        data.image_files(tmp_path / "empty")
    with pytest.raises(UserError, match="no such file or folder"):
        data.load_images(tmp_path / "nowhere")


def test_random_crops(tmp_path):
    files = [_photo(tmp_path / "p1.png", 700, 500, 1), _photo(tmp_path / "p2.png", 400, 300, 2)]
    crops = data.random_crops(files, 5, size=64, seed=3)
    assert crops.shape == (5, 64, 64, 3) and crops.dtype == np.uint8
    assert (crops == data.random_crops(files, 5, size=64, seed=3)).all()
    assert not (crops == data.random_crops(files, 5, size=64, seed=4)).all()
    y, x = np.mgrid[:500, :700]  # pixels that name their position: R, G = x, y mod 256; B = high bits
    coded = np.stack([x % 256, y % 256, (x // 256) * 16 + y // 256], axis=2).astype(np.uint8)
    Image.fromarray(coded).save(tmp_path / "coded.png")
    plain = data.random_crops([tmp_path / "coded.png"], 1, size=64, seed=0, downscale=False)[0]
    x0 = int(plain[0, 0, 0]) + 256 * (int(plain[0, 0, 2]) // 16)
    y0 = int(plain[0, 0, 1]) + 256 * (int(plain[0, 0, 2]) % 16)
    assert (plain == coded[y0:y0 + 64, x0:x0 + 64]).all()  # an exact crop, no resampling
    with pytest.raises(UserError, match="smaller than the crop size"):
        data.random_crops(files, 2, size=320)
    data.save_crops(tmp_path / "crops.npy", crops)
    assert (data.load_crops(tmp_path / "crops.npy") == crops).all()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    with pytest.raises(UserError, match="no such file"):
        data.load_crops(tmp_path / "none.npy")


def test_fetch_wallpapers_uses_what_is_extracted_and_keeps_the_photographs(tmp_path, monkeypatch):
    for package in data.WALLPAPER_PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / ".extracted").write_text("x.deb\n")
    mate = tmp_path / "mate-backgrounds" / "usr/mate"
    _photo(mate / "Aqua.jpg", 600, 520)
    big = _photo(mate / "Aqua_1200x1040.jpg", 1200, 1040)  # the largest variant of a picture
    os.symlink(big, mate / "Link.jpg")
    _photo(mate / "small.jpg", 400, 300)
    _photo(mate / "Elephants.jpg", 600, 600)  # a painting: not in WALLPAPER_PHOTOS
    Image.new("RGBA", (600, 600), (0, 0, 0, 128)).save(mate / "overlay.png")
    kite = tmp_path / "plasma-workspace-wallpapers" / "usr/wallpapers/Kite/contents"
    plasma = _photo(kite / "images/5120x2880.png", 640, 600)
    _photo(kite / "images/1280x1024.png", 600, 560)
    _photo(kite / "images_dark/5120x2880.png", 620, 600)
    monkeypatch.setattr(data.subprocess, "run", lambda *a, **k: pytest.fail("downloaded again"))
    assert data.fetch_wallpapers(tmp_path) == sorted([big, plasma])
    counts = json.loads((tmp_path / "photos.json").read_text())
    assert counts["mate-backgrounds"] == {"pictures": 2, "photographs": 1}
    assert counts["plasma-workspace-wallpapers"] == {"pictures": 1, "photographs": 1}
    assert counts["lomiri-wallpapers-20.04"] == {"pictures": 0, "photographs": 0}
    assert data.picture_name(Path("a/Storm_3840x2160.jpg")) == "Storm" == data.picture_name(Path("Storm/contents/images/1x2.png"))


def test_fetch_wallpapers_without_apt(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="package mate-backgrounds: apt-get not found"):
        data.fetch_wallpapers(tmp_path / "dest")


def test_plot_rd(tmp_path):
    pytest.importorskip("matplotlib")
    from gensdk_plugins.compression.plot import plot_rd

    curves = {"a": ANCHOR, "b": [{"bpp": r, "psnr": d, "ms_ssim": 0.9} for r, d in TEST]}
    plot_rd(curves, tmp_path / "rd.png")
    with Image.open(tmp_path / "rd.png") as im:
        assert im.format == "PNG" and im.width > 300
    with pytest.raises(UserError, match="unknown metric"):
        plot_rd(curves, tmp_path / "x.png", metric="lpips")
