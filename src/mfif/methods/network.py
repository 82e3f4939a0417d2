"""What every network Fuser shares: weights loading (sha256-checked against the manifest,
``weights_only``), device choice, channels-last, tiled inference in ``inference_mode`` with a
progress bar over the tiles.

A network method is its architecture (`mfif.models`), the steps specific to its Fuser and its
recipe (`mfif.training`); this module is the rest.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from ..devices import select_device
from ..errors import MfifError
from ..frames import ArrayFrames, FrameSource
from ..fusion import Fuser, Fusion, WeightsCallback
from ..options import Option
from ..stack import Stack
from ..tiling import run_tiled

__all__ = ["NetworkFuser", "load_weights", "PRECISION_OPTION", "resolve_precision"]

PRECISION_OPTION = Option("str", choices=("auto", "float32", "bfloat16"), optional=True)


def block_bytes() -> int:
    """The float32 bytes of frames a network fuses at once: ``$MFIF_NETWORK_BLOCK`` (bytes),
    default 256 MiB (a method holds a few times that); a larger stack is fused in blocks
    (`NetworkFuser.fuse_frames`)."""
    text = os.environ.get("MFIF_NETWORK_BLOCK", "")
    try:
        return int(text) if text else 256 * 2**20
    except ValueError:
        raise MfifError(f"MFIF_NETWORK_BLOCK must be a number of bytes; got {text!r}.") from None


def resolve_precision(precision: str, device) -> str:
    """ "float32" or "bfloat16": what ``precision`` ("auto", "float32", "bfloat16") computes
    in on ``device``. "auto" is bfloat16 on a CPU with native bfloat16 dot products
    (AVX512-BF16 or AMX), where oneDNN runs convolutions about 1.5 times faster, else float32.
    """
    if precision != "auto":
        return precision
    import torch

    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return "bfloat16" if str(device).startswith("cpu") and native else "float32"


def _convolutions_in_bfloat16(model) -> None:
    """Store ``model``'s convolution and linear weights in bfloat16, in place, for inference
    under bfloat16 autocast: autocast would otherwise round each float32 weight to bfloat16 at
    every call (the same values; on CPU tens of thousands of small copies per stack)."""
    import torch
    from torch import nn

    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            module.to(torch.bfloat16)


def load_weights(path: str | os.PathLike, build: Callable[[dict], object], network: str):
    """Load a weights file safely (tensors and plain data only) and build the model from it.

    Parameters
    ----------
    path : path-like
    build : callable
        ``state -> nn.Module``; raises if the state does not fit the architecture.
    network : str
        The network's name, for messages.

    Raises
    ------
    MfifError
        One sentence for a missing, unreadable, foreign or unfitting file.
    """
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        return build(state)
    except Exception as error:  # noqa: BLE001 - any unreadable or unfitting file
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
        if isinstance(error, FileNotFoundError):
            reason = "the file does not exist"
        elif isinstance(error, KeyError):
            reason = f"it holds no {network} model (no {error} entry)"
        elif isinstance(error, IsADirectoryError):
            reason = "it is a folder"
        elif reason.startswith("Weights only load failed"):
            reason = "it is not a PyTorch weights file"
        raise MfifError(
            f"Cannot load {network} weights from {path}: {reason.rstrip('.')}."
        ) from None


def _names_shipped_weights(weights: str | os.PathLike, own: str) -> bool:
    """Whether ``weights`` is a manifest name rather than a file (a file of that name wins).

    Raises
    ------
    MfifError
        ``weights`` is no file but names another network's shipped weights, or looks like a
        name of the architecture of ``own`` (the method's shipped weights) that is not shipped.
    """
    from ..weights import pretrained_config, pretrained_names

    if not isinstance(weights, str) or os.path.exists(weights):
        return False
    architecture = own.partition(".")[0]
    known = pretrained_config(weights) is not None
    if known and weights.partition(".")[0] == architecture:
        return True
    shipped = ", ".join(pretrained_names(architecture)) or "none"  # read for messages only
    if known:
        raise MfifError(
            f"The shipped weights {weights!r} are another network's; this method's: {shipped}."
        )
    if weights.startswith(architecture + ".") and os.sep not in weights:
        raise MfifError(
            f"No file {weights!r} and no shipped weights of that name (shipped: {shipped})."
        )
    return False


class NetworkFuser(Fuser):
    """Base of the network methods.

    Subclasses set ``pretrained`` (the manifest name ``architecture.tag`` of their shipped
    weights) and ``network`` (the network's name in messages), and implement `build_model`.

    Parameters
    ----------
    weights : path-like or str, optional
        Weights file, or the manifest name (``architecture.tag``) of shipped weights, checked
        against the manifest; default: the method's own shipped weights.
    device : {"cpu", "cuda"}, optional
        Default CUDA when available.
    model : torch.nn.Module, optional
        An in-memory model instead of a file (validation during training); not an option of
        `mfif.create`.
    precision : {"auto", "float32", "bfloat16"}, optional
        What the network computes in (`resolve_precision`); default the method's
        ``default_precision``. Outputs are float32 either way.
    """

    pretrained: ClassVar[str]
    network: ClassVar[str]
    # Networks see every source at once, but only near each pixel: a stack too large to hold
    # is fused in blocks (`fuse_frames`), each read from its storage with a margin.
    needs_all_frames = False
    rereads_frames = True  # every frame, once per block
    # Context a block reads beyond the pixels it fuses (beyond each network's reach).
    block_margin: ClassVar[int] = 64
    # Methods whose results bfloat16 leaves within 0.05 dB on ground truth default to "auto".
    default_precision: ClassVar[str] = "float32"

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        device: str | None = None,
        *,
        model=None,
        precision: str | None = None,
    ) -> None:
        import torch

        from ..weights import weights_file

        self.device = select_device(device, method=self.name)
        self.precision = precision or self.default_precision
        self._bfloat16 = resolve_precision(self.precision, self.device) == "bfloat16"
        self.weights_sha256 = None
        if model is None:
            if weights is None or _names_shipped_weights(weights, self.pretrained):
                name = self.pretrained if weights is None else str(weights)
                weights, self.weights_sha256 = weights_file(name)
            model = load_weights(weights, self.build_model, self.network).eval()
            self.parameter_count = self.count_parameters(model)  # as trained
            if hasattr(model, "for_inference"):  # the same maps, computed faster
                model = model.for_inference()
            # channels-last lets oneDNN skip layout reorders: about 30 % faster on CPU.
            model = model.to(self.device, memory_format=torch.channels_last)
            if self._bfloat16:
                _convolutions_in_bfloat16(model)
        else:
            # A model in training keeps its layout: a validation that changed it would change
            # the arithmetic of later steps, and resumption would no longer be bit-exact.
            model = model.to(self.device)
            self.parameter_count = self.count_parameters(model)
        self.model = model.eval()

    @classmethod
    def from_model(cls, model, **options) -> NetworkFuser:
        """This method around an in-memory model (as training validates it)."""
        return cls(model=model, **options)

    @classmethod
    def build_model(cls, state: dict):
        """The model that ``state`` (a loaded weights file) describes, with its weights."""
        raise NotImplementedError

    @staticmethod
    def count_parameters(model) -> int:
        """Parameters used at inference (subclasses leave out training-only parts)."""
        return sum(p.numel() for p in model.parameters())

    def run_tiled(
        self,
        forward: Callable,
        array: np.ndarray,
        *,
        tile: int,
        overlap: int | None = None,
    ) -> np.ndarray:
        """Apply ``forward`` (a (1, C, h, w) tensor -> a (1, C', h, w) tensor) to overlapping
        tiles of ``array`` (C, H, W) and blend them; returns (C', H, W) float32.

        On a CPU the tiles run side by side, one per core, each on one core: a tile's layers
        are too small to keep several cores busy (their threads wait on each other at every
        layer), so MSA-Siamese, UFA-Fuse and UDPNet fuse the 4-frame ring 15-35 % faster in
        process, the same maps up to bfloat16 rounding (oneDNN's blocking depends on its
        threads)."""
        import torch

        device_type = torch.device(self.device).type
        threads = torch.get_num_threads() if device_type == "cpu" else 1
        caller = threading.current_thread()  # a lone tile runs here, on every core
        set_in_workers = []

        def on_tile(part: np.ndarray) -> np.ndarray:
            if threading.current_thread() is not caller and torch.get_num_threads() > 1:
                torch.set_num_threads(1)  # this worker's own layers, one core each (once)
                set_in_workers.append(True)
            with (
                torch.inference_mode(),
                torch.autocast(device_type, torch.bfloat16, enabled=self._bfloat16),
            ):
                tensor = torch.from_numpy(np.ascontiguousarray(part, np.float32))[None]
                tensor = tensor.to(self.device).contiguous(memory_format=torch.channels_last)
                return forward(tensor)[0].float().cpu().numpy()

        try:
            return run_tiled(
                on_tile, array, tile=tile, overlap=overlap, description=self.name, threads=threads
            )
        finally:
            # The setting is also the process's default for new threads: the caller's again.
            # (Each setting clears oneDNN's cache of prepared convolutions: only when needed.)
            if set_in_workers:
                torch.set_num_threads(threads)

    def fuse_frames(
        self,
        frames: FrameSource,
        *,
        keep_weights: bool = True,
        on_weights: WeightsCallback | None = None,
    ) -> Fusion:
        """The method's fusion of the stack held in memory when its float32 frames fit in
        `block_bytes`; otherwise in square blocks, each fused from every frame's region
        around it (``block_margin`` pixels more on each side) and its margin dropped, so
        memory is bounded by the block, not the stack. Results then differ from the whole
        stack's only where a method decides beyond its reach (``min_region``'s small areas
        are judged within a block, by the whole image's area); weights, when asked for,
        are each block's winning source (the depth map's)."""
        count, height, width, channels = frames.shape
        side = self._block_side(count, channels)
        if side >= max(height, width):
            return super().fuse_frames(frames, keep_weights=keep_weights, on_weights=on_weights)
        image = np.empty((height, width, channels), np.float32)
        winners = np.zeros((height, width), np.uint16) if self.produces_weights else None
        margin = self.block_margin
        blocks = [(top, left) for top in range(0, height, side) for left in range(0, width, side)]
        from ..progress import progress_bar

        for top, left in progress_bar(blocks, label=f"{self.name} blocks", unit="block"):
            rows = slice(max(0, top - margin), min(height, top + side + margin))
            columns = slice(max(0, left - margin), min(width, left + side + margin))
            images = np.empty((count, rows.stop - rows.start, columns.stop - columns.start,
                               channels), np.float32)  # fmt: skip
            for k in range(count):
                images[k] = frames.region(k, rows, columns)
            part = self.fuse_block(images, frames, (height, width))
            inner = (slice(top - rows.start, top - rows.start + side),
                     slice(left - columns.start, left - columns.start + side))  # fmt: skip
            core = image[top : top + side, left : left + side]
            core[...] = part.image[inner]
            if winners is not None and part.weights is not None:
                winners[top : top + side, left : left + side] = part.weights.argmax(0)[inner]
        if winners is None:
            return Fusion(image=image)
        if on_weights is not None:
            for k in range(count):
                on_weights(k, (winners == k).astype(np.float32))
        weights = None
        if keep_weights:
            weights = np.stack([(winners == k).astype(np.float32) for k in range(count)])
        return Fusion(image=image, weights=weights)

    def fuse_block(self, images: np.ndarray, frames: FrameSource, size: tuple[int, int]) -> Fusion:
        """The in-memory fusion of one block (K, h, w, C) of ``frames`` (whose frames are
        ``size``, (H, W)); methods whose options depend on the image area adapt them here."""
        block = Stack(images, frames.bit_depth, frames.names)
        fuser = self.for_block(size, images.shape[1:3])
        return super(NetworkFuser, fuser).fuse_frames(ArrayFrames(block))

    def for_block(self, size: tuple[int, int], block: tuple[int, int]) -> NetworkFuser:
        """This fuser for a block ``block`` (h, w) of an image ``size`` (H, W): a copy whose
        options measured on the image (areas, sides) are restated for the block; itself when
        it has none."""
        return self

    @staticmethod
    def _block_side(count: int, channels: int) -> int:
        """The side of the square blocks whose frames (float32) fit in `block_bytes` (at least
        128 pixels, however many the frames: narrower blocks would be mostly margin)."""
        return max(128, int(np.sqrt(block_bytes() / (count * max(channels, 3) * 4))))

    def __repr__(self) -> str:
        options = ", ".join(
            f"{k}={v!r}" for k, v in vars(self).items() if k != "model" and not k.startswith("_")
        )
        return f"{type(self).__name__}({options})"
