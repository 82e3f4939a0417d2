"""PNG files written by `mfif.png` on several cores: the samples come back, the filters are
PNG's, the checksums hold."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from mfif import png
from mfif.png import _combined_adler32, encode_png


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of each chunk, each CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks.append((kind, body))
        offset += 12 + length
    return chunks


def _filtered_rows(data: bytes) -> bytes:
    """The filtered rows: the IDAT chunks joined, inflated (zlib checks the Adler-32)."""
    return zlib.decompress(b"".join(body for kind, body in _chunks(data) if kind == b"IDAT"))


def _decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return image[..., ::-1] if image.ndim == 3 else image


@pytest.mark.parametrize(
    "shape, dtype",
    [
        ((1, 1), np.uint8),
        ((5, 7, 3), np.uint8),
        ((37, 3), np.uint16),
        ((61, 43, 3), np.uint16),
        ((1, 500, 3), np.uint8),
        ((200, 1), np.uint8),
    ],
)
def test_samples_come_back(shape, dtype, monkeypatch):
    monkeypatch.setattr(png, "_BAND_BYTES", 64)  # many bands, a few rows each
    samples = np.random.default_rng(1).integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    data = encode_png(samples)
    assert [kind for kind, _ in _chunks(data)][:2] == [b"IHDR", b"IDAT"]
    assert np.array_equal(_decoded(data), samples)


def test_rows_are_filtered_by_paeth_as_the_specification_defines():
    samples = np.random.default_rng(2).integers(0, 256, (20, 9, 3), dtype=np.uint8)
    samples[5:9] = 200  # flat rows: ties between the predictors
    rows = _filtered_rows(encode_png(samples))
    raw = samples.reshape(20, -1).astype(int)
    width = raw.shape[1]
    for y in range(20):
        line = rows[y * (width + 1) : (y + 1) * (width + 1)]
        assert line[0] == 4
        for x in range(width):
            a = raw[y, x - 3] if x >= 3 else 0
            b = raw[y - 1, x] if y else 0
            c = raw[y - 1, x - 3] if x >= 3 and y else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            predictor = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            assert line[1 + x] == (raw[y, x] - predictor) % 256


def test_sixteen_bits_are_big_endian_behind_the_up_filter():
    samples = np.array([[1, 258], [65535, 0]], np.uint16)
    rows = _filtered_rows(encode_png(samples))
    assert rows == bytes([2, 0, 1, 1, 2, 2, 0xFF, 0xFE, 0xFF, 0xFE])


def test_bands_join_into_one_stream(monkeypatch):
    samples = np.random.default_rng(3).integers(0, 256, (300, 40), dtype=np.uint8)
    monkeypatch.setattr(png, "_BAND_BYTES", 400)
    banded = encode_png(samples)
    assert sum(kind == b"IDAT" for kind, _ in _chunks(banded)) > 10
    monkeypatch.setattr(png, "_BAND_BYTES", 1 << 30)
    whole = encode_png(samples)
    assert _filtered_rows(banded) == _filtered_rows(whole)


def test_adler32_of_joined_strings():
    generator = np.random.default_rng(4)
    for first_length, second_length in ((0, 5), (1, 0), (3000, 70000), (65521, 65522)):
        first = generator.integers(0, 256, first_length, dtype=np.uint8).tobytes()
        second = generator.integers(0, 256, second_length, dtype=np.uint8).tobytes()
        combined = _combined_adler32(zlib.adler32(first), zlib.adler32(second), len(second))
        assert combined == zlib.adler32(first + second)


@pytest.mark.parametrize("samples", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 4), np.uint8)])
def test_other_samples_are_refused(samples):
    with pytest.raises(ValueError):
        encode_png(samples)
