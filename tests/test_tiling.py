"""Tiling: the fewest equal tiles cover an image, and a local function gives the same result
tiled as on the whole image, at the input's scale or larger."""

from __future__ import annotations

import numpy as np
import pytest

from mfif.tiling import default_overlap, run_tiled, tile_starts


@pytest.mark.parametrize("length", [1, 100, 128, 129, 520, 1000, 4001])
@pytest.mark.parametrize(("tile", "overlap"), [(128, 16), (264, 33), (64, 8)])
def test_tiles_cover_the_image_with_the_fewest_equal_tiles(length, tile, overlap) -> None:
    starts, size = tile_starts(length, tile, overlap)
    assert size <= tile and starts[0] == 0 and starts[-1] + size == length
    assert all(b - a <= size - overlap for a, b in zip(starts, starts[1:], strict=False))
    fewer = len(starts) - 1  # one tile less must not be enough
    assert fewer == 0 or fewer * tile - (fewer - 1) * overlap < length


def test_tiling_matches_whole_image_for_local_functions() -> None:
    image = np.random.default_rng(0).random((2, 150, 211)).astype(np.float32)
    np.testing.assert_allclose(
        run_tiled(lambda x: x * 2, image, tile=64, overlap=8), image * 2, rtol=1e-6
    )
    # With a progress bar (25 tiles; shown only on a terminal) the result is the same.
    np.testing.assert_allclose(
        run_tiled(lambda x: x * 2, image, tile=48, overlap=8, description="t"), image * 2, rtol=1e-6
    )


def test_tiles_on_several_threads_blend_to_the_same_result() -> None:
    """Tiles computed side by side are blended in the same order: the same bytes, and a
    position-dependent function shows that each tile lands where it belongs."""
    import itertools
    import threading

    image = np.random.default_rng(2).random((3, 170, 230)).astype(np.float32)
    workers = set()

    def local_contrast(part: np.ndarray) -> np.ndarray:
        workers.add(threading.get_ident())
        return part - part.mean(axis=(1, 2), keepdims=True) + np.arange(part.shape[2])

    alone = run_tiled(local_contrast, image, tile=64, overlap=12)
    assert workers == {threading.get_ident()}
    workers.clear()
    meet, calls = threading.Barrier(2, timeout=30), itertools.count()

    def met(part: np.ndarray) -> np.ndarray:
        if next(calls) < 2:  # the first two tiles wait for each other: they run at once
            meet.wait()
        return local_contrast(part)

    together = run_tiled(met, image, tile=64, overlap=12, threads=2)
    np.testing.assert_array_equal(together, alone)
    assert threading.get_ident() not in workers and len(workers) == 2
    # A lone tile runs in the calling thread whatever the threads asked for.
    workers.clear()
    run_tiled(local_contrast, image[:, :40, :40], tile=64, threads=2)
    assert workers == {threading.get_ident()}


def test_a_network_restores_the_intra_op_threads_it_gives_its_tiles() -> None:
    torch = pytest.importorskip("torch")
    from mfif.methods.network import NetworkFuser

    class Identity(NetworkFuser):
        name = "identity-test"

    fuser = Identity(model=torch.nn.Identity(), device="cpu")
    seen = []

    def forward(tensor):
        seen.append(torch.get_num_threads())
        return tensor * 1

    before = torch.get_num_threads()
    image = np.random.default_rng(3).random((2, 100, 140)).astype(np.float32)
    np.testing.assert_allclose(fuser.run_tiled(forward, image, tile=48), image, rtol=1e-6)
    assert torch.get_num_threads() == before
    if before > 1:  # each tile on one core, side by side
        assert set(seen) == {1}


def test_run_tiled_with_a_scale_places_each_tile_at_scale() -> None:
    image = np.random.default_rng(0).random((2, 50, 70)).astype(np.float32)

    def nearest(part: np.ndarray) -> np.ndarray:
        return part.repeat(2, axis=1).repeat(2, axis=2)

    result = run_tiled(nearest, image, tile=24, overlap=6, scale=2)
    np.testing.assert_allclose(result, nearest(image), atol=1e-6)


def test_the_default_overlap_is_a_quarter_tile_at_most_32_pixels() -> None:
    assert [default_overlap(t) for t in (48, 128, 512)] == [12, 32, 32]
    image = np.random.default_rng(1).random((1, 90, 90)).astype(np.float32)
    np.testing.assert_array_equal(
        run_tiled(lambda x: x + 1, image, tile=48),
        run_tiled(lambda x: x + 1, image, tile=48, overlap=12),
    )


@pytest.mark.parametrize(
    "kernel, dilation, groups, stride, size",
    [
        (3, 1, 1, 1, (97, 113)), (3, 1, 1, 1, (17, 23)), (7, 1, 4, 1, (30, 26)),
        (3, 4, 1, 1, (25, 40)), (3, 2, 1, 1, (5, 9)), (3, 1, 1, 2, (97, 144)),
        (3, 1, 1, 2, (144, 97)), (5, 1, 2, 2, (190, 221)), (3, 2, 4, 2, (210, 300)),
        (7, 1, 1, 3, (290, 311)), (3, 1, 1, 1, (2, 7)), (5, 1, 1, 2, (3, 4)),
        (7, 1, 4, 1, (4, 40)),
    ],
)  # fmt: skip
def test_reflected_borders_without_a_padded_copy_are_the_same_convolution(
    kernel: int, dilation: int, groups: int, stride: int, size: tuple[int, int]
) -> None:
    torch = pytest.importorskip("torch")
    from mfif.models.blocks import ReflectBorderConv2d, reflect_borders_only

    torch.manual_seed(kernel + dilation)
    conv = torch.nn.Conv2d(
        8, 12, kernel, padding=dilation * (kernel // 2), dilation=dilation, groups=groups,
        stride=stride, padding_mode="reflect",
    )  # fmt: skip
    x = torch.rand(2, 8, *size)
    wrapped = reflect_borders_only(torch.nn.Sequential(conv))
    assert isinstance(wrapped[0], ReflectBorderConv2d)
    with torch.no_grad():
        torch.testing.assert_close(wrapped(x), conv(x), atol=1e-5, rtol=1e-5)
        channels_last = x.contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(wrapped(channels_last), conv(x), atol=1e-5, rtol=1e-5)
    # Large maps gather their border's windows; small ones, wide or dilated kernels pad.
    gathers = wrapped[0]._border_windows(2, *size, x.device) is not None
    assert gathers == (min(size) > 90 and kernel * dilation < 10)


@pytest.mark.parametrize("size", [(20, 26), (17, 23), (1, 5), (3, 2)])
@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16"])
def test_fast_max_pool_is_pytorchs_ceil_mode_pool(size: tuple[int, int], dtype_name: str) -> None:
    torch = pytest.importorskip("torch")
    from mfif.models.blocks import max_pool_2x2

    torch.manual_seed(size[0])
    dtype = getattr(torch, dtype_name)
    x = torch.randn(2, 6, *size).to(dtype).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        fast = max_pool_2x2(x)
    expected = torch.nn.functional.max_pool2d(x, 2, ceil_mode=True)
    assert fast.dtype == dtype and fast.shape == expected.shape
    assert torch.equal(fast, expected)
    # In training PyTorch's own pooling (and its gradient) is used.
    trained = x.float().requires_grad_()
    max_pool_2x2(trained).sum().backward()
    assert trained.grad is not None and float(trained.grad.sum()) == fast.numel()
