"""MSA-Siamese as a fusion method: the network's decision map, binarised (eq. (8)), small
regions flipped (eq. (9)), the sources blended by it per colour channel (eq. (10)); tiled so
memory stays bounded on large images."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator

import cv2
import numpy as np

from ..color import luminance
from ..decision import hard_decision
from ..frames import FrameSource
from ..fusion import Fusion, WeightsCallback, WholeStackFuser, blend, blend_frames
from ..options import Option
from ..stack import Stack
from .network import PRECISION_OPTION, NetworkFuser
from .registry import register

__all__ = ["MSASiameseFuser"]

_PAIRS_PER_BATCH = 8  # decoder passes batched together on a tile
_ENCODED_TOGETHER = 4  # sources encoded in one batch by the running contest (memory: 4, not K)


@register
class MSASiameseFuser(NetworkFuser, WholeStackFuser):
    """MSA-Siamese (Zhai et al.): Siamese decision-map network with multi-scale dilated
    attention.

    A pair (A, C) is decided both ways, d(A, C) and d(C, A), and the map is their symmetric
    mean ½(d(A, C) + 1 - d(C, A)): the network sees its inputs in order, and the two orders
    disagree most where the decision is uncertain.

    Parameters
    ----------
    weights : path-like, optional
        Weights written by ``mfif train msa-siamese --export``; default: the shipped weights.
    threshold : float
        Binarisation threshold of eq. (8) for a pair: A where the map exceeds it (Table 8:
        0.5). With more than two sources the winner is decided by ``many`` and the
        threshold is not used.
    min_region : float
        Eq. (9): connected regions smaller than this fraction of the image are flipped to
        their surroundings. Default 0 (every region kept): on the validation split the
        shipped weights lose 1.4 dB with the paper's 0.01 and 0.1-0.5 dB with 0.001, on
        pairs and on 3- and 4-source stacks (README, "MSA-Siamese").
    radius : int
        0 (default): eq. (10)'s hard blend of the binary map, as the paper fuses. Above 0:
        the binary map is guided-filtered along the image's edges with this radius first
        (as ``guided-decision`` and ``udpnet`` do), which softens the seam where the map
        cuts through a blurred transition.
    many : {"running", "round-robin", "fold"}
        More than two sources. "running" (default): a running contest in feature space;
        each source is decided (both ways) against the best features so far and replaces
        them where it wins: the encoder runs once per source, the decoder 2(K - 1) times,
        so the cost grows linearly with K. "round-robin": every pair is decided, a source's
        score is its mean win probability against the others, the best score wins: the
        decoder runs K(K - 1) times, independent of the order of the sources, 0.01-0.2 dB
        better on 3- and 4-source ground truth (README). "fold": ((S1, S2), S3), ...: the
        fused image meets the next source, K - 1 pair decisions, re-encoded each time.
    decide_on : {"luminance", "colour"}
        What the network sees of each source: its luminance in all three channels
        ("luminance", default), or its RGB image ("colour", as the paper feeds it); the blend
        uses the colour images either way. In colour, the shipped weights took a real
        stack's colour fringes for focus (`josephlewis__leaf`: a blurred frame on 6 % of the
        textured blocks, 0 % on luminance); on ground truth the two are within 0.04 dB
        (README).
    max_side : int
        Longest image side, in pixels, the network decides at (default 1024, about the size
        of its training images, 321-854 px; 0: always at full resolution). A larger stack
        is decided once on a copy downscaled to this side (``radius`` scaled with it), the
        decision is enlarged back (hard: each pixel to the source of the largest enlarged
        weight) and the frames are blended at full size; memory and disk alike, no blocks.
        At full resolution the network takes a frame blurred far beyond its training (a
        3 MP camera's far frames) for the sharpest in the middle of flat areas and leaves
        blotches with hard edges (`petteri__pcb`, `cmcguinness__ring`); decided at this
        size it does not, and a 1.7 MP stack is decided twice as fast (README).
        Ground-truth sets, all smaller, are unchanged.
    tile : int
        Largest tile side of the network's inference.
    device : {"cpu", "cuda"}, optional
        Default CUDA when available.
    precision : {"auto", "float32", "bfloat16"}, optional
        Default "auto": bfloat16 on a CPU with native bfloat16 (about 1.4 times faster;
        within 0.01 dB on held-out ground truth, README), else float32.
    """

    name = "msa-siamese"
    summary = "MSA-Siamese (Zhai et al.): Siamese decision-map network, multi-scale attention"
    produces_weights = True
    pretrained = "msa_siamese.cpu-realistic"
    network = "MSA-Siamese"
    default_precision = "auto"
    options = {
        "weights": Option("path", optional=True),
        "threshold": Option("float", low=0, high=1, low_open=True, high_open=True),
        "min_region": Option("float", low=0, high=1, high_open=True),
        "radius": Option("int", low=0, high=1000),
        "many": Option("str", choices=("round-robin", "running", "fold")),
        "decide_on": Option("str", choices=("luminance", "colour")),
        "max_side": Option("int", low=0, high=1_000_000),
        "tile": Option("int", low=32, high=4096),
        "device": Option("str", choices=("cpu", "cuda"), optional=True),
        "precision": PRECISION_OPTION,
    }

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        threshold: float = 0.5,
        min_region: float = 0.0,
        radius: int = 0,
        many: str = "running",
        decide_on: str = "luminance",
        max_side: int = 1024,
        tile: int = 256,
        device: str | None = None,
        precision: str | None = None,
        *,
        model=None,
    ) -> None:
        super().__init__(weights, device, model=model, precision=precision)
        self.threshold = threshold
        self.min_region = min_region
        self.radius = radius
        self.many = many
        self.decide_on = decide_on
        self.max_side = max_side
        self.tile = tile

    @classmethod
    def build_model(cls, state: dict):
        from ..models.msa_siamese import MSASiamese

        return MSASiamese.from_state(state)

    def scores(self, images: np.ndarray) -> np.ndarray:
        """Each source's mean probability of being sharper than each other source.

        Parameters
        ----------
        images : ndarray of shape (K, H, W, 3), float32 in [0, 1]

        Returns
        -------
        ndarray of shape (K, H, W), float32 in [0, 1]; per pixel they sum to K / 2 (each
        pair's two win probabilities sum to 1), so for a pair the two scores sum to 1
        """
        count, height, width, _ = images.shape
        planes = images.transpose(0, 3, 1, 2).reshape(count * 3, height, width)
        return self.run_tiled(self._tile_scores, planes, tile=self.tile)

    def _tile_scores(self, tensor):
        import torch

        _, channels, height, width = tensor.shape
        count = channels // 3
        sources = tensor.reshape(count, 3, height, width)
        if self.many == "running" and count > 2:
            return self._running_best(sources)
        first = self.model.encode(sources, 0)
        second = self.model.encode(sources, 1) if len(self.model.encoders) > 1 else first
        ordered = [(i, j) for i in range(count) for j in range(count) if i != j]
        probability = {}
        for start in range(0, len(ordered), _PAIRS_PER_BATCH):
            batch = ordered[start : start + _PAIRS_PER_BATCH]
            a = [i for i, _ in batch]
            c = [j for _, j in batch]
            logits = self.model.decide(tuple(f[a] for f in first), tuple(f[c] for f in second))
            for pair, plane in zip(batch, torch.sigmoid(logits)[:, 0], strict=True):
                probability[pair] = plane
        wins = torch.zeros(count, height, width, device=tensor.device)
        for i in range(count):
            for j in range(i + 1, count):
                win = 0.5 * (probability[i, j] + 1.0 - probability[j, i])
                wins[i] += win
                wins[j] += 1.0 - win
        return (wins / (count - 1))[None]

    def _running_best(self, sources):
        """One-hot scores (1, K, h, w) of the source that wins a running contest: each source
        decided (both ways) against the best features so far, which it replaces where it wins;
        2(K - 1) decoder passes. Sources are encoded a few at a time, so memory does not grow
        with their number."""
        import torch
        from torch.nn import functional as F

        chunk: dict = {}  # features of the sources encoded together (batches run faster)

        def encoded(k: int) -> tuple[tuple, tuple]:
            if k not in chunk:
                chunk.clear()
                batch = sources[k : k + _ENCODED_TOGETHER]
                first = self.model.encode(batch, 0)
                second = self.model.encode(batch, 1) if len(self.model.encoders) > 1 else first
                for i in range(len(batch)):
                    chunk[k + i] = (tuple(f[i : i + 1] for f in first),
                                    tuple(f[i : i + 1] for f in second))  # fmt: skip
            return chunk[k]

        count = len(sources)
        best_first, best_second = encoded(0)
        index = torch.zeros(sources.shape[-2:], device=sources.device)
        for k in range(1, count):
            own_first, own_second = encoded(k)
            logits = self.model.decide(
                tuple(torch.cat([o, b]) for o, b in zip(own_first, best_first, strict=True)),
                tuple(torch.cat([b, o]) for b, o in zip(best_second, own_second, strict=True)),
            )
            probability = torch.sigmoid(logits)[:, 0]
            win = 0.5 * (probability[0] + 1.0 - probability[1])
            take = win > 0.5
            index[take] = k
            half = F.adaptive_avg_pool2d(win[None, None], own_first[1].shape[-2:])[0, 0] > 0.5
            best_first = (torch.where(take, own_first[0], best_first[0]),
                          torch.where(half, own_first[1], best_first[1]))  # fmt: skip
            best_second = (torch.where(take, own_second[0], best_second[0]),
                           torch.where(half, own_second[1], best_second[1]))  # fmt: skip
        scores = F.one_hot(index.long(), count).permute(2, 0, 1).float()
        return scores[None]

    def _decide(self, images: np.ndarray, luma: np.ndarray) -> np.ndarray:
        """Weights (K, H, W) of eqs. (8)-(9) from all K sources at once."""
        scores = self.scores(images)
        if len(images) == 2:  # eq. (8): A where its map exceeds the threshold
            scores = np.stack([scores[0] - self.threshold, np.zeros_like(scores[0])])
        return hard_decision(scores, luma, min_region=self.min_region, radius=self.radius, eps=1e-3)

    def for_block(self, size: tuple[int, int], block: tuple[int, int]) -> MSASiameseFuser:
        """`NetworkFuser.for_block`: ``min_region`` stays a share of the image's area."""
        fuser = copy.copy(self)
        fuser.min_region = min(0.5, self.min_region * size[0] * size[1] / (block[0] * block[1]))
        return fuser

    def fuse_frames(
        self,
        frames: FrameSource,
        *,
        keep_weights: bool = True,
        on_weights: WeightsCallback | None = None,
    ) -> Fusion:
        """`NetworkFuser.fuse_frames`; an image larger than ``max_side`` is decided on a
        downscaled copy of the stack (each frame read once for it) and blended at full size
        (each frame read again, in memory or from disk alike)."""
        count, height, width, _ = frames.shape
        scale = self.max_side / max(height, width) if self.max_side else 1.0
        if scale >= 1:
            return super().fuse_frames(frames, keep_weights=keep_weights, on_weights=on_weights)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = []
        for k in range(count):
            if k + 1 < count:
                frames.prefetch(k + 1)
            image = cv2.resize(frames[k], size, interpolation=cv2.INTER_AREA)
            small.append(image.reshape(size[1], size[0], -1))
        decider = copy.copy(self)  # the radius, in pixels of the full image, at the decided size
        decider.radius = max(1, round(self.radius * scale)) if self.radius else 0
        decided = decider.decide(Stack(np.stack(small)))
        maps = _enlarged(decided, (height, width), hard=self.radius == 0)
        return blend_frames(frames, maps, keep_weights=keep_weights, on_weights=on_weights)

    def weights(self, luma: np.ndarray) -> np.ndarray:
        """Weights of a grey stack (N, H, W) in [0, 1]: fed as three equal channels."""
        return self._weights(np.repeat(luma[..., None], 3, axis=-1), luma)

    def _weights(self, images: np.ndarray, luma: np.ndarray) -> np.ndarray:
        if self.many in ("round-robin", "running") or len(images) == 2:
            return self._decide(images, luma)
        weights = self._decide(images[:2], luma[:2])
        for k in range(2, len(images)):
            fused = blend(images[:k], weights)
            fused_luma = (weights * luma[:k]).sum(axis=0)
            pair = self._decide(np.stack([fused, images[k]]), np.stack([fused_luma, luma[k]]))
            weights = np.concatenate([weights * pair[0], pair[1:]])
        return weights

    def decide(self, stack: Stack) -> np.ndarray:
        """Weights (K, H, W) of a stack in memory, float32 in [0, 1], summing to 1 per pixel:
        one-hot, or soft along the image's edges with ``radius``."""
        images = stack.images
        luma = luminance(images)
        if images.shape[-1] == 3 and self.decide_on == "colour":
            seen = images  # as they are: no copy of the stack
        else:
            seen = np.repeat(luma[..., None], 3, axis=-1)
        return self._weights(seen, luma)

    def fuse_stack(self, stack: Stack) -> Fusion:
        weights = self.decide(stack)
        return Fusion(image=blend(stack.images, weights), weights=weights)


def _enlarged(weights: np.ndarray, size: tuple[int, int], *, hard: bool) -> Iterator[np.ndarray]:
    """Each of the weight maps (K, h, w) enlarged to ``size`` (H, W) in turn, bilinearly; with
    ``hard``, one-hot maps of the largest enlarged weight instead (the winners are found
    first, one map at a time, so memory holds two planes, not K)."""
    height, width = size

    def enlarge(plane: np.ndarray) -> np.ndarray:
        return cv2.resize(plane, (width, height), interpolation=cv2.INTER_LINEAR)

    if not hard:
        for plane in weights:
            yield enlarge(plane)
        return
    winner = np.zeros((height, width), np.uint16)
    best = enlarge(weights[0])
    for k in range(1, len(weights)):
        plane = enlarge(weights[k])
        wins = plane > best
        winner[wins] = k
        np.maximum(best, plane, out=best)
    del best
    for k in range(len(weights)):
        yield (winner == k).astype(np.float32)
