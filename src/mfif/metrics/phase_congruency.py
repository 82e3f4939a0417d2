"""Q_P (Zhao et al.): a phase-congruency-based fusion metric, and Kovesi's phase congruency.

Port of metricZhao.m and myphasecong3.m (Z. Liu's revision of P. Kovesi's phasecong) from Z.
Liu's imageFusionMetrics: log-Gabor filters (4 scales, 6 orientations) applied in the
frequency domain, noise compensation, frequency-spread weighting; the phase congruency and
the maximum and minimum moments of its covariance are compared between sources and fused
image by masked local correlation.

Colour: these functions see one grey plane; `mfif.metrics.compute` passes luminance Y
(BT.601) of colour images, or each of R, G, B in turn with ``color="mean"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import fft as scipy_fft

from ._common import MetricError, filter2_same, gaussian_kernel_1d, require_finite

__all__ = ["phase_congruency", "phase_congruency_metric"]

_EPSILON = 0.0001


def _kovesi_lowpass(rows: int, cols: int, cutoff: float, order: int) -> np.ndarray:
    # lowpassfilter.m as shipped with myphasecong3.m: grid centred at fix(n/2)+1, fftshift.
    x = (np.arange(1, cols + 1) - (cols // 2 + 1)) / cols
    y = (np.arange(1, rows + 1) - (rows // 2 + 1)) / rows
    radius = np.sqrt(x[None, :] ** 2 + y[:, None] ** 2)
    return np.fft.fftshift(1.0 / (1.0 + (radius / cutoff) ** (2 * order)))


@dataclass(frozen=True)
class _FilterBank:
    """The log-Gabor filters of one image size, with the image-independent noise terms."""

    filters: tuple[tuple[np.ndarray, ...], ...]  # [orientation][scale], frequency domain
    filter_energy: tuple[float, ...]  # per orientation: Σ filter² at the smallest scale
    noise_sums: tuple[tuple[float, float], ...]  # per orientation: Σ ΣA_n², Σ ΣA_i A_j


@lru_cache(maxsize=4)
def _filter_bank(
    rows: int,
    cols: int,
    scales: int,
    orientations: int,
    min_wavelength: float,
    multiplier: float,
    sigma_on_f: float,
    d_theta_on_sigma: float,
) -> _FilterBank:
    theta_sigma = np.pi / orientations / d_theta_on_sigma

    def axis(n: int) -> np.ndarray:
        if n % 2:
            return np.arange(-(n - 1) / 2, (n - 1) / 2 + 1) / (n - 1)
        return np.arange(-n / 2, n / 2) / n

    x, y = np.meshgrid(axis(cols), axis(rows))
    radius = np.sqrt(x * x + y * y)
    radius[rows // 2, cols // 2] = 1.0  # avoids log(0); the filters' DC is reset below
    theta = np.arctan2(-y, x)
    radius = np.fft.ifftshift(radius)
    theta = np.fft.ifftshift(theta)
    sin_theta, cos_theta = np.sin(theta), np.cos(theta)
    lowpass = _kovesi_lowpass(rows, cols, 0.45, 15)
    log_gabor = []
    for s in range(scales):
        centre = 1.0 / (min_wavelength * multiplier**s)
        radial = np.exp(-(np.log(radius / centre) ** 2) / (2.0 * np.log(sigma_on_f) ** 2))
        radial = radial * lowpass
        radial[0, 0] = 0.0
        log_gabor.append(radial)
    filters, energies, noise = [], [], []
    for o in range(orientations):
        angle = o * np.pi / orientations
        ds = sin_theta * np.cos(angle) - cos_theta * np.sin(angle)
        dc = cos_theta * np.cos(angle) + sin_theta * np.sin(angle)
        spread = np.exp(-(np.abs(np.arctan2(ds, dc)) ** 2) / (2.0 * theta_sigma**2))
        bank = tuple(radial * spread for radial in log_gabor)
        inverse = [np.real(np.fft.ifft2(f)) * np.sqrt(rows * cols) for f in bank]
        sum_an2 = float(np.sum(sum(f**2 for f in inverse)))
        sum_ai_aj = float(
            sum(
                np.sum(inverse[i] * inverse[j])
                for i in range(scales - 1)
                for j in range(i + 1, scales)
            )
        )
        filters.append(bank)
        energies.append(float(np.sum(bank[0] ** 2)))
        noise.append((sum_an2, sum_ai_aj))
    return _FilterBank(tuple(filters), tuple(energies), tuple(noise))


def phase_congruency(
    image: np.ndarray,
    *,
    scales: int = 4,
    orientations: int = 6,
    min_wavelength: float = 3.0,
    multiplier: float = 2.1,
    sigma_on_f: float = 0.55,
    d_theta_on_sigma: float = 1.2,
    noise_k: float = 2.0,
    cut_off: float = 0.5,
    g: float = 10.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phase congruency and the maximum / minimum moments of its covariance.

    P. Kovesi, "Phase congruency detects corners and edges", DICTA 2003; defaults as there.

    Parameters
    ----------
    image : ndarray of shape (H, W), float64

    Returns
    -------
    pc, maximum_moment, minimum_moment : ndarrays of shape (H, W), float64
    """
    image = np.asarray(image, dtype=np.float64)
    rows, cols = image.shape
    bank = _filter_bank(
        rows, cols, scales, orientations, min_wavelength, multiplier, sigma_on_f, d_theta_on_sigma
    )
    image_fft = scipy_fft.fft2(image, workers=-1)
    zero = np.zeros((rows, cols))
    total_energy, total_sum_amplitude = zero.copy(), zero.copy()
    cov_x2, cov_y2, cov_xy = zero.copy(), zero.copy(), zero.copy()
    for o in range(orientations):
        angle = o * np.pi / orientations
        responses = [scipy_fft.ifft2(image_fft * f, workers=-1) for f in bank.filters[o]]
        amplitudes = [np.abs(response) for response in responses]
        sum_amplitude = sum(amplitudes)
        max_amplitude = np.maximum.reduce(amplitudes)
        sum_even = sum(response.real for response in responses)
        sum_odd = sum(response.imag for response in responses)
        x_energy = np.sqrt(sum_even**2 + sum_odd**2) + _EPSILON
        mean_even, mean_odd = sum_even / x_energy, sum_odd / x_energy
        energy = zero.copy()
        for response in responses:
            even, odd = response.real, response.imag
            energy += even * mean_even + odd * mean_odd - np.abs(even * mean_odd - odd * mean_even)

        # Noise compensation from the smallest scale (Rayleigh model).
        median_e2n = np.median(np.abs(responses[0]) ** 2)
        noise_power = (-median_e2n / np.log(0.5)) / bank.filter_energy[o]
        sum_an2, sum_ai_aj = bank.noise_sums[o]
        noise_energy2 = 2 * noise_power * sum_an2 + 4 * noise_power * sum_ai_aj
        tau = np.sqrt(noise_energy2 / 2.0)
        threshold = (tau * np.sqrt(np.pi / 2.0) + noise_k * np.sqrt((2 - np.pi / 2) * tau**2)) / 1.7
        energy = np.maximum(energy - threshold, 0.0)

        width = sum_amplitude / (max_amplitude + _EPSILON) / scales
        weight = 1.0 / (1.0 + np.exp((cut_off - width) * g))
        total_sum_amplitude += sum_amplitude
        total_energy += weight * energy
        with np.errstate(divide="ignore", invalid="ignore"):
            pc_orientation = weight * energy / sum_amplitude
        cov_x = pc_orientation * np.cos(angle)
        cov_y = pc_orientation * np.sin(angle)
        cov_x2 += cov_x**2
        cov_y2 += cov_y**2
        cov_xy += cov_x * cov_y

    pc = total_energy / (total_sum_amplitude + _EPSILON)
    cov_x2 /= orientations / 2.0
    cov_y2 /= orientations / 2.0
    cov_xy /= orientations
    denominator = np.sqrt(cov_xy**2 + (cov_x2 - cov_y2) ** 2) + _EPSILON
    maximum_moment = (cov_y2 + cov_x2 + denominator) / 2.0
    minimum_moment = (cov_y2 + cov_x2 - denominator) / 2.0
    return pc, maximum_moment, minimum_moment


def _masked_correlation(
    first: np.ndarray,
    second: np.ndarray,
    strongest: np.ndarray,
    fused: np.ndarray,
    masks: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> float:
    kernel = gaussian_kernel_1d(11, 1.5)
    window = (kernel, kernel)
    c = 0.0001
    fused_mean = filter2_same(fused, window)
    fused_var = filter2_same(fused * fused, window) - fused_mean**2
    best = np.full(fused.shape, -np.inf)
    for feature, mask in zip((first, second, strongest), masks, strict=True):
        feature = mask * feature
        mean = filter2_same(feature, window)
        variance = filter2_same(feature * feature, window) - mean**2
        covariance = filter2_same(feature * fused, window) - mean * fused_mean
        local = np.zeros(fused.shape)
        inside = mask.astype(bool)
        local[inside] = (covariance[inside] + c) / (
            np.sqrt(np.abs(variance[inside] * fused_var[inside])) + c
        )
        best = np.maximum(best, local)
    feature_area = np.sum(masks[2])
    if feature_area == 0:
        raise MetricError("Q_P is undefined: neither source has phase-congruency features.")
    return float(np.sum(best) / feature_area)


def phase_congruency_metric(sources: Sequence[np.ndarray], fused: np.ndarray) -> float:
    """Q_P (Zhao et al.): how well phase congruency and its moments are carried into the fused
    image; higher is better, range about [0, 1] (F = A = B gives 0.957, not 1).

    J. Zhao, R. Laganière, Z. Liu, "Performance assessment of combinative pixel-level image
    fusion based on an absolute feature measurement", Int. J. Innovative Computing,
    Information and Control 3(6A), 2007. Features with PC > 0.1 are compared by local
    correlation (11 x 11 Gaussian, σ 1.5, C = 1e-4); Q_P = P_p · P_M · P_m.
    """
    first, second = (np.asarray(s, np.float64) for s in sources)
    pc1, big1, small1 = phase_congruency(first)
    pc2, big2, small2 = phase_congruency(second)
    pcf, bigf, smallf = phase_congruency(np.asarray(fused, np.float64))
    first_wins = pc1 > pc2
    pc_max = np.where(first_wins, pc1, pc2)
    big_max = np.where(first_wins, big1, big2)
    small_max = np.where(first_wins, small1, small2)
    masks = (
        (pc1 > 0.1).astype(np.float64),
        (pc2 > 0.1).astype(np.float64),
        (pc_max > 0.1).astype(np.float64),
    )
    score = (
        _masked_correlation(pc1, pc2, pc_max, pcf, masks)
        * _masked_correlation(big1, big2, big_max, bigf, masks)
        * _masked_correlation(small1, small2, small_max, smallf, masks)
    )
    return require_finite(score, "Q_P")
