"""The learned codecs: exact integer decoding, real bitstreams, the file format's errors, training
and resume, and the CLI. Tiny models (16/24 channels) trained for a few steps."""

import struct
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gensdk.errors import UserError
from gensdk_plugins.compression import integer
from gensdk_plugins.compression.codec import (CorruptFile, compress, decode_groups, decompress, encode_groups, fingerprint,
                                       read_header)
from gensdk_plugins.compression.data import load_test_photos
from gensdk_plugins.compression.evaluate import estimated_bits
from gensdk_plugins.compression.models import CODECS, build_codec
from gensdk_plugins.compression.training import load_codec, train_codec, trained_codecs
from helpers import gensdk

TINY = {"N": 16, "M": 24}


@pytest.fixture(scope="module")
def photo():
    return load_test_photos(["astronaut"])["astronaut"][100:196, 150:278]  # 96 x 128


@pytest.fixture(scope="module")
def crops():
    photos = load_test_photos(["astronaut", "coffee"])
    rng = np.random.default_rng(0)
    out = []
    for image in photos.values():
        for _ in range(8):
            y, x = rng.integers(0, image.shape[0] - 64), rng.integers(0, image.shape[1] - 64)
            out.append(image[y:y + 64, x:x + 64])
    return np.stack(out)


@pytest.fixture(scope="module")
def codecs(tmp_path_factory, crops):
    folder = tmp_path_factory.mktemp("codecs")
    torch.set_num_threads(1)
    for name in CODECS:
        train_codec(name, 2, crops, folder, steps=4, batch_size=4, device="cpu", progress=False, **TINY)
    return folder


@pytest.mark.parametrize("name", list(CODECS))
def test_round_trip_is_deterministic_and_the_file_size_is_the_models_estimate(codecs, photo, name):
    model = load_codec(codecs, name, 2)
    data = compress(model, photo, quality=2)
    decoded = decompress(data, model)
    assert decoded.shape == photo.shape and decoded.dtype == np.uint8
    assert np.array_equal(decoded, decompress(compress(model, photo, quality=2), model))
    header = read_header(data)
    assert (header.height, header.width, header.model_name, header.quality) == (96, 128, name, 2)
    estimate = estimated_bits(model, photo, 2) / 8
    assert abs(len(data) - estimate) <= 0.05 * estimate + 40  # header, 4-byte words, table precision


@pytest.mark.parametrize("name", list(CODECS))
def test_integer_decoder_stays_within_a_level_of_the_float_decoder(codecs, photo, name):
    model = load_codec(codecs, name, 2)
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        y_hat, _ = model.latents(model.pad(x), torch.tensor([model.rate_index(2)]))
        reference = (model.g_s(y_hat).clamp(0, 1) * 255).round()[0, :, :96, :128].permute(1, 2, 0).numpy()
    decoded = decompress(compress(model, photo, quality=2), model).astype(float)
    assert np.abs(decoded - reference).max() <= 2
    assert np.abs(decoded - reference).mean() < 0.05


def test_phase_kernels_equal_the_transposed_convolution():
    torch.manual_seed(0)
    w, x = torch.randn(6, 5, 5, 5, dtype=torch.float64), torch.randn(2, 6, 7, 9, dtype=torch.float64)
    reference = F.conv_transpose2d(x, w, stride=2, padding=2, output_padding=1)
    assert torch.allclose(F.pixel_shuffle(F.conv2d(x, integer.phase_kernel(w), padding=1), 2), reference, atol=1e-12)


def _int64_conv3x3(x, w):
    """The same convolution in int64 arithmetic, tap by tap: the exact reference."""
    x, w = x.long(), w.long()
    padded = F.pad(x, (1, 1, 1, 1))
    h, wd = x.shape[2:]
    out = torch.zeros(x.shape[0], w.shape[0], h, wd, dtype=torch.long)
    for i in range(3):
        for j in range(3):
            out += torch.einsum("bchw,oc->bohw", padded[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    return out


def test_float64_convolution_of_integers_is_exact_whatever_the_chunking(monkeypatch):
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(-integer.ACT_LIMIT, integer.ACT_LIMIT, (1, 64, 20, 24), generator=gen).double()
    w = torch.randint(-integer.WEIGHT_LIMIT, integer.WEIGHT_LIMIT, (8, 64, 3, 3), generator=gen).double()
    exact = _int64_conv3x3(x, w)
    whole = integer.exact_conv3x3(x, w)
    monkeypatch.setattr(integer, "CHUNK_ELEMENTS", 1)  # one row per call: other sums, other kernels
    rows = integer.exact_conv3x3(x, w)
    assert torch.equal(whole.long(), exact) and torch.equal(rows.long(), exact)
    assert exact.abs().max() > 2 ** 40  # the test does exercise sums far beyond float32's 2**24


def test_powers_of_two_are_exact_and_never_come_from_a_device_pow(codecs, photo, monkeypatch):
    """The guard for cross-device decoding: a decode takes every power of two from ldexp on the CPU. A
    device's pow may be an ulp off (CUDA's double pow: 2 ulp), which moves a rounding tie of
    ``rescale`` and changed one pixel of 819,840 between an H100 and a CPU."""
    exponents = torch.arange(-60, 61)
    scales = integer.power_of_two(exponents)
    assert scales.dtype == torch.float64 and all(float(v) == 2.0 ** int(e) for v, e in zip(scales, exponents))
    assert integer.power_of_two(-3) == 0.125
    ties = torch.tensor([-3.0, -1.0, 1.0, 3.0, 5.0])  # x / 2 is exactly half-way: rounds up
    assert integer.rescale(ties, integer.power_of_two(-1)).tolist() == [-1.0, 0.0, 1.0, 2.0, 3.0]

    model = load_codec(codecs, "mean-scale-hyperprior", 2)
    data = compress(model, photo)
    expected = decompress(data, model)
    for net in (model.int_g_s, model.int_h_s):  # kernels are cached per device: made again under the guard
        for layer in net.layers:
            if isinstance(layer, integer.IntConv):
                layer._kernel = None

    def forbidden(*args, **kwargs):
        raise AssertionError("a power computed on the device during decoding")

    for name in ("pow", "exp2", "ldexp", "float_power"):
        monkeypatch.setattr(torch, name, forbidden)
    monkeypatch.setattr(torch.Tensor, "__pow__", forbidden)
    monkeypatch.setattr(torch.Tensor, "__rpow__", forbidden)
    monkeypatch.setattr(torch.Tensor, "pow", forbidden)
    assert np.array_equal(decompress(data, model), expected)


def test_isqrt_is_exact_near_squares():
    s = torch.tensor([0, 1, 2 ** 20 - 1, 2 ** 26 - 3, 94906265], dtype=torch.float64)
    n = torch.cat([s * s - 1, s * s, s * s + 1]).clamp(min=0)
    expected = torch.tensor([int(v) for v in n.long()], dtype=torch.float64).long()
    import math

    assert [int(v) for v in integer.isqrt(n)] == [math.isqrt(int(v)) for v in expected]


@pytest.mark.parametrize("name", ["mean-scale-hyperprior", "channel-context-hyperprior"])
def test_every_accumulator_bound_is_checked(codecs, name):
    model = load_codec(codecs, name, 2)
    for net in (model.int_g_s, model.int_h_s, *getattr(model, "int_context", [])):
        for layer in net.layers:
            if isinstance(layer, integer.IntConv):
                fan = layer.weight.double().abs().sum(dim=(0, 2, 3) if layer.up else (1, 2, 3))
                assert float((fan * integer.ACT_LIMIT + layer.bias.abs()).max()) < integer.EXACT


LADDERS = ["variable-rate-hyperprior", "channel-context-hyperprior"]


@pytest.mark.parametrize("name", LADDERS)
def test_variable_rate_inverse_gains_are_exact_for_any_decodable_latent(codecs, name):
    from gensdk_plugins.compression.entropy import SYMBOL_LIMIT

    model = load_codec(codecs, name, 2)
    # a 16-bit symbol plus a mean (the context model's: the hyperprior's plus its group's correction)
    exps = [model.int_h_s.output_exp] + [t.output_exp for t in getattr(model, "int_context", [])]
    top = int(getattr(model, "int_latent_exp", model.int_h_s.output_exp))
    worst = (SYMBOL_LIMIT + 1) * 2.0 ** top + len(exps) * integer.ACT_LIMIT * 2.0 ** (top - min(exps))
    for r in range(len(model.qualities)):
        assert worst * float(model.int_inverse_gain[r].double().abs().max()) < integer.EXACT
        inverse = model.int_inverse_gain[r].double() * 2.0 ** -int(model.int_inverse_gain_exp[r])
        assert torch.allclose(inverse, model.log_inverse_gain[r].detach().double().exp(), rtol=2e-4)


@pytest.mark.parametrize("name", LADDERS)
def test_one_variable_rate_model_codes_every_quality(codecs, photo, name):
    model = load_codec(codecs, name, 2)
    assert model.qualities == tuple(range(1, 9))
    files = {q: compress(model, photo, quality=q) for q in (1, 4, 8)}
    sizes = [len(files[q]) for q in (1, 4, 8)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]  # finer quantization (larger gains), more bytes
    for q, data in files.items():
        assert read_header(data).quality == q
        assert np.array_equal(decompress(data, model), decompress(compress(model, photo, quality=q), model))
    with pytest.raises(UserError, match="choose one"):
        compress(model, photo)
    with pytest.raises(UserError, match="not 9"):
        compress(model, photo, quality=9)


@pytest.mark.parametrize("name", LADDERS)
def test_a_codec_exported_for_coding_is_small_and_decodes_the_same_files(codecs, photo, tmp_path, name):
    from gensdk_plugins.compression.training import export_codec, open_codec, shipped_codec, training_only

    full = load_codec(codecs, name, 2)
    export_codec(full, tmp_path / "shipped", {"steps": 4, "note": "test"})
    small = open_codec(tmp_path / "shipped")
    assert small.coding_only and fingerprint(small) == fingerprint(full)
    from safetensors.torch import load_file

    stored = load_file(tmp_path / "shipped" / "model.safetensors")
    assert not any(training_only(k) for k in stored) and any(training_only(k) for k in full.state_dict())
    assert {v.dtype for k, v in stored.items() if k.startswith(("g_a.", "h_a."))} == {torch.float16}
    assert {v.dtype for k, v in stored.items() if k.endswith(".weight") and k.startswith("int_")} == {torch.int16}
    data = compress(full, photo, quality=3)
    assert np.array_equal(decompress(data, small), decompress(data, full))  # the same decoder, bit for bit
    again = compress(small, photo, quality=3)  # fp16 encoder weights: a valid file, close in size
    assert np.array_equal(decompress(again, small), decompress(again, full))
    assert abs(len(again) - len(data)) <= 0.05 * len(data) + 16
    weights = tmp_path / "shipped" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a damaged shipped model is reported, never replaced
    with pytest.raises(UserError, match="cannot load weights"):
        open_codec(tmp_path / "shipped")
    import gensdk_plugins.compression.training as training

    training.SHIPPED, saved = tmp_path / "nothing-here", training.SHIPPED
    try:
        with pytest.raises(UserError, match="shipped codec is missing"):
            shipped_codec()
    finally:
        training.SHIPPED = saved


def test_escaped_symbols_round_trip():
    import constriction

    rng = np.random.default_rng(0)
    pmfs = [np.array([0.2, 0.5, 0.2, 0.1]), np.array([0.9, 0.05, 0.05])]  # last entry: the escape
    offsets = np.array([-1, 0])
    groups = rng.integers(0, 2, 500)
    symbols = rng.integers(-3, 3, 500)
    symbols[:5] = [32767, -32767, 40, -40, 2]  # far outside every support
    encoder = constriction.stream.queue.RangeEncoder()
    encode_groups(encoder, symbols.copy(), groups, offsets, pmfs)
    decoder = constriction.stream.queue.RangeDecoder(encoder.get_compressed())
    assert np.array_equal(decode_groups(decoder, groups, offsets, pmfs), symbols)


def test_tiles_bound_the_work_and_join_exactly(codecs):
    model = load_codec(codecs, "scale-hyperprior", 2)
    image = load_test_photos(["coffee"])["coffee"][:150, :200]
    data = compress(model, image, tile=64)
    header = read_header(data)
    assert len(header.tiles) == 3 * 4 and header.tile == 64
    decoded = decompress(data, model)
    assert decoded.shape == image.shape
    corner = decompress(compress(model, np.ascontiguousarray(image[64:128, 128:192]), tile=64), model)
    assert np.array_equal(decoded[64:128, 128:192], corner)


def test_bad_files_are_refused_with_a_clear_error(codecs, photo):
    model = load_codec(codecs, "mean-scale-hyperprior", 2)
    data = compress(model, photo)
    with pytest.raises(CorruptFile, match="wrong magic"):
        decompress(b"PNG!" + data[4:], model)
    with pytest.raises(CorruptFile, match="truncated"):
        decompress(data[:len(data) // 2], model)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    with pytest.raises(CorruptFile, match="checksum"):
        decompress(bytes(flipped), model)
    with pytest.raises(CorruptFile, match="version 9"):
        decompress(data[:4] + b"\x09" + data[5:], model)
    other = load_codec(codecs, "scale-hyperprior", 2)
    with pytest.raises(UserError, match="written by mean-scale-hyperprior q2"):
        decompress(data, other)
    # found by tests/test_reader_properties.py: a huge height (checksum intact) built a grid of 2**56
    # tiles before any check, a hang
    huge = data[:12] + bytes([0xFF] * 9 + [0x7F]) + data[13:-4]
    with pytest.raises(CorruptFile, match="beyond what gensdk decodes"):
        read_header(huge + struct.pack("<I", zlib.crc32(huge)))
    # a decompression bomb: a few bytes, a valid checksum, one 16,320-pixel tile (the range decoder
    # would make zeros of an empty stream, and the synthesis would need tens of GB)
    from gensdk_plugins.compression.codec import pack

    with pytest.raises(CorruptFile, match="beyond what gensdk decodes"):
        decompress(pack(model, 2, 16000, 16000, 255 * 64, [b""]), model)
    with pytest.raises(CorruptFile, match="does not fit in it"):  # a size that passes the limit but not the file
        read_header(pack(model, 2, 8000, 8000, 768, [b""]))
    with pytest.raises(UserError, match="between 64 and 4096"):
        compress(model, photo, tile=8192)


def test_an_untrained_model_is_not_used_for_coding(photo):
    model = build_codec("factorized-prior", 1, **TINY)
    with pytest.raises(UserError, match="not prepared for coding"):
        compress(model, photo)


def test_saved_codec_keeps_its_fingerprint(codecs):
    a = load_codec(codecs, "mean-scale-hyperprior", 2)
    b = load_codec(codecs, "mean-scale-hyperprior", 2)
    assert fingerprint(a) == fingerprint(b)
    ladders = ("variable-rate-hyperprior", "channel-context-hyperprior")
    assert trained_codecs(codecs) == sorted([(name, 2) for name in CODECS if name not in ladders]
                                            + [(name, q) for name in ladders for q in range(1, 9)])


def test_the_cached_fingerprint_follows_changes_to_the_decoder_numbers(codecs):
    model = load_codec(codecs, "mean-scale-hyperprior", 2)
    before = fingerprint(model)
    assert fingerprint(model) == before
    name, tensor = next((n, t) for n, t in model.state_dict().items() if n.startswith("int_"))
    with torch.no_grad():
        tensor.view(-1)[0] += 1  # in place: the cache must notice
    assert fingerprint(model) != before
    with torch.no_grad():
        tensor.view(-1)[0] -= 1
    assert fingerprint(model) == before
    model.load_state_dict({**model.state_dict(), name: tensor.clone() + 1})  # a load replaces the numbers
    assert fingerprint(model) != before


def test_training_resumes_to_the_same_weights(tmp_path, crops, monkeypatch):
    from gensdk_plugins.compression.models import TransformCodec

    options = dict(steps=4, batch_size=4, device="cpu", progress=False, checkpoint_every=2, **TINY)
    straight = train_codec("scale-hyperprior", 1, crops, tmp_path / "a", **options)
    step, calls = TransformCodec.train_step, []

    def killed_after_two(self, batch, ctx):
        calls.append(1)
        if len(calls) > 2:
            raise KeyboardInterrupt  # the run is killed during its third step
        return step(self, batch, ctx)

    monkeypatch.setattr(TransformCodec, "train_step", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        train_codec("scale-hyperprior", 1, crops, tmp_path / "b", **options)
    monkeypatch.setattr(TransformCodec, "train_step", step)
    resumed = train_codec("scale-hyperprior", 1, crops, tmp_path / "b", resume=True, **options)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_cli_compress_decompress_folders_and_errors(codecs, tmp_path, photo):
    images = tmp_path / "in"
    (images / "sub").mkdir(parents=True)
    Image.fromarray(photo).save(images / "a.png")
    Image.fromarray(photo[:64, :80]).save(images / "sub" / "b.jpg", quality=95)
    (images / "sub" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")  # one bad picture in the folder
    msh = codecs / "mean-scale-hyperprior-q2"
    result = gensdk("compress", images, tmp_path / "packed", "--model", msh, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr  # once a torch warning about Pillow's read-only arrays
    assert f"skipped {images / 'sub' / 'bad.png'}: " in result.stderr and "wrote 2 file(s)" in result.stderr
    assert sorted(p.relative_to(tmp_path / "packed").as_posix() for p in (tmp_path / "packed").rglob("*.gsdk")) == \
        ["a.gsdk", "sub/b.gsdk"]
    (tmp_path / "packed" / "sub" / "c.gsdk").write_bytes(b"GSDK, or so it says")  # and one damaged file
    result = gensdk("decompress", tmp_path / "packed", tmp_path / "out", "--model", codecs, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert f"skipped {tmp_path / 'packed' / 'sub' / 'c.gsdk'}: " in result.stderr and "wrote 2 image(s)" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.png")) == ["a.png", "b.png"]
    (tmp_path / "only-bad").mkdir()
    (tmp_path / "only-bad" / "x.png").write_text("no")
    result = gensdk("compress", tmp_path / "only-bad", tmp_path / "none", "--quality", 2, "--model", msh,
                    "--device", "cpu")
    assert result.returncode == 2 and "none of its 1 file(s) could be read" in result.stderr
    decoded = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    model = load_codec(codecs, "mean-scale-hyperprior", 2)
    assert np.array_equal(decoded, decompress((tmp_path / "packed" / "a.gsdk").read_bytes(), model))
    info = gensdk("compression", "info", tmp_path / "packed" / "a.gsdk")
    assert '"quality": 2' in info.stdout

    broken = tmp_path / "broken.gsdk"
    broken.write_bytes((tmp_path / "packed" / "a.gsdk").read_bytes()[:-10])
    result = gensdk("decompress", broken, tmp_path / "x.png", "--model", msh, "--device", "cpu")
    assert result.returncode == 2 and "truncated or corrupted" in result.stderr and not (tmp_path / "x.png").exists()
    (tmp_path / "junk.png").write_text("not an image")
    result = gensdk("compress", tmp_path / "junk.png", tmp_path / "j.gsdk", "--model", msh, "--device", "cpu")
    assert result.returncode == 2 and "cannot read image" in result.stderr and not (tmp_path / "j.gsdk").exists()
    result = gensdk("compress", images / "a.png", tmp_path / "q.gsdk", "--model", msh, "--quality", 7)
    assert result.returncode == 2 and "codes at quality 2, not 7" in result.stderr and not (tmp_path / "q.gsdk").exists()


def test_the_shipped_codec_works_out_of_the_box(tmp_path):
    """The package's own trained codec: no --model, every quality, the CLI round trip, and its training record."""
    import json

    from skimage import data

    from gensdk_plugins.compression.metrics import psnr
    from gensdk_plugins.compression.training import SHIPPED, shipped_codec

    record = json.loads((SHIPPED / "config.json").read_text())
    assert record["model"] == "channel-context-hyperprior" and record["training"]["gpu_minutes"] > 0
    photo = np.ascontiguousarray(data.astronaut()[64:160, 160:288])  # a face and a shoulder, 96x128
    codec = shipped_codec("cpu")
    sizes, quality_db = [], []
    for quality in (1, 4, 8):
        packed = compress(codec, photo, quality=quality)
        sizes.append(len(packed))
        quality_db.append(psnr(photo, decompress(packed, codec)))
    assert sizes == sorted(sizes) and quality_db == sorted(quality_db)  # a higher quality: more bytes, fewer errors
    assert quality_db[1] > 26  # a trained codec, not noise (JPEG q10 gives about 26.6 dB on the test photos)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    made = gensdk("compress", tmp_path / "photo.png", tmp_path / "photo.gsdk", "--device", "cpu")
    assert made.returncode == 0, made.stderr
    back = gensdk("decompress", tmp_path / "photo.gsdk", tmp_path / "back.png", "--device", "cpu")
    assert back.returncode == 0, back.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "back.png")),
                          decompress((tmp_path / "photo.gsdk").read_bytes(), codec))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cross_device_decoding_is_pixel_identical(codecs, photo):
    gpu, cpu = (load_codec(codecs, "mean-scale-hyperprior", 2, d) for d in ("cuda", "cpu"))
    on_gpu, on_cpu = compress(gpu, photo), compress(cpu, photo)
    assert np.array_equal(decompress(on_gpu, gpu), decompress(on_gpu, cpu))
    assert np.array_equal(decompress(on_cpu, cpu), decompress(on_cpu, gpu))


def test_ms_ssim_training_logs_finite_losses(tmp_path, crops):
    import json

    train_codec("factorized-prior", 1, crops, tmp_path, steps=2, batch_size=2, distortion="ms-ssim", device="cpu",
                progress=False, **TINY)
    record = json.loads((tmp_path / "factorized-prior-q1" / "log.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 2 and np.isfinite(record["loss"]) and record["bpp"] > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_cuda_graph_step_follows_the_learning_rate_schedule(crops):
    """The codec's static step captured as one CUDA graph trains like the eager step, the cosine
    schedule included (the rates reach the graph through device tensors)."""
    from gensdk.core.trainer import Trainer, TrainConfig

    data = torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous()
    runs = {}
    for graph in (False, True):
        torch.manual_seed(0)
        model = build_codec("channel-context-hyperprior", **TINY)
        config = TrainConfig(steps=30, batch_size=4, device="cuda", bf16=False, cuda_graph=graph, lr_schedule="cosine",
                             warmup_steps=5, progress=False, log_every=10, checkpoint_every=1000)
        trainer = Trainer(model, data, config)
        trainer.fit()
        assert (trainer.graph is not None) == graph
        lr = trainer.optimizers["model"].param_groups[0]["lr"]
        assert float(lr) == pytest.approx(1e-4 * config.lr_factor(29))  # the last step's rate, not the first's
        runs[graph] = {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()}
    for key, eager in runs[False].items():
        assert torch.allclose(eager.float(), runs[True][key].float(), rtol=1e-3, atol=1e-5), key


def test_cli_train_is_quiet_on_request(tmp_path, crops):
    np.save(tmp_path / "crops.npy", crops[:2])
    args = ["compression", "train", "--arch", "factorized-prior", "--quality", "1", "--data", tmp_path / "crops.npy",
            "--steps", "2", "--batch-size", "2", "--codecs", tmp_path / "codecs", "--device", "cpu"]
    loud = gensdk(*args, check=True)
    quiet = gensdk(*args, "--overwrite", "--quiet", check=True)
    assert "2/2" in loud.stderr and "2/2" not in quiet.stderr  # the progress bar, and none
    assert (tmp_path / "codecs" / "factorized-prior-q1" / "model" / "config.json").is_file()
