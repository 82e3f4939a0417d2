"""`mfif synth mask|depth` on generated images."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import mfif
from mfif.data.synth import synthesize_from_depth, synthesize_from_masks
from mfif.errors import MfifError
from mfif.io import to_integer

from conftest import sharp_image


def _write(path: Path, image: np.ndarray) -> Path:
    cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    images, masks, depths = (tmp_path / n for n in ("images", "masks", "depths"))
    for folder in (images, masks, depths):
        folder.mkdir()
    for k in range(3):
        rgb = to_integer(sharp_image(96, 128, color=True, seed=k), 8)
        _write(images / f"scene{k}.png", rgb[..., ::-1])
        mask = np.zeros((96, 128), np.uint8)
        mask[20:70, 30:90] = 255
        _write(masks / f"scene{k}.png", mask)
        disparity = np.full((96, 128), 20, np.uint8)
        disparity[:, 64:] = 60
        disparity[0:5, 0:5] = 0  # unknown
        _write(depths / f"scene{k}.png", disparity)
    tiny = np.zeros((96, 128), np.uint8)
    tiny[0, 0] = 255
    _write(images / "tiny.png", to_integer(sharp_image(96, 128, color=True, seed=9), 8))
    _write(masks / "tiny.png", tiny)
    _write(images / "lonely.png", to_integer(sharp_image(96, 128, color=True, seed=8), 8))
    return {"images": images, "masks": masks, "depths": depths, "out": tmp_path / "out"}


def _read(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_depth_ground_truth_is_the_input_bit_for_bit(inputs) -> None:
    synthesize_from_depth([inputs["images"]], inputs["depths"], inputs["out"], planes=2)
    for k in range(3):
        assert np.array_equal(
            _read(inputs["out"] / f"scene{k}" / "GT.png"), _read(inputs["images"] / f"scene{k}.png")
        )


def test_depth_source_is_sharp_where_its_plane_is_in_focus(inputs) -> None:
    manifest = synthesize_from_depth([inputs["images"]], inputs["depths"], inputs["out"], planes=2)
    scene = inputs["out"] / "scene0"
    truth, near, far = (_read(scene / f"{n}.png").astype(int) for n in ("GT", "A", "B"))
    focus = manifest["scenes"]["scene0"]["focus_disparities"]
    assert focus["A"] == pytest.approx(20) and focus["B"] == pytest.approx(60)
    # Away from the depth edge each half is exact in the source focused on it, blurred elsewhere.
    assert np.array_equal(near[10:, 10:50], truth[10:, 10:50])
    assert np.array_equal(far[:, 80:], truth[:, 80:])
    assert np.abs(far[10:, 10:50] - truth[10:, 10:50]).mean() > 2
    assert np.abs(near[:, 80:] - truth[:, 80:]).mean() > 2


def test_mask_pairs(inputs) -> None:
    manifest = synthesize_from_masks([inputs["images"]], inputs["masks"], inputs["out"], seed=3)
    assert set(manifest["scenes"]) == {"scene0", "scene1", "scene2"}
    assert "covers 0.0%" in manifest["skipped"]["tiny"]
    assert "no mask named lonely" in manifest["skipped"]["lonely"]
    scene = inputs["out"] / "scene1"
    truth, near, far = (_read(scene / f"{n}.png").astype(int) for n in ("GT", "A", "B"))
    inside, outside = (slice(30, 60), slice(40, 80)), (slice(80, 96), slice(0, 128))
    assert np.abs(near[inside] - truth[inside]).max() <= 1
    assert np.abs(far[outside] - truth[outside]).max() <= 1
    assert np.abs(far[inside] - truth[inside]).mean() > 1
    assert np.abs(near[outside] - truth[outside]).mean() > 1
    assert json.loads((inputs["out"] / "synth.json").read_text())["seed"] == 3


def test_same_seed_same_files_other_seed_other_draws(inputs, tmp_path: Path) -> None:
    first = synthesize_from_masks([inputs["images"]], inputs["masks"], tmp_path / "a", seed=1)
    again = synthesize_from_masks([inputs["images"]], inputs["masks"], tmp_path / "b", seed=1)
    other = synthesize_from_masks([inputs["images"]], inputs["masks"], tmp_path / "c", seed=2)
    for k in range(3):
        assert (tmp_path / "a" / f"scene{k}" / "A.png").read_bytes() == (
            tmp_path / "b" / f"scene{k}" / "A.png"
        ).read_bytes()
    assert first["scenes"] == again["scenes"]
    assert [s["blur"] for s in first["scenes"].values()] != [
        s["blur"] for s in other["scenes"].values()
    ]


def test_noise_touches_sources_only(inputs) -> None:
    synthesize_from_depth([inputs["images"]], inputs["depths"], inputs["out"], noise=3.0)
    scene = inputs["out"] / "scene0"
    assert np.array_equal(_read(scene / "GT.png"), _read(inputs["images"] / "scene0.png"))
    assert (
        np.abs(
            _read(scene / "A.png")[10:, 10:50].astype(int) - _read(scene / "GT.png")[10:, 10:50]
        ).mean()
        > 1
    )


def test_bad_options(inputs) -> None:
    with pytest.raises(MfifError, match="planes must be between 2"):
        synthesize_from_depth([inputs["images"]], inputs["depths"], inputs["out"], planes=1)
    with pytest.raises(MfifError, match="Blur kinds must be among"):
        synthesize_from_masks([inputs["images"]], inputs["masks"], inputs["out"], kinds=["box"])
    with pytest.raises(MfifError, match="does not exist"):
        synthesize_from_masks([inputs["images"]], inputs["out"] / "nope", inputs["out"])


def test_cli_writes_scenes_and_reports_skips(inputs) -> None:
    from mfif.cli import main

    status = main(
        [
            "synth",
            "depth",
            str(inputs["images"]),
            str(inputs["depths"]),
            str(inputs["out"]),
            "--planes",
            "3",
        ]
    )
    assert status == 0
    assert sorted(p.name for p in (inputs["out"] / "scene2").iterdir()) == [
        "A.png",
        "B.png",
        "C.png",
        "GT.png",
    ]
    stack = mfif.load_stack(inputs["out"] / "scene2" / "[ABC].png")
    assert stack.count == 3


def test_misaligned_stacks_record_motions_that_undo_exactly(inputs) -> None:
    from mfif.align import apply_alignment
    from mfif.data.misalign import Misalignment, known_alignment
    from mfif.metrics import psnr

    settings = Misalignment(breathing=6, shift=3, rotation=0.25, gain=3)
    manifest = synthesize_from_depth(
        [inputs["images"]], inputs["depths"], inputs["out"], planes=3, misalignment=settings
    )
    assert manifest["misalignment"] == {"breathing": 6, "shift": 3, "rotation": 0.25, "gain": 3}
    record = manifest["scenes"]["scene0"]["misalignment"]
    assert 1.5 <= abs(record["breathing_percent"]) <= 6 and record["reference"] == 1
    np.testing.assert_allclose(record["matrices"][1], np.eye(3))
    top, left, height, width = record["crop"]
    folder = inputs["out"] / "scene0"
    truth = mfif.read_image(folder / "GT.png")[0]
    assert truth.shape[:2] == (height, width) and height < 96 and width < 128
    # The ground truth is the input, cropped: bit for bit.
    image = mfif.read_image(inputs["images"] / "scene0.png")[0]
    np.testing.assert_array_equal(truth, image[top : top + height, left : left + width])
    # Undoing the known motions registers the frames: the reference's sharp plane matches.
    stack = mfif.load_stack(sorted(p for p in folder.iterdir() if p.stem in "ABC"))
    undone = apply_alignment(stack, known_alignment(record, stack.size, 3), crop=False)
    window = undone.images[:, top : top + height, left : left + width]
    fused = mfif.fuse(list(window), align="none").image
    assert psnr(fused, truth) > 30
    # Validation and the export's --score read such scenes registered the same way.
    from mfif.scoring import ground_truth_cases

    sources, case_truth = ground_truth_cases([inputs["out"]])[0]  # scene0 comes first
    assert sources.shape == (3, height, width, 3)
    np.testing.assert_allclose(sources, window, atol=1e-6)
    np.testing.assert_array_equal(case_truth, truth)


def test_bench_scores_misaligned_scenes_on_the_covered_region(inputs, tmp_path: Path) -> None:
    from mfif.bench.runner import run_benchmark
    from mfif.data.misalign import Misalignment
    from mfif.data.scenes import find_scenes

    synthesize_from_depth(
        [inputs["images"]], inputs["depths"], inputs["out"], planes=2,
        misalignment=Misalignment(breathing=4, shift=2),
    )  # fmt: skip
    scenes, _ = find_scenes([inputs["out"]])
    assert all(scene.misalignment is not None for scene in scenes)
    scores = {}
    for align in ("auto", "none"):
        records, skipped = run_benchmark(
            scenes, ["guided-decision"], tmp_path / align, metrics=["PSNR"], align=align,
            progress=False,
        )  # fmt: skip
        assert skipped == [] and all(r.status == "ok" for r in records)
        scores[align] = np.mean([r.metrics["PSNR"] for r in records])
    assert scores["auto"] > scores["none"] + 3
    # The report compares the results, cropped to the covered region, with the truth there.
    from mfif.bench.html import render_html
    from mfif.bench.tables import summarize

    report = render_html(tmp_path / "auto", "t", scenes, records, summarize(records, {}))
    assert "error ×8" in report and "aligned and cropped" not in report
