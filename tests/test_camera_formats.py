"""Camera formats end to end: 16-bit and float32 output, the reference frame's EXIF and ICC
profile carried to TIFF, PNG and JPEG, and RAW input (DNG files the tests write themselves)."""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

import mfif
from mfif.errors import ImageReadError

from conftest import complementary_stack

pyexiv2 = pytest.importorskip("pyexiv2", reason="carrying metadata needs pyexiv2 (a dependency)")

RAW_AVAILABLE = all(importlib.util.find_spec(name) for name in ("rawpy", "pidng"))
needs_raw = pytest.mark.skipif(
    not RAW_AVAILABLE,
    reason="needs the optional RAW extra and a DNG writer: pip install -e '.[raw]' pidng",
)


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mfif", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
    )


@functools.cache
def srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def write_tiff_with_metadata(path: Path, image: np.ndarray, profile: bytes, exif: dict) -> Path:
    """A 16-bit RGB TIFF with an ICC profile (tifffile) and EXIF tags (Exiv2)."""
    buffer = io.BytesIO()
    samples = np.rint(np.clip(image, 0, 1) * 65535).astype(np.uint16)
    tifffile.imwrite(buffer, samples, photometric="rgb", iccprofile=profile)
    data = pyexiv2.ImageData(buffer.getvalue())
    data.modify_exif(exif)
    path.write_bytes(data.get_bytes())
    data.close()
    return path


@pytest.fixture
def tagged_stack(tmp_path: Path) -> list[Path]:
    """Three 16-bit TIFF frames with one ICC profile and per-frame focal lengths."""
    sources, _, _ = complementary_stack(3, color=True, height=80, width=96)
    return [
        write_tiff_with_metadata(
            tmp_path / f"frame{k}.tif",
            source,
            srgb_profile(),
            {
                "Exif.Image.Make": "Testcam",
                "Exif.Image.Model": "Model 7",
                "Exif.Photo.FocalLength": f"{100 + k}/1",
                "Exif.Photo.PixelXDimension": "96",
                "Exif.Photo.PixelYDimension": "80",
            },
        )
        for k, source in enumerate(sources)
    ]


def metadata_of(path: Path) -> tuple[dict, bytes]:
    with pyexiv2.Image(str(path)) as image:
        return image.read_exif(), image.read_icc()


@pytest.mark.parametrize("suffix", [".tif", ".png", ".jpg"])
def test_output_carries_the_reference_frames_exif_and_profile(
    tmp_path: Path, tagged_stack: list[Path], suffix: str
) -> None:
    out = tmp_path / f"fused{suffix}"
    result = run("fuse", *map(str, tagged_stack), "-o", str(out), "--align", "none")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    exif, profile = metadata_of(out)
    assert profile == srgb_profile()
    assert exif["Exif.Image.Make"] == "Testcam"
    assert exif["Exif.Photo.FocalLength"] == "101/1"  # the middle frame is the reference
    assert exif["Exif.Image.Software"] == f"mfif {mfif.__version__}"
    if suffix != ".tif":  # the source's file structure stays out of other formats
        assert not any("BitsPerSample" in key or "StripOffsets" in key for key in exif)
    fused = mfif.read_image(out)
    assert fused[1] == (8 if suffix == ".jpg" else 16)
    assert fused[0].shape == (80, 96, 3)


def test_sixteen_bit_tiff_stays_sixteen_bit_with_its_profile(
    tmp_path: Path, tagged_stack: list[Path]
) -> None:
    out = tmp_path / "fused.tif"
    result = run("fuse", *map(str, tagged_stack), "-o", str(out), "--reference", "2")
    assert result.returncode == 0, result.stderr
    with tifffile.TiffFile(out) as tiff:
        page = tiff.pages[0]
        assert page.dtype == np.uint16 and page.shape == (80, 96, 3)
        assert page.tags["InterColorProfile"].value == srgb_profile()
    exif, _ = metadata_of(out)
    assert exif["Exif.Photo.FocalLength"] == "102/1"
    expected = mfif.fuse([mfif.read_image(p)[0] for p in tagged_stack]).image
    assert np.abs(tifffile.imread(out) / 65535.0 - expected).max() <= 0.5 / 65535 + 1e-6


def test_streamed_fusion_carries_metadata_too(tmp_path: Path, tagged_stack: list[Path]) -> None:
    out = tmp_path / "fused.tif"
    result = run(
        "fuse", *map(str, tagged_stack), "-o", str(out), "--report", str(tmp_path / "r.json"),
        env={"MFIF_STREAM_ABOVE": "0"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"streamed": true' in (tmp_path / "r.json").read_text()
    exif, profile = metadata_of(out)
    assert profile == srgb_profile() and exif["Exif.Photo.FocalLength"] == "101/1"


def test_no_metadata_writes_none(tmp_path: Path, tagged_stack: list[Path]) -> None:
    out = tmp_path / "fused.png"
    result = run("fuse", *map(str, tagged_stack), "-o", str(out), "--no-metadata")
    assert result.returncode == 0, result.stderr
    exif, profile = metadata_of(out)
    assert profile == b"" and "Exif.Image.Make" not in exif


def test_float32_tiff_on_request(tmp_path: Path, tagged_stack: list[Path]) -> None:
    out = tmp_path / "fused.tif"
    result = run("fuse", *map(str, tagged_stack), "-o", str(out), "--bit-depth", "32")
    assert result.returncode == 0, result.stderr
    fused = tifffile.imread(out)
    assert fused.dtype == np.float32 and 0 <= fused.min() and fused.max() <= 1
    assert metadata_of(out)[1] == srgb_profile()


def test_png_profile_is_named_as_png_requires(tmp_path: Path, tagged_stack: list[Path]) -> None:
    out = tmp_path / "fused.png"
    assert run("fuse", *map(str, tagged_stack), "-o", str(out)).returncode == 0
    data = out.read_bytes()
    start = data.index(b"iCCP") + 4
    keyword = data[start : data.index(b"\x00", start)]
    assert 1 <= len(keyword) <= 79


def test_sources_without_metadata_give_a_plain_output(tmp_path: Path) -> None:
    sources, _, _ = complementary_stack(2, color=False)
    paths = [mfif.save_image(tmp_path / f"{k}.png", s) for k, s in enumerate(sources)]
    out = tmp_path / "fused.jpg"
    result = run("fuse", *map(str, paths), "-o", str(out))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    exif, profile = metadata_of(out)
    assert profile == b"" and exif == {}


def test_save_image_carries_metadata(tmp_path: Path, tagged_stack: list[Path]) -> None:
    out = mfif.save_image(
        tmp_path / "api.jpg", np.full((8, 8, 3), 0.5, np.float32), metadata_from=tagged_stack[0]
    )
    exif, profile = metadata_of(out)
    assert exif["Exif.Photo.PixelXDimension"] == "8" and profile == srgb_profile()


# --- RAW ---------------------------------------------------------------------------------

BLACK, WHITE = 256, 4095


def write_dng(path: Path, scene: np.ndarray, neutral=(0.5, 1.0, 0.5)) -> Path:
    """A 12-bit RGGB DNG of a linear RGB scene (H, W, 3) in [0, 1] with even H and W."""
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import CFAPattern, DNGVersion, PhotometricInterpretation

    height, width = scene.shape[:2]
    levels = np.rint(BLACK + np.clip(scene, 0, 1) * (WHITE - BLACK)).astype(np.uint16)
    mosaic = np.empty((height, width), np.uint16)
    mosaic[0::2, 0::2] = levels[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = levels[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = levels[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = levels[1::2, 1::2, 2]
    tags = DNGTags()
    for tag, value in (
        (Tag.ImageWidth, width), (Tag.ImageLength, height), (Tag.TileWidth, width),
        (Tag.TileLength, height), (Tag.Orientation, 1),
        (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
        (Tag.SamplesPerPixel, 1), (Tag.BitsPerSample, 12), (Tag.CFARepeatPatternDim, [2, 2]),
        (Tag.CFAPattern, CFAPattern.RGGB), (Tag.BlackLevel, BLACK), (Tag.WhiteLevel, WHITE),
        (Tag.ColorMatrix1, [[int(i == j), 1] for i in range(3) for j in range(3)]),
        (Tag.CalibrationIlluminant1, 21),
        (Tag.AsShotNeutral, [[int(1000 * n), 1000] for n in neutral]),
        (Tag.Make, "mfif"), (Tag.Model, "Synthetic DNG"),
        (Tag.DNGVersion, DNGVersion.V1_4), (Tag.DNGBackwardVersion, DNGVersion.V1_2),
    ):  # fmt: skip
        tags.set(tag, value)
    writer = RAW2DNG()
    writer.options(tags, path="", compress=False)
    writer.convert(mosaic, filename=str(path.with_suffix("")))
    return path


@needs_raw
def test_raw_develop_is_linear_and_sixteen_bit(tmp_path: Path) -> None:
    from mfif.raw import develop

    scene = np.full((32, 48, 3), 0.2)
    dim = develop(write_dng(tmp_path / "dim.dng", scene, neutral=(1, 1, 1)))
    bright = develop(write_dng(tmp_path / "bright.dng", 2 * scene, neutral=(1, 1, 1)))
    assert dim.dtype == np.uint16 and dim.shape == (32, 48, 3)
    centre = (slice(4, -4), slice(4, -4))
    ratio = bright[centre].astype(float).mean() / dim[centre].astype(float).mean()
    assert ratio == pytest.approx(2.0, rel=0.03)  # linear: no tone curve, no auto-brightening


@needs_raw
def test_every_frame_gets_the_reference_white_balance(tmp_path: Path) -> None:
    from mfif.raw import develop, develop_settings

    scene = np.full((32, 48, 3), 0.3)
    paths = [
        write_dng(tmp_path / f"{k}.dng", scene, neutral=neutral)
        for k, neutral in enumerate([(0.5, 1, 0.5), (0.8, 1, 0.4), (0.5, 1, 0.5)])
    ]
    settings = develop_settings(paths)
    assert settings.white_balance[:3] == pytest.approx((1.25, 1.0, 2.5), rel=1e-3)
    shared = [develop(p, settings) for p in paths]
    assert np.array_equal(shared[0], shared[1])  # same light, same develop
    alone = develop(paths[0])
    assert not np.array_equal(alone, shared[0])  # its own as-shot balance differs


@needs_raw
def test_fuse_a_dng_stack(tmp_path: Path) -> None:
    sources, _, _ = complementary_stack(3, color=True, height=64, width=96)
    paths = [write_dng(tmp_path / f"frame{k}.dng", s * 0.4) for k, s in enumerate(sources)]
    out = tmp_path / "fused.tif"
    result = run("fuse", str(tmp_path), "-o", str(out), "--align", "none")
    assert result.returncode == 0, result.stderr
    fused = tifffile.imread(out)
    assert fused.dtype == np.uint16 and fused.shape == (64, 96, 3)
    exif, _ = metadata_of(out)
    assert exif["Exif.Image.Model"] == "Synthetic DNG"
    assert not any("CFA" in key or "DNGVersion" in key for key in exif)
    stack = mfif.load_stack(paths)
    assert stack.bit_depth == 16 and stack.images.shape == (3, 64, 96, 3)


@needs_raw
def test_corrupt_raw_is_one_sentence(tmp_path: Path) -> None:
    sources, _, _ = complementary_stack(2, color=True, height=32, width=48)
    good = write_dng(tmp_path / "good.dng", sources[0])
    bad = tmp_path / "bad.nef"
    bad.write_bytes(b"not a raw file at all" * 10)
    result = run("fuse", str(good), str(bad), "-o", str(tmp_path / "o.tif"))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.nef" in lines[0] and "camera RAW" in lines[0], result.stderr


def test_raw_without_the_extra_names_it(tmp_path: Path, monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_rawpy(name, *args, **kwargs):
        if name == "rawpy":
            raise ImportError("No module named 'rawpy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_rawpy)
    path = tmp_path / "frame.cr2"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(ImageReadError, match=r"mfif\[raw\]"):
        mfif.read_image(path)


def plain_and_tagged(tmp_path: Path, suffix: str) -> tuple[Path, Path]:
    """The same small image as ``suffix`` twice: as written (no metadata), and with EXIF."""
    plain = mfif.save_image(tmp_path / f"plain{suffix}", np.full((16, 24, 3), 0.4, np.float32))
    data = pyexiv2.ImageData(plain.read_bytes())
    data.modify_exif({"Exif.Image.Make": "Testcam"})
    tagged = tmp_path / f"tagged{suffix}"
    tagged.write_bytes(data.get_bytes())
    data.close()
    return plain, tagged


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_source_without_metadata_is_told_from_its_structure(tmp_path: Path, suffix: str) -> None:
    """PNG and JPEG sources without a block of metadata are passed over without Exiv2 (the
    same bytes it gives back); one with EXIF is not, and its EXIF is carried."""
    from mfif.metadata import _copied, carry_metadata, holds_no_metadata

    plain, tagged = plain_and_tagged(tmp_path, suffix)
    assert holds_no_metadata(plain) and not holds_no_metadata(tagged)
    payload = mfif.save_image(tmp_path / f"out{suffix}", np.zeros((16, 24, 3), np.float32))
    payload = payload.read_bytes()
    assert carry_metadata(payload, suffix, plain, (16, 24)) is payload
    assert _copied(pyexiv2, payload, suffix, plain, (16, 24)) == payload
    carried = tmp_path / f"carried{suffix}"
    carried.write_bytes(carry_metadata(payload, suffix, tagged, (16, 24)))
    assert metadata_of(carried)[0]["Exif.Image.Make"] == "Testcam"


def test_unreadable_or_other_sources_are_left_to_exiv2(tmp_path: Path) -> None:
    from mfif.metadata import holds_no_metadata

    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(plain_and_tagged(tmp_path, ".png")[0].read_bytes()[:40])
    tiff = tmp_path / "frame.tif"
    tifffile.imwrite(tiff, np.zeros((4, 4), np.uint8))
    for path in (truncated, tiff, tmp_path / "missing.png"):
        assert not holds_no_metadata(path)
