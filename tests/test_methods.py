"""Every registered classical method, on generated stacks with known ground truth."""

from __future__ import annotations

import numpy as np
import pytest

import mfif
from mfif.methods import is_trained, method_class
from mfif.metrics import psnr

from conftest import barcode_stack, complementary_stack

# Every method but external programs; dfp, minutes per stack, has its own tests (test_dfp).
# Networks take seconds per stack on a CPU: marked slow (CI runs them).
NAMES = mfif.list_methods(include_external=False, include_slow=False)
METHODS = [
    pytest.param(name, marks=pytest.mark.slow) if method_class(name).pretrained else name
    for name in NAMES
]
# methods whose output is regressed by a network rather than blended from the sources
REDRAWING = {"ufa-fuse", "ufa-fuse-paper"}


@pytest.mark.parametrize("method", METHODS)
def test_every_network_method_ships_its_weights(method: str) -> None:
    assert is_trained(method), f"{method} is registered but its weights are not shipped"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("count", [2, 3, 4, 5])
def test_beats_every_source(method: str, count: int) -> None:
    sources, truth, _ = complementary_stack(count, color=True, width=40 * count)
    fused = mfif.fuse(list(sources), method=method).image
    best_source = max(psnr(source, truth) for source in sources)
    assert psnr(fused, truth) > best_source + 1.0


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("color", [False, True])
def test_shapes_dtypes_and_weights(method: str, color: bool) -> None:
    sources, _, _ = complementary_stack(3, color=color)
    result = mfif.fuse(list(sources if color else sources[..., 0]), method=method)
    channels = 3 if color else 1
    assert result.image.shape == (96, 128, channels)
    assert result.image.dtype == np.float32
    assert result.image.min() >= 0.0 and result.image.max() <= 1.0
    assert (result.weights is not None) == mfif.create(method).produces_weights
    if result.weights is not None:
        assert result.weights.shape == (3, 96, 128)
        assert result.weights.min() >= 0.0
        np.testing.assert_allclose(result.weights.sum(axis=0), 1.0, atol=1e-5)
        assert result.depth.shape == (96, 128)
        assert set(np.unique(result.depth)) <= {0, 1, 2}


@pytest.mark.parametrize(
    "method",
    [
        pytest.param(name, marks=pytest.mark.slow) if method_class(name).pretrained else name
        for name in NAMES
        if method_class(name).produces_weights
    ],
)
def test_weights_find_the_sharp_band(method: str) -> None:
    sources, _, labels = complementary_stack(3, color=False, width=192)
    result = mfif.fuse(list(sources[..., 0]), method=method)
    agreement = np.mean(result.depth == labels)
    assert agreement > 0.8


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("count", [2, 4])
def test_identical_sources_give_that_image(method: str, count: int) -> None:
    sources, truth, _ = complementary_stack(2, color=True)
    image = np.rint(truth * 255).astype(np.uint8)
    result = mfif.fuse([image] * count, method=method)
    if method in REDRAWING:
        # a network that re-draws every pixel reproduces its input only approximately
        # (shipped weights, 2 / 4 copies: ufa-fuse-paper 50.1 / 46.8 dB; ufa-fuse, which
        # redraws only a correction to the attended sources, 66.1 / 62.1 dB, off by 3 levels
        # at most)
        assert psnr(result.image, image / 255.0) > 34.0
        return
    restored = np.rint(result.image * 255).astype(np.int16)
    assert np.abs(restored - image).max() <= 1


@pytest.mark.parametrize("method", METHODS)
def test_same_input_same_output(method: str) -> None:
    sources, _, _ = complementary_stack(2, color=True)
    first = mfif.fuse(list(sources), method=method).image
    second = mfif.fuse(list(sources), method=method).image
    np.testing.assert_array_equal(first, second)


def test_colour_follows_the_luminance_weights() -> None:
    sources, _, _ = complementary_stack(2, color=True)
    result = mfif.fuse(list(sources), method="guided-decision")
    expected = np.einsum("nhwc,nhw->hwc", sources, result.weights)
    np.testing.assert_allclose(result.image, np.clip(expected, 0, 1), atol=1e-5)


def test_sixteen_bit_arrays_are_accepted() -> None:
    sources, truth, _ = complementary_stack(2, color=False)
    sixteen = [np.rint(s[..., 0] * 65535).astype(np.uint16) for s in sources]
    stack = mfif.Stack.from_arrays(sixteen)
    assert stack.bit_depth == 16
    fused = mfif.fuse(stack).image
    assert psnr(fused, truth) > max(psnr(s, truth) for s in sources)


def test_unknown_method_lists_the_known_ones() -> None:
    with pytest.raises(mfif.UnknownMethodError, match="choose one of: .*guided-decision"):
        mfif.create("nope")


def test_bad_option_is_a_clear_error() -> None:
    with pytest.raises(mfif.OptionError, match="The method 'gff' has no option 'nonsense'"):
        mfif.create("gff", nonsense=1)


def test_every_method_has_a_summary() -> None:
    from mfif.methods import summary

    for method in NAMES:
        assert 10 < len(summary(method)) < 100


def test_default_method_is_registered() -> None:
    assert mfif.DEFAULT_METHOD in NAMES


def test_an_external_command_is_a_method(tmp_path) -> None:
    import sys

    from mfif.methods.external import ExternalCommandFuser

    script = "import shutil, sys; shutil.copy(sys.argv[1], sys.argv[-1])"
    fuser = ExternalCommandFuser([sys.executable, "-c", script, "{inputs}", "{output}"], "copy")
    sources, _, _ = complementary_stack(2, color=True)
    result = fuser.fuse(mfif.Stack.from_arrays(list(sources)))
    np.testing.assert_allclose(result.image, sources[0], atol=1 / 255)


def test_a_failing_external_command_is_one_clear_error() -> None:
    import sys

    from mfif.methods.external import ExternalCommandFuser

    fuser = ExternalCommandFuser([sys.executable, "-c", "import sys; sys.exit('no luck')"], "x")
    sources, _, _ = complementary_stack(2, color=False)
    with pytest.raises(mfif.MfifError, match="x failed \\(exit 1\\): no luck"):
        fuser.fuse(mfif.Stack.from_arrays(list(sources[..., 0])))


def test_enfuse_as_a_peer() -> None:
    import shutil

    if shutil.which("enfuse") is None:
        with pytest.raises(mfif.OptionError, match="apt-get install enfuse"):
            mfif.create("enfuse")
        return
    sources, truth, _ = complementary_stack(2, color=True)
    fused = mfif.fuse(list(sources), method="enfuse").image
    assert psnr(fused, truth) > max(psnr(s, truth) for s in sources)


def test_a_small_region_clearly_sharp_in_its_frame_is_not_handed_to_a_blurred_one() -> None:
    """A patch of 0.5 % of the image, sharp in frame 0 only, inside a scene sharp in frame 1:
    small-region removal (here of regions below 1 %) would blur it; it is kept because its
    focus is far above frame 1's there."""
    import cv2

    from conftest import sharp_image

    image = sharp_image(200, 300, color=False, seed=2)
    soft = cv2.GaussianBlur(image, (0, 0), 3.0)[..., None]
    patch = (slice(90, 104), slice(140, 160))
    frame_0, frame_1 = soft.copy(), image.copy()
    frame_0[patch], frame_1[patch] = image[patch], soft[patch]
    frames = np.stack([frame_0, frame_1])
    centre = (slice(94, 100), slice(145, 155))  # the patch's edges blend with its surround
    options = {"method": "guided-decision", "min_region": 0.01}
    kept = mfif.fuse(list(frames), **options).weights[0][centre]
    removed = mfif.fuse(list(frames), **options, keep_ratio=0).weights[0][centre]
    assert kept.mean() > 0.8 and removed.mean() < 0.2, (kept.mean(), removed.mean())


def test_the_patchy_decision_repair_cleans_a_barcodes_bars() -> None:
    """Inside the bars no frame has detail at the focus measure's scale and the blurred frames
    win in grey patches; the default's repair (`repair_window`) gives them the sharp frame's
    decision from the bars' edges (README, "A visible failure, repaired")."""
    from mfif.metrics import region_psnr

    gains = []
    for seed in (0, 2):
        frames, truth, inside = barcode_stack(seed)
        unrepaired = mfif.fuse(list(frames), align="none", repair_window=0).image  # no motion
        repaired = mfif.fuse(list(frames), align="none").image  # the default
        gains.append(region_psnr(repaired, truth, inside) - region_psnr(unrepaired, truth, inside))
    assert min(gains) > 4.0, gains


def fibre_stack(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strokes 2-4 px wide halfway between the first two focal planes of 6, in front of a
    texture that only the last frame focuses (each layer blurred by a disk of 12 px per depth
    unit from the focus and laid over what is behind it with its blurred coverage), camera-like
    noise: `benchmarks/fibres.py` in small. Returns the frames (6, H, W, 3), the truth and
    the strokes (H, W) bool."""
    import cv2

    from mfif.data.camera import Capture
    from mfif.data.synthetic import disk_kernel

    from conftest import sharp_image

    def disk(image: np.ndarray, radius: float) -> np.ndarray:
        if radius < 0.5:
            return image
        blurred = cv2.filter2D(image, -1, disk_kernel(radius), borderType=cv2.BORDER_REFLECT)
        return blurred.reshape(image.shape)

    rng = np.random.default_rng(seed)
    height, width = 192, 256
    back = sharp_image(height, width, color=True, seed=seed) * 0.6
    coverage = np.zeros((height, width), np.float32)
    for _ in range(3):
        points = rng.integers([0, 0], [width, height], size=(3, 2)).astype(np.int32)
        cv2.polylines(coverage, [points.reshape(-1, 1, 2)], False, 1.0, int(rng.integers(2, 5)),
                      cv2.LINE_AA)  # fmt: skip
    coverage = coverage[..., None]
    colour = np.array([0.7, 0.9, 0.5], np.float32)
    frames = []
    for k in range(6):
        focus = k / 5
        spread = disk(coverage, 12 * abs(0.1 - focus))
        frame = disk(coverage * colour, 12 * abs(0.1 - focus)) + (1 - spread) * disk(
            back, 12 * (1 - focus)
        )
        frames.append(Capture(noise=3.0).add_noise(frame.astype(np.float32), rng))
    truth = coverage * colour + (1 - coverage) * back
    return np.stack(frames).astype(np.float32), truth, coverage[..., 0] > 0.5


def test_thin_strokes_between_two_focal_planes_are_kept_from_them() -> None:
    """A stroke halfway between two focal planes is nearly as sharp in both, so its decision
    leads its runner-up by little and changes between the two: the patchy-decision repair
    must not take that for a bar's inside and hand the stroke to the texture behind it, which
    shows through its blur in the far frames (a microscope's legs from a blurred frame; README,
    "Thin structures")."""
    from mfif.metrics import region_psnr

    for seed in (0, 1, 2):
        frames, truth, strokes = fibre_stack(seed)
        weights = mfif.fuse(list(frames), align="none").weights
        assert weights[:2][:, strokes].sum(axis=0).mean() > 0.8, seed
        default = mfif.fuse(list(frames), align="none").image
        unrepaired = mfif.fuse(list(frames), align="none", repair_window=0).image
        assert region_psnr(default, truth, strokes) > region_psnr(unrepaired, truth, strokes) - 0.5


@pytest.mark.parametrize("count", [3, 5])
def test_a_clearly_sharp_small_region_is_kept_in_a_stack_the_repair_looks_at(count: int) -> None:
    """The same with 3 and 5 frames (each decision's lead weighed; the patchy-decision repair
    on from 4): a patch with strong detail in the first frame only, where the last frame is
    flat, is kept; one whose detail is faint against the detail around it (a blurred frame's
    residue) is not."""
    import cv2

    from conftest import sharp_image

    image = sharp_image(200, 300, color=False, seed=2)
    patch, hole = (slice(90, 104), slice(140, 160)), (slice(80, 114), slice(130, 170))
    centre = (slice(94, 100), slice(145, 155))
    scene = image.copy()
    scene[hole] = 0.3
    rng = np.random.default_rng(0)
    texture = rng.random((14, 20, 1)).astype(np.float32) - 0.5
    first_weights = {}
    for contrast in (0.02, 0.3):
        frames = [
            cv2.GaussianBlur(scene, (0, 0), 1 + 0.8 * (count - 1 - k))[..., None]
            for k in range(count - 1)
        ]
        frames.append(scene.copy())
        frames[0][patch] = 0.3 + texture * contrast
        fused = mfif.fuse(frames, align="none", min_region=0.01)
        first_weights[contrast] = fused.weights[0][centre].mean()
    assert first_weights[0.3] > 0.8 and first_weights[0.02] < 0.2, first_weights


def test_keep_clear_winners_leaves_weak_decisions_to_the_surroundings() -> None:
    from mfif.methods.guided_decision import _keep_clear_winners

    voted = np.zeros((20, 20), np.int32)
    voted[5:10, 5:10] = 1
    best = np.full(voted.shape, 10.0, np.float32)
    weak = np.zeros(voted.shape, bool)
    weak[5:8] = True
    labels = np.zeros_like(voted)  # the region was handed to source 0
    _keep_clear_winners(voted, labels, best, lambda k: np.ones_like(best), 2.0, weak=weak)
    expected = np.zeros_like(voted)
    expected[8:10, 5:10] = 1  # clearly sharper and not weak: given back
    np.testing.assert_array_equal(labels, expected)


def test_keep_clear_winners_gives_back_groups_not_scattered_pixels() -> None:
    """In a stack the repair looks at, pixels of a removed region that lead by chance, a few
    here and there (JPEG blocking on a blurred frame beside a bar's edge), are not given back:
    the boundary's re-decision would grow each into a grey square. A group of 3 x 3 is."""
    from mfif.methods.guided_decision import _keep_clear_winners

    voted = np.zeros((30, 30), np.int32)
    voted[4:8, 4:8] = 1  # removed, then handed to source 0
    voted[15:18, 15:18] = 1
    best = np.ones(voted.shape, np.float32)
    best[[4, 6, 7], [4, 7, 5]] = 10.0  # three scattered pixels clearly ahead
    best[15:18, 15:18] = 10.0  # a 3 x 3 group clearly ahead
    labels = np.zeros_like(voted)
    weak = np.zeros(voted.shape, bool)  # flagged: a stack the repair looks at
    _keep_clear_winners(voted, labels, best, lambda k: np.ones_like(best), 2.0, weak=weak)
    expected = np.zeros_like(voted)
    expected[15:18, 15:18] = 1
    np.testing.assert_array_equal(labels, expected)
    labels = np.zeros_like(voted)  # 2 frames: every clear pixel is given back
    _keep_clear_winners(voted, labels, best, lambda k: np.ones_like(best), 2.0)
    np.testing.assert_array_equal(labels, np.where(best > 1, voted, 0))


def test_the_boundary_band_brings_no_blurred_spill_into_a_flat_area() -> None:
    """A bright, flat strip crosses the boundary between two dark textures, each sharp in its
    own frame; three frames (or one) blur everything, spilling the textures' darkness over
    the strip; every frame has camera noise. Around the boundary the small window's winner in
    the strip is often a blurred frame; the band's re-decision must keep to the two frames
    that meet there (a blurred frame drew dark specks on the lit lip of a shelf in
    `lfsd_lytro__scene007`, and blotches with 3 of its frames)."""
    import cv2

    from conftest import sharp_image

    for seed, blurred_frames in ((0, 3), (1, 3), (3, 1)):
        rng = np.random.default_rng(seed)
        image = sharp_image(160, 240, color=False, seed=seed)[..., 0] * 0.5
        image[72:88] = 0.9
        soft = cv2.GaussianBlur(image, (0, 0), 4.0)
        frames = []
        for k in range(blurred_frames + 2):
            frame = soft.copy()
            if k == blurred_frames:
                frame[:, :120] = image[:, :120]
            if k == blurred_frames + 1:
                frame[:, 120:] = image[:, 120:]
            frame += rng.normal(0, 2 / 255, frame.shape).astype(np.float32)
            frames.append(np.clip(frame, 0, 1)[..., None])
        weights = mfif.fuse(frames, align="none").weights
        blurred = weights[:blurred_frames, 74:86, 100:140].sum(axis=0)
        assert blurred.mean() < 0.03, (seed, blurred_frames, blurred.mean())  # 0.08-0.13 before


def test_redecided_band_moves_boundaries_between_the_sources_meeting_there() -> None:
    """A faint small-window winner is taken only if it is focused between the sources that
    meet there; a winner with detail is taken wherever it is focused."""
    from mfif.methods.guided_decision import _redecided_band

    labels = np.full((12, 12), 2, np.int32)
    labels[:, 6:] = 4
    fine = labels.copy()
    fine[2, 5] = 4  # the boundary moves by a pixel: taken
    fine[3, 5] = 3  # focused between the two: taken
    fine[4, 4] = 0  # focused outside them...
    fine[5, 7] = 5  # ...on either side
    fine[6, 0] = 4  # outside the band: never taken
    faint = np.ones(labels.shape, bool)  # every winner faint (3 frames or more)
    expected = labels.copy()
    expected[2, 5], expected[3, 5] = 4, 3
    np.testing.assert_array_equal(_redecided_band(labels, fine, 2, faint=faint), expected)
    faint[4, 4] = False  # a winner with detail: taken
    expected[4, 4] = 0
    np.testing.assert_array_equal(_redecided_band(labels, fine, 2, faint=faint), expected)
    expected[5, 7] = 5
    np.testing.assert_array_equal(_redecided_band(labels, fine, 2), expected)  # 2 frames
    np.testing.assert_array_equal(_redecided_band(labels, fine, 0), labels)


@pytest.mark.parametrize("count", [2, 3, 5])
@pytest.mark.parametrize(
    "options", [{"boundary_band": 0}, {"repair_window": 0}, {"min_region": 0}, {"keep_ratio": 0}]
)
def test_each_step_of_the_default_can_be_turned_off(count: int, options: dict) -> None:
    sources, truth, _ = complementary_stack(count, color=False)
    fused = mfif.fuse(list(sources), align="none", **options).image
    assert psnr(fused, truth) > max(psnr(s, truth) for s in sources)
