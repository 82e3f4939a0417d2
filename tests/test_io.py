"""Reading and writing images and stacks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

import mfif
from mfif.cli import main
from mfif.io import expand_inputs, to_integer

from conftest import complementary_stack, sharp_image


def _write_sources(
    folder: Path, sources: np.ndarray, suffix: str, bit_depth: int = 8
) -> list[Path]:
    paths = []
    for k, source in enumerate(sources):
        path = folder / f"{chr(ord('A') + k)}{suffix}"
        mfif.save_image(path, source, bit_depth=bit_depth)
        paths.append(path)
    return paths


@pytest.mark.parametrize("suffix", [".png", ".tif", ".tiff"])
@pytest.mark.parametrize("bit_depth", [8, 16])
@pytest.mark.parametrize("color", [False, True])
def test_lossless_round_trip(tmp_path: Path, suffix: str, bit_depth: int, color: bool) -> None:
    image = sharp_image(color=color)
    path = mfif.save_image(tmp_path / f"x{suffix}", image, bit_depth=bit_depth)
    loaded, depth = mfif.read_image(path)
    assert depth == bit_depth
    expected = to_integer(image, bit_depth).squeeze()
    np.testing.assert_array_equal(to_integer(loaded, bit_depth), expected)


@pytest.mark.parametrize("bit_depth, predictor", [(8, 2), (16, 2), (32, 1)])
def test_tiff_output_is_deflated_in_strips(tmp_path: Path, bit_depth: int, predictor: int):
    """Integer samples behind horizontal differencing; several strips (compressed at once)
    that OpenCV, a libtiff reader, reads back as tifffile does."""
    image = np.random.default_rng(0).random((600, 90, 3)).astype(np.float32)
    path = mfif.save_image(tmp_path / "x.tif", image, bit_depth=bit_depth)
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages[0]
        assert (page.compression, page.predictor) == (8, predictor)
        assert len(page.dataoffsets) > 1
        samples = page.asarray()
    if bit_depth != 32:
        decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1]
        np.testing.assert_array_equal(decoded, samples)
        np.testing.assert_array_equal(samples, to_integer(image, bit_depth))
    else:
        np.testing.assert_array_equal(samples, image)


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".bmp"])
def test_eight_bit_formats(tmp_path: Path, suffix: str) -> None:
    image = sharp_image(color=True)
    loaded, depth = mfif.read_image(mfif.save_image(tmp_path / f"x{suffix}", image))
    assert depth == 8 and loaded.shape == image.shape
    tolerance = 0 if suffix == ".bmp" else 0.1
    assert np.abs(loaded - image).mean() <= tolerance + 1 / 255


def test_channel_order_is_rgb(tmp_path: Path) -> None:
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 2] = 255  # OpenCV's BGR: this is pure red
    cv2.imwrite(str(tmp_path / "red.png"), red)
    loaded, _ = mfif.read_image(tmp_path / "red.png")
    assert loaded[0, 0].tolist() == [1.0, 0.0, 0.0]


def test_sixteen_bit_stack_saves_sixteen_bits(tmp_path: Path) -> None:
    sources, _, _ = complementary_stack(2, color=True)
    paths = _write_sources(tmp_path, sources, ".png", bit_depth=16)
    stack = mfif.load_stack(paths)
    assert stack.bit_depth == 16
    out = tmp_path / "out.png"
    assert main(["fuse", *map(str, paths), "-o", str(out)]) == 0
    assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def test_multipage_tiff_is_a_stack(tmp_path: Path) -> None:
    sources, _, _ = complementary_stack(3, color=True)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, to_integer(sources, 16), photometric="rgb")
    stack = mfif.load_stack(path)
    assert stack.count == 3 and stack.bit_depth == 16 and stack.is_color
    np.testing.assert_allclose(stack.images, sources, atol=1 / 65535)


def test_alpha_channel_is_dropped(tmp_path: Path) -> None:
    rgba = np.full((6, 7, 4), 200, np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    loaded, _ = mfif.read_image(tmp_path / "a.png")
    assert loaded.shape == (6, 7, 3)


def test_folder_and_glob_inputs(tmp_path: Path) -> None:
    sources, _, _ = complementary_stack(3, color=False)
    _write_sources(tmp_path, sources, ".png")
    (tmp_path / "notes.txt").write_text("not an image")
    by_folder = expand_inputs([tmp_path])
    by_glob = expand_inputs([str(tmp_path / "*.png")])
    assert [p.name for p in by_folder] == ["A.png", "B.png", "C.png"] == [p.name for p in by_glob]
    assert mfif.load_stack(tmp_path).count == 3


def test_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    mfif.save_image(tmp_path / "x.png", sharp_image(color=True))
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


def test_output_may_not_be_an_input(tmp_path: Path) -> None:
    sources, _, _ = complementary_stack(2, color=False)
    paths = _write_sources(tmp_path, sources, ".png")
    before = paths[0].read_bytes()
    with pytest.raises(mfif.OutputError, match="Refusing to overwrite the input"):
        mfif.save_image(paths[0], sources[0], protected=paths)
    assert paths[0].read_bytes() == before


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda d: d / "missing.png", mfif.ImageReadError, "does not exist"),
        (lambda d: _text_file(d / "corrupt.png"), mfif.ImageReadError, "not a readable"),
        (lambda d: _text_file(d / "corrupt.tif"), mfif.ImageReadError, "not a readable TIFF"),
    ],
)
def test_unreadable_inputs(tmp_path: Path, make, error, message) -> None:
    good = mfif.save_image(tmp_path / "good.png", sharp_image(color=False))
    with pytest.raises(error, match=message):
        mfif.load_stack([good, make(tmp_path)])


def _text_file(path: Path) -> Path:
    path.write_text("this is not an image")
    return path


def test_sizes_must_match(tmp_path: Path) -> None:
    a = mfif.save_image(tmp_path / "a.png", sharp_image(96, 128, color=False))
    b = mfif.save_image(tmp_path / "b.png", sharp_image(90, 128, color=False))
    with pytest.raises(mfif.StackError, match="same size: a.png is 128x96 but b.png is 128x90"):
        mfif.load_stack([a, b])


def test_grey_and_colour_do_not_mix(tmp_path: Path) -> None:
    a = mfif.save_image(tmp_path / "a.png", sharp_image(color=False))
    b = mfif.save_image(tmp_path / "b.png", sharp_image(color=True))
    with pytest.raises(mfif.StackError, match="Grey and colour images cannot be mixed"):
        mfif.load_stack([a, b])


def test_one_image_is_not_a_stack(tmp_path: Path) -> None:
    a = mfif.save_image(tmp_path / "a.png", sharp_image(color=False))
    with pytest.raises(mfif.StackError, match="at least 2 images"):
        mfif.load_stack([a])
    with pytest.raises(mfif.StackError, match="at least 2 images"):
        mfif.fuse([np.zeros((4, 4))])


def test_float_arrays_must_be_in_unit_range() -> None:
    image = sharp_image(color=False)[..., 0]
    with pytest.raises(mfif.StackError, match=r"outside \[0, 1\]"):
        mfif.Stack.from_arrays([image, image * 255])
    nearly = mfif.Stack.from_arrays([image, np.minimum(image + 1.00001 - image.max(), 1.00001)])
    assert nearly.images.max() <= 1.0


def _opencv_samples(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return image[..., 2::-1] if image.ndim == 3 else image  # RGB, alpha dropped


@pytest.mark.parametrize(
    "name, samples",
    [
        ("rgb.png", np.arange(40 * 50 * 3, dtype=np.uint8).reshape(40, 50, 3)),
        ("rgb16.png", (np.arange(40 * 50 * 3) * 21).astype(np.uint16).reshape(40, 50, 3)),
        ("grey.png", np.arange(40 * 50, dtype=np.uint8).reshape(40, 50)),
        ("grey16.png", (np.arange(40 * 50) * 31).astype(np.uint16).reshape(40, 50)),
        ("rgba.png", np.arange(40 * 50 * 4, dtype=np.uint8).reshape(40, 50, 4)),
        ("rgb.jpg", np.arange(40 * 50 * 3, dtype=np.uint8).reshape(40, 50, 3)),
        ("grey.jpg", np.arange(40 * 50, dtype=np.uint8).reshape(40, 50)),
    ],
)
def test_decoded_samples_are_opencvs(tmp_path: Path, name: str, samples: np.ndarray) -> None:
    """PNG and JPEG go through imagecodecs (faster); the samples are OpenCV's, RGB order."""
    path = tmp_path / name
    cv2.imwrite(str(path), samples)
    np.testing.assert_array_equal(mfif.io.decode_first_page(path), _opencv_samples(path))


def test_cmyk_jpeg_is_decoded_to_rgb(tmp_path: Path) -> None:
    """A CMYK JPEG, which imagecodecs leaves as four channels, is OpenCV's RGB."""
    image_module = pytest.importorskip("PIL.Image", reason="needs Pillow (scikit-image's)")

    rgb = cv2.GaussianBlur(np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3), (5, 5), 2)
    path = tmp_path / "cmyk.jpg"
    image_module.fromarray(rgb).convert("CMYK").save(path)
    decoded = mfif.io.decode_first_page(path)
    assert decoded.shape == (48, 64, 3)
    np.testing.assert_array_equal(decoded, _opencv_samples(path))


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_file_is_one_sentence(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"cut{suffix}"
    cv2.imwrite(str(path), np.full((64, 64, 3), 120, np.uint8))
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(mfif.errors.ImageReadError, match="not a readable"):
        mfif.io.decode_first_page(path)
