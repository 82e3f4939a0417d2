"""DFP (deep fusion prior) as a fusion method: DoubleReblur's decision map, refined by a SKIPnet
fitted to it (decision embedding), then a second SKIPnet fitted to the stack whose output,
Lanczos-2-downsampled by ``scale``, agrees with each source where it is in focus. Nothing is
learned in advance; every stack is its own optimisation.

The output is ``scale`` times larger than the sources.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Iterator

import numpy as np

from ..color import luminance
from ..decision import FILL_MODES, one_hot, segment_decision
from ..devices import select_device
from ..focus import double_reblur
from ..fusion import Fusion, WholeStackFuser
from ..options import Option
from ..resample import ENLARGEMENTS, check_degradation
from ..stack import Stack
from ..tiling import run_tiled
from .registry import register

__all__ = ["DFPFuser"]

_logger = logging.getLogger(__name__)


@register
class DFPFuser(WholeStackFuser):
    """DFP (Deep Fusion Prior): dataset-free multi-focus fusion and super-resolution.

    1. DoubleReblur (`mfif.focus.double_reblur`, eqs. (11)-(16)) scores the sources, and the
       scores are segmented into a decision map (`mfif.decision.segment_decision`,
       eqs. (17)-(19)) with the threshold chosen from the scores themselves.
    2. Decision embedding (Algorithm 2, eq. (20)): a SKIPnet is fitted to reproduce the map
       through a hard (straight-through) binarisation, which drops the specks and ragged edges
       a network cannot represent cheaply.
    3. Fusion (Algorithm 1, eqs. (21)-(24)): a SKIPnet generates the image at ``scale`` times
       the input size; its downsampling (``degradation``: the paper's Lanczos-2) must match
       each source where the map chooses it (L_con), its Laplacian the sources' strongest one
       (L_jgrad), and its total variation stays small (L_grad).

    Both fits stop on a plateau of their own loss, never on a ground truth. Large images are
    fused in overlapping tiles (the decision map is computed on the whole image first).
    ``Fusion.weights`` is the embedded decision map at the output size.

    Parameters
    ----------
    scale : int
        Output size / input size, s of Algorithm 1 (1, 2 or 4 in the paper).
    embedding : bool
        Run the decision embedding (False: DoubleReblur's map as it is; an ablation).
    joint_gradient : bool
        Include L_jgrad (False: an ablation).
    input : {"average", "noise"}
        The networks' fixed input: the average of the (bicubic-upsampled) sources, or noise.
    residual : bool
        The fusion network refines the enlarged decision fusion (``base``; its logits are added
        to that image's), instead of generating the image from nothing as in the paper; it
        converges in fewer iterations to the same or a better result (README, "DFP").
    iterations, embedding_iterations : int
        Most iterations of the fusion fit (Algorithm 1: 1000) and of the embedding fit
        (Algorithm 2: 500); both usually stop earlier on a plateau.
    tolerance : float
        Plateau rule: stop when the smoothed loss falls by less than this fraction over 50
        iterations.
    learning_rate : float
        Adam's, for both fits.
    width, depth : int
        SKIPnet's channels at full resolution (doubled at each scale, at most 64) and its
        number of scales D.
    kernel : {3, 5}
        n_d; 5 is built as two 3x3 convolutions.
    gaussian_size : int
        k_g, DoubleReblur's Gaussian (odd).
    threshold : float, optional
        t of eq. (17) in DoubleReblur's intensity units; default chosen from the scores.
    dilate, erode : int
        k_d, k_e of eq. (18).
    fill : {"regions", "largest", "none"}
        Eq. (19) (`mfif.decision.segment_decision`).
    min_region : float
        For ``fill="regions"``: regions smaller than this fraction of the image go to their
        surroundings.
    base : {"back-projection", "learned", "bicubic"}, optional
        The residual form's starting image: the decision fusion enlarged by Lanczos and
        back-projected onto the degradation (`mfif.resample.back_projected_upsample`), the
        same from the learned ×2 start (`mfif.learned_start`, ×2 only; default at ×2: README,
        "DFP", "The learned start"), or bicubically as before (the back-projected start is
        0.3 dB better at ×2 and the fit then stops sooner). Default "learned" at ×2, else
        "back-projection"; "back-projection" keeps DFP free of any learned data.
    degradation : str
        How the sources were made from the scene at ``scale`` times their size, the model both
        the start and L_con invert (`mfif.resample.DEGRADATIONS`): "lanczos2" (the paper's),
        "bicubic" (MATLAB's and Pillow's antialiased resize), "box" (pixel binning, OpenCV's
        INTER_AREA) or "gaussian:SIGMA" (a lens blur of SIGMA full-resolution pixels). The
        wrong model costs the gain of ×s over interpolation (README, "DFP").
    unshuffle : int, optional
        The fusion SKIPnet works at 1/``unshuffle`` of the output's size on ``unshuffle``²
        times the channels (`mfif.models.dfp.SkipNet`); default ``scale``, i.e. at the
        sources' resolution (1 is the paper's network at the output's size, 3x slower at ×2).
    embedding_unshuffle : int, optional
        The same for the decision-embedding SKIPnet, relative to the sources' size. Default 1
        at ×1, where the map's pixel accuracy is the output's (2 costs 0.3-0.5 dB there), and
        2 above, where it measured the same and halves the embedding's time.
    tile : int
        Largest tile side at input resolution; larger inputs are fused tile by tile.
    seed : int
        Seeds the networks' initial weights and noise: the same stack and seed give the same
        image (on the same device and thread count).
    device : {"cpu", "cuda"}, optional
        Default CUDA when available.
    """

    name = "dfp"
    summary = "DFP (Deep Fusion Prior): per-stack deep prior on DoubleReblur's map, fusion + ×s SR"
    slow = True
    super_resolves = True
    produces_weights = True
    parameter_count = 0  # nothing learned in advance
    options = {
        "scale": Option("int", low=1, high=8),
        "embedding": Option("bool"),
        "joint_gradient": Option("bool"),
        "input": Option("str", choices=("average", "noise")),
        "residual": Option("bool"),
        "iterations": Option("int", low=1, high=100_000),
        "embedding_iterations": Option("int", low=1, high=100_000),
        "tolerance": Option("float", low=0, high=1),
        "learning_rate": Option("float", low=0, high=1, low_open=True),
        "width": Option("int", low=1, high=256),
        "depth": Option("int", low=1, high=8),
        "kernel": Option("int", low=3, high=5, allowed="3 or 5"),
        "gaussian_size": Option("int", low=1, high=101),
        "threshold": Option("float", low=0, high=1, optional=True),
        "dilate": Option("int", low=1, high=101),
        "erode": Option("int", low=1, high=101),
        "fill": Option("str", choices=FILL_MODES),
        "min_region": Option("float", low=0, high=1, high_open=True),
        "base": Option("str", choices=ENLARGEMENTS, optional=True),
        "degradation": Option("text", allowed="lanczos2, bicubic, box or gaussian:SIGMA"),
        "unshuffle": Option("int", low=1, high=8, optional=True),
        "embedding_unshuffle": Option("int", low=1, high=8, optional=True),
        "tile": Option("int", low=64, high=1_000_000),
        "seed": Option("int", low=0, high=2**31 - 1),
        "device": Option("str", choices=("cpu", "cuda"), optional=True),
    }

    def __init__(
        self,
        scale: int = 1,
        embedding: bool = True,
        joint_gradient: bool = True,
        input: str = "average",  # noqa: A002 - the paper's word for the network's input
        residual: bool = True,
        iterations: int = 1000,
        embedding_iterations: int = 500,
        tolerance: float = 0.02,
        learning_rate: float = 0.01,
        width: int = 4,
        depth: int = 5,
        kernel: int = 3,
        gaussian_size: int = 5,
        threshold: float | None = None,
        dilate: int = 3,
        erode: int = 3,
        fill: str = "regions",
        min_region: float = 0.002,
        base: str | None = None,
        degradation: str = "lanczos2",
        unshuffle: int | None = None,
        embedding_unshuffle: int | None = None,
        tile: int = 512,
        seed: int = 0,
        device: str | None = None,
    ) -> None:
        from ..errors import OptionError

        if kernel not in (3, 5):
            raise OptionError(f"The option kernel of method 'dfp' must be 3 or 5; got {kernel}.")
        if gaussian_size % 2 == 0:
            raise OptionError(
                f"The option gaussian_size of method 'dfp' must be odd; got {gaussian_size}."
            )
        self.scale = scale
        self.embedding = embedding
        self.joint_gradient = joint_gradient
        self.input = input
        self.residual = residual
        self.iterations = iterations
        self.embedding_iterations = embedding_iterations
        self.tolerance = tolerance
        self.learning_rate = learning_rate
        self.width = width
        self.depth = depth
        self.kernel = kernel
        self.gaussian_size = gaussian_size
        self.threshold = threshold
        self.dilate = dilate
        self.erode = erode
        self.fill = fill
        self.min_region = min_region
        if base == "learned" and scale not in (1, 2):
            raise OptionError(f"dfp's base 'learned' enlarges by 2; the scale is {scale}.")
        self.base = base or ("learned" if scale == 2 else "back-projection")
        try:
            self.degradation = check_degradation(degradation)
        except ValueError as error:
            raise OptionError(f"The option degradation of method 'dfp': {error}.") from None
        self.unshuffle = scale if unshuffle is None else unshuffle
        if embedding_unshuffle is None:  # measured: README, "DFP"
            embedding_unshuffle = 1 if scale == 1 else 2
        self.embedding_unshuffle = embedding_unshuffle
        self.tile = tile
        self.seed = seed
        self.device = select_device(device, method=self.name)

    @property
    def widths(self) -> tuple[int, ...]:
        """SKIPnet's channels per scale, finest first."""
        return tuple(min(64, self.width * 2**level) for level in range(self.depth))

    def fuse_stack(self, stack: Stack) -> Fusion:
        images = stack.images  # (N, H, W, C)
        luma = luminance(images)
        scores = double_reblur(luma, gaussian_size=self.gaussian_size)
        labels = segment_decision(
            scores,
            threshold=self.threshold,
            dilate=self.dilate,
            erode=self.erode,
            fill=self.fill,
            min_region=self.min_region,
        )
        count, channels = images.shape[0], images.shape[-1]
        # Everything a tile needs, as channels of one (C', H, W) array for `run_tiled`.
        planes = np.concatenate(
            [
                images.transpose(0, 3, 1, 2).reshape(count * channels, *luma.shape[1:]),
                luma,
                one_hot(labels, count),
                _deficit(scores),
            ]
        )
        tiles = itertools.count()  # each tile's index seeds its draws
        result = run_tiled(
            lambda part: self._fuse_tile(part, count, channels, next(tiles)),
            planes,
            tile=self.tile,
            description=self.name,
            scale=self.scale,
        )
        image = np.clip(result[:channels].transpose(1, 2, 0), 0.0, 1.0)
        weights = result[channels:]
        weights /= np.maximum(weights.sum(axis=0, keepdims=True), 1e-12)
        return Fusion(image=np.ascontiguousarray(image), weights=weights)

    def _fuse_tile(self, planes: np.ndarray, count: int, channels: int, index: int) -> np.ndarray:
        """One tile: (N·C + 3·N, h, w) planes -> (C + N, s·h, s·w) image and map."""
        import torch
        from torch.nn import functional as F

        from .. import deep_prior as dfp

        tensor = torch.from_numpy(np.ascontiguousarray(planes)).to(self.device)
        height, width = planes.shape[1:]
        sources = tensor[: count * channels].reshape(count, channels, height, width)
        luma, handcrafted, deficit = tensor[count * channels :].split(count)
        generator = torch.Generator().manual_seed(self.seed + index)
        masks = handcrafted[None]
        if self.embedding:
            with _progress_bar("DFP decision embedding", self.embedding_iterations) as progress:
                masks, _ = dfp.embed_decision(
                    luma[:, None],
                    masks,
                    deficit[None],
                    widths=self.widths,
                    kernel=self.kernel,
                    input_kind=self.input,
                    rule=dfp.PlateauRule(
                        tolerance=self.tolerance,
                        minimum=min(100, self.embedding_iterations),
                        maximum=self.embedding_iterations,
                    ),
                    learning_rate=self.learning_rate,
                    generator=generator,
                    unshuffle=self.embedding_unshuffle,
                    progress=progress,
                )
        with _progress_bar(f"DFP fusion ×{self.scale}", self.iterations) as progress:
            image, _ = dfp.reconstruct(
                sources,
                masks[0][:, None],
                scale=self.scale,
                widths=self.widths,
                kernel=self.kernel,
                input_kind=self.input,
                residual=self.residual,
                joint_gradient=self.joint_gradient,
                rule=dfp.PlateauRule(
                    tolerance=self.tolerance,
                    minimum=min(100, self.iterations),
                    maximum=self.iterations,
                ),
                learning_rate=self.learning_rate,
                generator=generator,
                unshuffle=self.unshuffle,
                base=self.base,
                degradation=self.degradation,
                progress=progress,
            )
        if self.scale > 1:
            masks = F.interpolate(masks, scale_factor=self.scale, mode="bilinear")
        return torch.cat([image, masks], dim=1)[0].cpu().numpy()


def _deficit(scores: np.ndarray) -> np.ndarray:
    """How far each source's score falls short of the best, in units of the typical margin
    between the best and the second best (decision embedding's evidence, `decision_loss`)."""
    shortfall = scores.max(axis=0, keepdims=True) - scores
    ordered = np.sort(scores, axis=0)
    typical = float(np.mean(ordered[-1] - ordered[-2]))
    return (shortfall / max(typical, 1e-12)).astype(np.float32)


@contextlib.contextmanager
def _progress_bar(description: str, total: int) -> Iterator[Callable[[int, float], None]]:
    """A progress callback drawing a tqdm bar with ETA against ``total`` iterations (on a
    terminal only); a fit that stops early on its plateau closes the bar there."""
    from ..progress import progress_bar

    with progress_bar(total=total, label=description, unit="iteration") as bar:

        def update(iteration: int, loss: float) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
            _logger.debug("%s: iteration %d, loss %.6g", description, iteration, loss)

        yield update
