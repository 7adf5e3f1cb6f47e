"""Real bitstreams: images to ``.gsdk`` files and back, with the ``constriction`` range coder.

File layout (all integers little-endian; "varint" is LEB128):

    b"GSDK" | version u8 | architecture u8 | quality u8 | model fingerprint u32 |
    height varint | width varint | tile side / 64 u8 |
    for each tile, row-major: byte length varint | range-coder words |
    CRC-32 u32 of everything before it

A tile's words hold, in order: z per channel (hyperprior models), then its escapes; y grouped by
table (a channel for the factorized prior, a scale bin for the hyperpriors), then its escapes. A
symbol outside its table's support is sent as the escape symbol and then as a 16-bit number.

The fingerprint is a CRC of every number the decoder uses (integer weights, exponents, tables), so a
file is decoded only by the exact model that wrote it. Tiles are coded independently, which bounds
the memory of encoding and decoding by the tile side whatever the image size.
"""

from __future__ import annotations

import struct
import weakref
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gensdk.core.images import MAX_PIXELS
from gensdk.errors import UserError
from gensdk_plugins.compression.entropy import ESCAPE_RANGE, SYMBOL_LIMIT
from gensdk_plugins.compression.integer import power_of_two
from gensdk_plugins.compression.models import ARCH_IDS, Hyperprior, TransformCodec

MAGIC = b"GSDK"
VERSION = 1
DEFAULT_TILE = 768
MAX_TILE = 4096  # a tile is decoded whole: about 2.5 GB of float64 activations at 4096 x 4096


class CorruptFile(UserError):
    """A .gsdk file that is truncated, damaged, or not one at all."""


# --- the container -------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


class _Reader:
    def __init__(self, data: bytes, name: str):
        self.data, self.pos, self.name = data, 0, name

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise CorruptFile(f"{self.name}: truncated .gsdk file")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def varint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value
            if shift > 63:
                raise CorruptFile(f"{self.name}: corrupted .gsdk file (bad length field)")


@dataclass
class Header:
    arch: int
    quality: int
    fingerprint: int
    height: int
    width: int
    tile: int
    tiles: list[bytes]

    @property
    def model_name(self) -> str:
        return ARCH_IDS.get(self.arch, f"unknown architecture {self.arch}")


_FINGERPRINTS: "weakref.WeakKeyDictionary[TransformCodec, tuple[tuple, int]]" = weakref.WeakKeyDictionary()


def fingerprint(model: TransformCodec) -> int:
    """CRC-32 of the decoder's numbers, in a fixed order, as they are on the CPU.

    Cached per model: a GPU model would otherwise copy its decoder to the CPU for every file. The cache key
    holds each tensor's storage and in-place version counter, so any change to the numbers recomputes it."""
    numbers = [(name, tensor) for name, tensor in sorted(model.state_dict().items())
               if name.startswith(("int_", "z_prior.table", "y_prior.table", "y_conditional."))]
    key = tuple((name, tensor.data_ptr(), tensor._version, tuple(tensor.shape)) for name, tensor in numbers)
    cached = _FINGERPRINTS.get(model)
    if cached and cached[0] == key:
        return cached[1]
    crc = 0
    for _, tensor in numbers:
        crc = zlib.crc32(tensor.detach().cpu().contiguous().numpy().tobytes(), crc)
    _FINGERPRINTS[model] = (key, crc)
    return crc


def tile_grid(height: int, width: int, tile: int) -> list[tuple[int, int, int, int]]:
    return [(top, left, min(tile, height - top), min(tile, width - left))
            for top in range(0, height, tile) for left in range(0, width, tile)]


def pack(model: TransformCodec, quality: int, height: int, width: int, tile: int, tiles: list[bytes]) -> bytes:
    head = MAGIC + struct.pack("<BBBI", VERSION, model.arch_id, quality, fingerprint(model))
    body = head + _varint(height) + _varint(width) + bytes([tile // 64])
    body += b"".join(_varint(len(t)) + t for t in tiles)
    return body + struct.pack("<I", zlib.crc32(body))


def read_header(data: bytes, name: str = "input") -> Header:
    """Parse and check a file (magic, version, checksum, layout) without decoding it."""
    if data[:4] != MAGIC:
        raise CorruptFile(f"{name}: not a .gsdk file (wrong magic)")
    if len(data) < 9:
        raise CorruptFile(f"{name}: truncated .gsdk file")
    if data[4] != VERSION:
        raise CorruptFile(f"{name}: .gsdk format version {data[4]}; this gensdk reads version {VERSION}")
    if len(data) < 16 or struct.unpack("<I", data[-4:])[0] != zlib.crc32(data[:-4]):
        raise CorruptFile(f"{name}: truncated or corrupted .gsdk file (checksum mismatch)")
    reader = _Reader(data[:-4], name)
    reader.take(5)
    arch, quality, fp = struct.unpack("<BBI", reader.take(6))
    height, width, tile = reader.varint(), reader.varint(), reader.take(1)[0] * 64
    if not (height and width and tile):
        raise CorruptFile(f"{name}: corrupted .gsdk file (empty image or tile)")
    # decoding memory follows the declared sizes, which a crafted file can make huge under a valid checksum
    if height * width > MAX_PIXELS or tile > MAX_TILE:
        raise CorruptFile(f"{name}: a {height} x {width} image in tiles of {tile} is beyond what gensdk decodes "
                          f"({MAX_PIXELS:,} pixels, tiles of {MAX_TILE}); the file is damaged or not gensdk's")
    # every tile takes at least its 1-byte length: a damaged size must not build a grid of 2**60 tiles
    if -(-height // tile) * -(-width // tile) > len(reader.data) - reader.pos:
        raise CorruptFile(f"{name}: corrupted .gsdk file (a {height} x {width} image does not fit in it)")
    tiles = [reader.take(reader.varint()) for _ in tile_grid(height, width, tile)]
    if reader.pos != len(reader.data):
        raise CorruptFile(f"{name}: corrupted .gsdk file (trailing bytes)")
    return Header(arch, quality, fp, height, width, tile, tiles)


# --- entropy coding of grouped symbols ------------------------------------------------------------
def _categorical(pmf: np.ndarray):
    import constriction

    return constriction.stream.model.Categorical(pmf, perfect=False)


def _escape_model():
    import constriction

    return constriction.stream.model.Uniform(ESCAPE_RANGE)


def encode_groups(encoder, symbols: np.ndarray, groups: np.ndarray, offsets: np.ndarray,
                  pmfs: list[np.ndarray]) -> None:
    """Code ``symbols`` (int) group by group in stable order; group g's table covers offsets[g] ..
    offsets[g] + len(pmfs[g]) - 2, its last entry being the escape."""
    order = np.argsort(groups, kind="stable")
    counts = np.bincount(groups, minlength=len(pmfs))
    escaped = []
    for g, values in enumerate(np.split(symbols[order], np.cumsum(counts)[:-1])):
        if not len(values):
            continue
        size = len(pmfs[g]) - 1
        index = values - offsets[g]
        outside = (index < 0) | (index >= size)
        index[outside] = size
        encoder.encode(index.astype(np.int32), _categorical(pmfs[g]))
        escaped.append(values[outside])
    escaped = np.concatenate(escaped) if escaped else np.zeros(0, dtype=np.int64)
    if len(escaped):
        encoder.encode((escaped + ESCAPE_RANGE // 2).astype(np.int32), _escape_model())


def decode_groups(decoder, groups: np.ndarray, offsets: np.ndarray, pmfs: list[np.ndarray]) -> np.ndarray:
    order = np.argsort(groups, kind="stable")
    counts = np.bincount(groups, minlength=len(pmfs))
    sorted_values, escape_slots, start = np.zeros(len(groups), dtype=np.int64), [], 0
    for g, count in enumerate(counts):
        if not count:
            continue
        size = len(pmfs[g]) - 1
        index = np.asarray(decoder.decode(_categorical(pmfs[g]), int(count)), dtype=np.int64)
        sorted_values[start:start + count] = index + offsets[g]
        escape_slots.append(start + np.flatnonzero(index == size))
        start += count
    slots = np.concatenate(escape_slots) if escape_slots else np.zeros(0, dtype=np.int64)
    if len(slots):
        sorted_values[slots] = np.asarray(decoder.decode(_escape_model(), len(slots)), dtype=np.int64) - ESCAPE_RANGE // 2
    values = np.empty_like(sorted_values)
    values[order] = sorted_values
    return values


def _channel_tables(prior) -> tuple[np.ndarray, list[np.ndarray]]:
    return prior.table_offset.cpu().numpy().astype(np.int64), prior.tables()


def _scale_tables(conditional) -> tuple[np.ndarray, list[np.ndarray]]:
    return -conditional.table_half.cpu().numpy().astype(np.int64), conditional.tables()


def _channel_groups(shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.arange(shape[1])[None, :, None, None], shape).reshape(-1)


# --- one tile ---------------------------------------------------------------------------------------
def _to_symbols(t: torch.Tensor) -> np.ndarray:
    return t.clamp(-SYMBOL_LIMIT, SYMBOL_LIMIT).to(torch.int64).cpu().numpy().reshape(-1)


@torch.no_grad()
def encode_tile(model: TransformCodec, pixels: np.ndarray, rate: int = 0) -> bytes:
    """One tile at the model's quality index ``rate``."""
    import constriction

    # a copy: an image from Pillow is a read-only array, which torch.from_numpy warns about
    x = torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None].to(model.device).float() / 255
    y = model.gained(model.g_a(model.pad(x)), torch.tensor([rate], device=model.device))
    encoder = constriction.stream.queue.RangeEncoder()
    if isinstance(model, Hyperprior):
        z = torch.round(model.h_a(model.hyper_input(y))).clamp(-SYMBOL_LIMIT, SYMBOL_LIMIT)
        encode_groups(encoder, _to_symbols(z), _channel_groups(z.shape), *_channel_tables(model.z_prior))

        def code(index, means, exp, channels):
            part = y[:, channels].double()
            q = torch.round(part - means / power_of_two(exp) if means is not None else part)
            q = q.clamp(-SYMBOL_LIMIT, SYMBOL_LIMIT)  # what the decoder will see
            encode_groups(encoder, _to_symbols(q), index.cpu().numpy().reshape(-1), *_scale_tables(model.y_conditional))
            return q

        model.code_latent(z.double(), code)
    else:
        q = torch.round(y)
        encode_groups(encoder, _to_symbols(q), _channel_groups(q.shape), *_channel_tables(model.y_prior))
    return encoder.get_compressed().tobytes()


@torch.no_grad()
def decode_tile(model: TransformCodec, data: bytes, height: int, width: int, name: str, rate: int = 0) -> np.ndarray:
    import constriction

    if len(data) % 4:
        raise CorruptFile(f"{name}: corrupted .gsdk file (tile length)")
    decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype=np.uint32).copy())
    # the encoder padded the tile to a multiple of model.stride; y is 16 times smaller, z 64
    h, w = (-(-side // model.stride) * model.stride // 16 for side in (height, width))
    N, M, device = model.config["N"], model.config["M"], model.device
    try:
        if isinstance(model, Hyperprior):
            z_shape = (1, N, h // 4, w // 4)
            z = decode_groups(decoder, _channel_groups(z_shape), *_channel_tables(model.z_prior))
            z = torch.from_numpy(z.reshape(z_shape)).to(device, torch.float64)

            def decode(index, means, exp, channels):
                q = decode_groups(decoder, index.cpu().numpy().reshape(-1), *_scale_tables(model.y_conditional))
                return torch.from_numpy(q.reshape(index.shape)).to(device, torch.float64)

            y_hat, exp = model.code_latent(z, decode)
        else:
            q = decode_groups(decoder, _channel_groups((1, M, h, w)), *_channel_tables(model.y_prior))
            y_hat, exp = torch.from_numpy(q.reshape(1, M, h, w)).to(device, torch.float64), 0
    except (ValueError, RuntimeError, AssertionError) as err:  # constriction on data it cannot decode
        raise CorruptFile(f"{name}: corrupted .gsdk file ({err})") from None
    pixels = model.synthesize(y_hat, exp, rate)[0, :, :height, :width]
    return pixels.permute(1, 2, 0).cpu().numpy()


# --- whole images ----------------------------------------------------------------------------------
def compress(model: TransformCodec, image: np.ndarray, tile: int = DEFAULT_TILE, quality: int | None = None) -> bytes:
    """uint8 RGB (H, W, 3) -> the bytes of a .gsdk file, at ``quality`` (one of ``model.qualities``;
    a fixed-rate model's own by default)."""
    model.require_codec()
    if quality is None:
        if len(model.qualities) > 1:
            raise UserError(f"{model.model_name} codes at quality {model.qualities[0]} to {model.qualities[-1]}: "
                            "choose one")
        quality = model.qualities[0]
    rate = model.rate_index(quality)
    if tile % 64 or not 64 <= tile <= MAX_TILE:
        raise UserError(f"tile side must be a multiple of 64 between 64 and {MAX_TILE}, got {tile}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UserError(f"compress: expected a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    tiles = [encode_tile(model, image[t:t + th, l:l + tw], rate) for t, l, th, tw in tile_grid(height, width, tile)]
    return pack(model, quality, height, width, tile, tiles)


def check_model(header: Header, model: TransformCodec, name: str) -> None:
    if (header.arch != model.arch_id or header.quality not in model.qualities
            or header.fingerprint != fingerprint(model)):
        qualities = "q" + ",".join(map(str, model.qualities))
        raise UserError(f"{name}: written by {header.model_name} q{header.quality} (model {header.fingerprint:08x}); "
                        f"the model given is {model.model_name} {qualities} (model {fingerprint(model):08x})")


def decompress(data: bytes, model: TransformCodec, name: str = "input") -> np.ndarray:
    """The bytes of a .gsdk file -> uint8 RGB (H, W, 3), identical on every device."""
    header = read_header(data, name)
    check_model(header, model, name)
    model.require_codec()
    out = np.empty((header.height, header.width, 3), dtype=np.uint8)
    rate = model.rate_index(header.quality)
    for (t, l, th, tw), chunk in zip(tile_grid(header.height, header.width, header.tile), header.tiles):
        out[t:t + th, l:l + tw] = decode_tile(model, chunk, th, tw, name, rate)
    return out


def read_file(path: str | Path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    return path.read_bytes()
