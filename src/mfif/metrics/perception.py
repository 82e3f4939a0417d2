"""Human-perception metrics: Q_CB (Chen & Blum), Q_CV (Chen & Varshney), VIFF (Han et al.).

Ports of metricChenBlum.m and metricChen.m (Z. Liu's imageFusionMetrics) and VIFF_Public.m
(Y. Han, as shipped in MFIF-Metrics). All functions take ``sources`` (two (H, W) float64
arrays of grey levels 0..255) and ``fused`` ((H, W) float64, 0..255).

Colour: these functions see one grey plane; `mfif.metrics.compute` passes luminance Y
(BT.601) of colour images, or each of R, G, B in turn with ``color="mean"``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._common import (
    filter2_same,
    filter2_valid,
    gaussian_kernel_1d,
    normalize_to_levels,
    require_finite,
)

__all__ = ["chen_blum", "chen_varshney", "viff"]


def _frequency_radius(height: int, width: int, row_scale: float, column_scale: float) -> np.ndarray:
    """|(u, v)| on MATLAB's ``freqspace([height, width], 'meshgrid')`` grid, axes scaled."""

    def axis(n: int) -> np.ndarray:
        return (np.arange(n) - np.floor(n / 2.0)) * (2.0 / n)

    u, v = np.meshgrid(column_scale * axis(width), row_scale * axis(height))
    return np.sqrt(u * u + v * v)


def _filter_in_frequency(image: np.ndarray, response: np.ndarray) -> np.ndarray:
    """ifft2(ifftshift(fftshift(fft2(image)) .* response)), complex as in MATLAB."""
    spectrum = np.fft.fftshift(np.fft.fft2(image))
    return np.fft.ifft2(np.fft.ifftshift(spectrum * response))


def _unnormalised_gaussian(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    # gaussian2d in metricChenBlum.m: exp(-(x²+y²)/2σ²)/(2πσ²) on a 31 x 31 grid, not
    # normalised; returned as separable factors.
    offsets = np.arange(-15, 16, dtype=np.float64)
    factor = np.exp(-(offsets**2) / (2.0 * sigma * sigma))
    return factor / (2.0 * np.pi * sigma * sigma), factor


def _complex_filter(image: np.ndarray, kernel: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return filter2_same(image.real, kernel) + 1j * filter2_same(image.imag, kernel)


def chen_blum(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """Q_CB (Chen & Blum): contrast preservation under a contrast-sensitivity filter; higher is
    better, range [0, 1], F = A = B gives 1.

    Y. Chen and R. S. Blum, "A new automated quality assessment algorithm for image fusion",
    Image and Vision Computing 27(10), 2009. DoG contrast-sensitivity function
    (f0, f1, a) = (15.3870, 1.3456, 0.7622) on frequency axes scaled by image size / 30, local
    contrast from Gaussians σ = 2 and 4 (31 x 31), masking k = h = 1, p = 3, q = 2, Z = 1e-4.
    Because the frequency axes are scaled by the image size, the value depends on it.
    """
    images = [normalize_to_levels(s, name=f"source {k + 1}") for k, s in enumerate(sources)]
    images.append(normalize_to_levels(fused, name="fused image"))
    height, width = images[0].shape
    radius = _frequency_radius(height, width, height / 30.0, width / 30.0)
    sensitivity = np.exp(-((radius / 15.3870) ** 2)) - 0.7622 * np.exp(-((radius / 1.3456) ** 2))
    narrow, wide = _unnormalised_gaussian(2.0), _unnormalised_gaussian(4.0)
    masked = []
    for image in images:
        filtered = _filter_in_frequency(image, sensitivity)
        contrast = np.abs(_complex_filter(filtered, narrow) / _complex_filter(filtered, wide) - 1.0)
        masked.append(contrast**3 / (contrast**2 + 1e-4))  # k (C^p) / (h C^q + Z)
    first, second, fused_contrast = masked
    with np.errstate(divide="ignore", invalid="ignore"):
        q_first = np.where(first < fused_contrast, first / fused_contrast, fused_contrast / first)
        q_second = np.where(
            second < fused_contrast, second / fused_contrast, fused_contrast / second
        )
        total = first * first + second * second
        quality = (first * first * q_first + second * second * q_second) / total
    return require_finite(np.mean(quality), "Q_CB")


def _block_reduce(values: np.ndarray, block: int, function) -> np.ndarray:
    """MATLAB ``blkproc``: zero-pad to whole blocks, apply ``function`` to each block."""
    height, width = values.shape
    rows, cols = -(-height // block), -(-width // block)
    padded = np.zeros((rows * block, cols * block), dtype=values.dtype)
    padded[:height, :width] = values
    blocks = padded.reshape(rows, block, cols, block).transpose(0, 2, 1, 3)
    return function(blocks)


_SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
_SOBEL_Y = _SOBEL_X.T


def chen_varshney(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """Q_CV (Chen & Varshney): saliency-weighted perceptual difference; LOWER is better, ideal 0.

    H. Chen and P. K. Varshney, "A human perception inspired quality metric for image fusion
    based on regional information", Information Fusion 8(2), 2007. 16 x 16 regions, saliency
    Σ G^α with Sobel strength G and α = 5, Mannos-Sakrison CSF on axes scaled by size / 8.
    """
    images = [normalize_to_levels(s, name=f"source {k + 1}") for k, s in enumerate(sources)]
    fused = normalize_to_levels(fused, name="fused image")
    height, width = fused.shape
    radius = _frequency_radius(height, width, height / 8.0, width / 8.0)
    csf = 2.6 * (0.0192 + 0.144 * radius) * np.exp(-((0.144 * radius) ** 1.1))
    numerator = 0.0
    denominator = 0.0
    for image in images:
        gx, gy = filter2_same(image, _SOBEL_X), filter2_same(image, _SOBEL_Y)
        strength = np.sqrt(gx * gx + gy * gy)
        saliency = _block_reduce(strength, 16, lambda b: np.sum(b**5, axis=(2, 3)))
        difference = _filter_in_frequency(image - fused, csf)
        distortion = _block_reduce(difference, 16, lambda b: np.mean(b**2, axis=(2, 3)))
        numerator += np.sum(saliency * distortion)
        denominator += np.sum(saliency)
    return require_finite(np.real(numerator / denominator), "Q_CV")


_VIFF_NOISE = 0.005 * 255.0 * 255.0  # visual noise σ_n²
_VIFF_WEIGHTS = np.array([1.0, 0.0, 0.15, 1.0]) / 2.15


def _vif_maps(reference: np.ndarray, distorted: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """Per scale: (VID map, VIND map, gain g) of Sheikh & Bovik's VIF as revised by Han."""
    maps = []
    for scale in range(1, 5):
        size = 2 ** (5 - scale) + 1
        kernel = gaussian_kernel_1d(size, size / 5.0)
        if scale > 1:
            reference = filter2_valid(reference, kernel, kernel)[::2, ::2]
            distorted = filter2_valid(distorted, kernel, kernel)[::2, ::2]
        mu1 = filter2_valid(reference, kernel, kernel)
        mu2 = filter2_valid(distorted, kernel, kernel)
        sigma1_sq = filter2_valid(reference * reference, kernel, kernel) - mu1 * mu1
        sigma2_sq = filter2_valid(distorted * distorted, kernel, kernel) - mu2 * mu2
        sigma12 = filter2_valid(reference * distorted, kernel, kernel) - mu1 * mu2
        sigma1_sq = np.maximum(sigma1_sq, 0.0)
        sigma2_sq = np.maximum(sigma2_sq, 0.0)
        gain = sigma12 / (sigma1_sq + 1e-10)
        residual = sigma2_sq - gain * sigma12
        flat_reference = sigma1_sq < 1e-10
        gain[flat_reference] = 0.0
        residual[flat_reference] = sigma2_sq[flat_reference]
        sigma1_sq[flat_reference] = 0.0
        flat_distorted = sigma2_sq < 1e-10
        gain[flat_distorted] = 0.0
        residual[flat_distorted] = 0.0
        negative = gain < 0
        residual[negative] = sigma2_sq[negative]
        gain[negative] = 0.0
        residual[residual <= 1e-10] = 1e-10
        vid = np.log10(1.0 + gain**2 * sigma1_sq / (residual + _VIFF_NOISE))
        vind = np.log10(1.0 + sigma1_sq / _VIFF_NOISE)
        maps.append((vid, vind, gain))
    return maps


def viff(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """VIFF (Han et al.): visual information fidelity for fusion; higher is better, F = A = B
    gives 1.

    Y. Han, Y. Cai, Y. Cao, X. Xu, "A new image fusion performance metric based on visual
    information fidelity", Information Fusion 14(2), 2013. Four scales (Gaussian windows of
    17, 9, 5, 3 pixels, σ = size/5), σ_n² = 0.005·255², per pixel the source with the smaller
    gain, scale weights [1, 0, 0.15, 1]/2.15. Grey input (the colour path converts to L*).
    """
    first, second = (np.asarray(s, np.float64) for s in sources)
    fused = np.asarray(fused, np.float64)
    per_first = _vif_maps(first, fused)
    per_second = _vif_maps(second, fused)
    score = 0.0
    for weight, (vid1, vind1, g1), (vid2, vind2, g2) in zip(
        _VIFF_WEIGHTS, per_first, per_second, strict=True
    ):
        use_first = g1 < g2
        vid = np.where(use_first, vid1, vid2)
        vind = np.where(use_first, vind1, vind2)
        score += weight * np.sum(vid + 1e-7) / np.sum(vind + 1e-7)
    return require_finite(score, "VIFF")
