"""The one pipeline: memory or disk is a storage choice, so every option gives the same files
on both; the storage is chosen by size."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import mfif
from mfif.errors import OptionError
from mfif.files import SaveTargets, save
from mfif.fusion import Fusion, WholeStackFuser
from mfif.methods import list_methods, method_class
from mfif.outputs import OutputSet
from mfif.pipeline import Pipeline
from test_align import misaligned_stack, motion

# Methods that fuse from disk; networks (seconds per stack on a CPU) marked slow.
STREAMING = [
    pytest.param(name, marks=pytest.mark.slow) if method_class(name).pretrained else name
    for name in list_methods(include_external=False, include_slow=False)
    if not method_class(name).needs_all_frames
]


def frames_on_disk(folder: Path, moved: bool, count: int = 3) -> list[Path]:
    motions = [motion(1, 0, (0, 0))] * count
    if moved:
        motions = [motion(1.01, 0.3, (2.5, -1.5)), motion(1, 0, (0, 0)), motion(0.99, 0, (-2, 1))]
    stack, _ = misaligned_stack(motions)
    folder.mkdir(parents=True, exist_ok=True)
    return [mfif.save_image(folder / f"{k}.png", image) for k, image in enumerate(stack.images)]


def written(pipeline: Pipeline, paths: list[Path], folder: Path, **targets) -> dict:
    """Every file a run writes (as ``mfif fuse`` does), by name: its bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    with OutputSet(protected=paths) as outputs:
        reserved = SaveTargets.reserve(outputs, folder / "fused.png", **targets)
        with pipeline.run(paths, maps=reserved.wants_maps) as result:
            save(result, outputs, reserved, reference=pipeline.reference)
            storage = result.storage
    files = {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.suffix in (".png", ".tif")
    }
    return {"storage": storage, **files}


def test_every_streaming_method_is_known():
    names = {getattr(item, "values", (item,))[0] for item in STREAMING}
    classical = {"guided-decision", "gff", "laplacian-pyramid", "dwt", "maxgrad", "sf"}
    assert classical | {"msa-siamese", "ufa-fuse", "udpnet"} <= names


@pytest.mark.parametrize("method", STREAMING)
def test_memory_and_disk_write_the_same_files(tmp_path, method):
    """Registered stacks give the same bytes from memory and from disk, maps included."""
    paths = frames_on_disk(tmp_path / "in", moved=False)
    maps = {"depth_index": "depth.png", "weights": "weights"}
    if not method_class(method).produces_weights:
        maps = {}
    maps["depth"] = "depth.tif"  # depth from focus: for every method
    runs = {}
    for storage in ("memory", "disk"):
        folder = tmp_path / storage
        targets = {key: folder / value for key, value in maps.items()}
        runs[storage] = written(Pipeline(method, storage=storage), paths, folder, **targets)
    assert runs["memory"].pop("storage") == "memory" and runs["disk"].pop("storage") == "disk"
    assert runs["disk"] == runs["memory"]
    if "weights" in maps:
        assert sum(name.startswith("weights") for name in runs["disk"]) == 3
    assert {"depth.tif", "depth-view.png", "depth-confidence.png"} <= set(runs["disk"])


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"crop": False},
        {"reference": 0},
        {"align": "translation"},
    ],
    ids=["auto", "no-crop", "reference-0", "translation"],
)
def test_alignment_options_work_the_same_on_both_storages(tmp_path, options):
    """Moved frames: the same crop on both storages; from disk a frame is resampled a region
    at a time where it wins, which rounds sample coordinates differently: a level at most,
    on few samples."""
    paths = frames_on_disk(tmp_path / "in", moved=True)
    images = {}
    for storage in ("memory", "disk"):
        folder = tmp_path / storage
        run = written(
            Pipeline("guided-decision", storage=storage, **options), paths, folder,
            depth_index=folder / "depth.png", depth=folder / "depth.tif",
            aligned=folder / "aligned",
        )  # fmt: skip
        images[storage] = run
    memory, disk = images["memory"], images["disk"]
    assert sorted(memory) == sorted(disk)
    assert sum(name.startswith("aligned") for name in disk) == 3
    for name in memory:
        if name.startswith("aligned"):
            assert memory[name] == disk[name]  # the same resampling, whole frames
    decoded = {
        key: cv2.imdecode(np.frombuffer(run["fused.png"], np.uint8), -1).astype(int)
        for key, run in images.items()
    }
    assert decoded["memory"].shape == decoded["disk"].shape
    difference = np.abs(decoded["memory"] - decoded["disk"])
    assert difference.max() <= 1 and np.mean(difference > 0) < 1e-3


def test_a_frame_that_cannot_be_registered_is_dropped_on_both_storages(tmp_path):
    paths = frames_on_disk(tmp_path / "in", moved=False)
    other = np.random.default_rng(9).random((288, 384, 3)).astype(np.float32)
    paths.append(mfif.save_image(tmp_path / "in" / "3.png", other))
    for storage in ("memory", "disk"):
        pipeline = Pipeline("guided-decision", storage=storage, skip_bad_frames=True)
        with pipeline.run(paths) as result:
            assert result.frames.names == ("0.png", "1.png", "2.png")
        with pytest.raises(mfif.MfifError, match="3.png"):
            Pipeline("guided-decision", storage=storage).run(paths)


def test_the_storage_is_chosen_by_size(tmp_path, monkeypatch):
    paths = frames_on_disk(tmp_path / "in", moved=False)
    monkeypatch.setenv("MFIF_STREAM_ABOVE", "0")
    with Pipeline("gff").run(paths) as result:
        assert result.storage == "disk"
    with Pipeline("gff", storage="memory").run(paths) as result:
        assert result.storage == "memory"
    monkeypatch.setenv("MFIF_STREAM_ABOVE", str(2**62))
    with Pipeline("gff").run(paths) as result:
        assert result.storage == "memory"


class MeanOfAll(WholeStackFuser):
    name = "mean-of-all"
    summary = "the mean of every frame, all in memory at once"

    def fuse_stack(self, stack):
        return Fusion(image=stack.images.mean(axis=0))


def test_a_method_that_needs_every_frame_keeps_them_in_memory(tmp_path, monkeypatch):
    with pytest.raises(OptionError, match="every frame in memory"):
        Pipeline(MeanOfAll(), storage="disk")
    monkeypatch.setenv("MFIF_STREAM_ABOVE", "0")
    paths = frames_on_disk(tmp_path, moved=False)
    with Pipeline(MeanOfAll()).run(paths) as result:
        assert result.storage == "memory"


def test_a_report_names_the_storage(tmp_path):
    paths = frames_on_disk(tmp_path / "in", moved=False)
    for storage in ("memory", "disk"):
        folder = tmp_path / storage
        written(Pipeline("sf", storage=storage), paths, folder, report=folder / "report.json")
        report = json.loads((folder / "report.json").read_text())
        assert report.get("streamed", False) == (storage == "disk")
        assert report["frames"] == ["0.png", "1.png", "2.png"]


def test_a_multi_page_tiff_is_read_into_memory_whatever_the_size(tmp_path, monkeypatch):
    import tifffile

    sources = np.stack([mfif.read_image(p)[0] for p in frames_on_disk(tmp_path / "in", False)])
    tifffile.imwrite(tmp_path / "stack.tif", np.rint(sources * 255).astype(np.uint8))
    monkeypatch.setenv("MFIF_STREAM_ABOVE", "0")
    with Pipeline("gff").run(tmp_path / "stack.tif") as result:
        assert result.storage == "memory" and len(result.frames) == 3
        assert result.frames.names[0] == "stack.tif[0]"


def test_in_memory_a_weighted_method_reads_moved_frames_without_an_aligned_copy(monkeypatch):
    """Registered frames are resampled as guided-decision reads them (as from disk), not held
    as a second float32 stack; the result is the held stack's within 1e-4 (the luminance is
    resampled instead of computed from resampled channels). Pyramid methods hold them."""
    from mfif import fusion
    from mfif.frames import HeldFrames

    stack, _ = misaligned_stack([motion(1.01, 0.002, (1.5, -2.0)), motion(1, 0, (0, 0)),
                                 motion(0.99, -0.002, (-1.0, 1.5))])  # fmt: skip
    with Pipeline("guided-decision").run(stack) as lazy:
        assert not lazy.alignment.is_still  # registered and resampled
        assert not isinstance(lazy.frames, HeldFrames)
        image = lazy.fusion.image
    with Pipeline("laplacian-pyramid").run(stack) as pyramid:
        assert isinstance(pyramid.frames, HeldFrames)
    monkeypatch.setattr(fusion.WeightedFuser, "read_ahead", False)  # held, as before
    with Pipeline("guided-decision").run(stack) as held:
        assert isinstance(held.frames, HeldFrames)
        np.testing.assert_allclose(image, held.fusion.image, atol=1e-4)


def test_weights_are_kept_only_when_wanted(tmp_path):
    """`mfif fuse` asks for the image alone: the N full-size weight maps are not kept, unless
    maps are asked for; the image is the same."""
    paths = frames_on_disk(tmp_path, moved=False)
    pipeline = Pipeline("guided-decision", storage="memory")
    with pipeline.run(paths) as everything, pipeline.run(paths, weights=False) as image_only:
        assert everything.fusion.weights is not None and image_only.fusion.weights is None
        np.testing.assert_array_equal(everything.fusion.image, image_only.fusion.image)
    with pipeline.run(paths, weights=False, maps=True) as mapped:
        assert mapped.weight_maps is not None and len(mapped.weight_maps) == len(paths)
