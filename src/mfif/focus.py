"""Focus measures: how sharp each source is around each pixel.

Every measure takes a luminance stack of shape (N, H, W), float32 in [0, 1], and returns a
score stack of the same shape where larger means better focused.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "double_reblur",
    "gradient_magnitude",
    "laplacian_energy",
    "reblur_detail",
    "relative_blur_kernel",
    "window_mean",
]


def gradient_magnitude(luma: np.ndarray) -> np.ndarray:
    """Pixel-wise gradient magnitude |∇S| with forward differences (UDPNet eq. (3)).

    Parameters
    ----------
    luma : ndarray of shape (N, H, W), float32 in [0, 1]

    Returns
    -------
    ndarray of shape (N, H, W), float32, >= 0
    """
    dx = np.zeros_like(luma)
    dy = np.zeros_like(luma)
    dx[:, :, :-1] = luma[:, :, 1:] - luma[:, :, :-1]
    dy[:, :-1, :] = luma[:, 1:, :] - luma[:, :-1, :]
    return np.sqrt(dx * dx + dy * dy)


def laplacian_energy(luma: np.ndarray, *, sigma: float = 5.0, radius: int = 5) -> np.ndarray:
    """Gaussian-smoothed absolute Laplacian: the saliency of GFF (Li et al. 2013, eq. (4)).

    Parameters
    ----------
    luma : ndarray of shape (N, H, W), float32 in [0, 1]
    sigma : float
        Standard deviation of the Gaussian low-pass.
    radius : int
        The Gaussian window is (2 * radius + 1) pixels wide.

    Returns
    -------
    ndarray of shape (N, H, W), float32, >= 0
    """
    size = 2 * radius + 1
    out = np.empty_like(luma)
    for k, image in enumerate(luma):
        high = np.abs(cv2.Laplacian(image, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT))
        out[k] = cv2.GaussianBlur(high, (size, size), sigma, borderType=cv2.BORDER_REFLECT)
    return out


def reblur_detail(
    luma: np.ndarray, *, sigma: float = 1.5, output_size: tuple[int, int] | None = None
) -> np.ndarray:
    """Squared detail that a re-blur removes, (S - G_sigma * S)², per pixel.

    A focused region loses much detail when blurred again, a defocused one little (the idea
    behind DFP's DoubleReblur). Average it over a window (`window_mean`) for a focus measure.

    Parameters
    ----------
    luma : ndarray of shape (N, H, W), float32 in [0, 1]
    sigma : float
        Standard deviation of the re-blur, in input pixels.
    output_size : (width, height), optional
        Shrink the result to this size by area averaging; the default keeps the input size.

    Returns
    -------
    ndarray of shape (N, H, W), or (N, height, width) with ``output_size``; float32, >= 0
    """
    height, width = luma.shape[1:]
    out_width, out_height = output_size or (width, height)
    out = np.empty((luma.shape[0], out_height, out_width), dtype=np.float32)
    for k, image in enumerate(luma):
        # In place, in the re-blur's buffer: one frame-sized temporary instead of three.
        energy = cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        np.subtract(image, energy, out=energy)
        np.multiply(energy, energy, out=energy)
        if (out_width, out_height) != (width, height):
            cv2.resize(energy, (out_width, out_height), dst=out[k], interpolation=cv2.INTER_AREA)
        else:
            out[k] = energy
    return out


def window_mean(images: np.ndarray, window: int) -> np.ndarray:
    """Mean over a square window of side ``window`` (reflected borders), per image.

    Parameters
    ----------
    images : ndarray of shape (N, H, W), float32

    Returns
    -------
    ndarray of shape (N, H, W), float32
    """
    out = np.empty_like(images)
    for image, result in zip(images, out, strict=True):
        cv2.boxFilter(image, -1, (window, window), dst=result, borderType=cv2.BORDER_REFLECT)
    return out


def relative_blur_kernel(
    sharp: np.ndarray,
    blurred: np.ndarray,
    *,
    size: int = 15,
    cutoff: float = 0.25,
    regularisation: float = 1e-2,
    largest: int = 1024,
) -> np.ndarray:
    """The spread kernel h with ``blurred ≈ sharp * h`` (DFP eqs. (11)-(14)).

    Eq. (14) divides the spectra; the noise term it subtracts is handled as a Wiener
    regularisation, H = B·conj(S) / (|S|² + λ·mean|S|²), and T is a Gaussian low-pass of
    standard deviation ``cutoff`` cycles per pixel. The kernel is cut to ``size`` x ``size``
    around its centre, its negative lobes are dropped and it is normalised to sum 1.

    Parameters
    ----------
    sharp, blurred : ndarray of shape (H, W), float32 in [0, 1]
    size : int
        Odd side of the returned kernel.
    cutoff : float
        T's standard deviation, in cycles per pixel (0.5 is Nyquist).
    regularisation : float
        λ above, relative to the mean power of ``sharp``.
    largest : int
        The estimate uses a central crop at most this many pixels on a side (a global
        kernel; larger crops cost time and change little).

    Returns
    -------
    ndarray of shape (size, size), float32, >= 0, summing to 1
    """
    height, width = sharp.shape
    top, left = max(0, (height - largest) // 2), max(0, (width - largest) // 2)
    window = (slice(top, top + largest), slice(left, left + largest))
    sharp = sharp[window].astype(np.float64)
    blurred = blurred[window].astype(np.float64)
    sharp_spectrum = np.fft.rfft2(sharp - sharp.mean())
    blurred_spectrum = np.fft.rfft2(blurred - blurred.mean())
    power = np.abs(sharp_spectrum) ** 2
    half = size // 2
    identity = np.zeros((size, size), np.float32)
    identity[half, half] = 1.0
    if power.mean() <= 1e-12:  # a flat image relates to anything: no re-blur
        return identity
    transfer = blurred_spectrum * np.conj(sharp_spectrum) / (power + regularisation * power.mean())
    frequency_y = np.fft.fftfreq(sharp.shape[0])[:, None]
    frequency_x = np.fft.rfftfreq(sharp.shape[1])[None, :]
    transfer *= np.exp(-(frequency_x**2 + frequency_y**2) / (2 * cutoff**2))  # T
    kernel = np.fft.fftshift(np.fft.irfft2(transfer, s=sharp.shape))
    centre_y, centre_x = sharp.shape[0] // 2, sharp.shape[1] // 2
    kernel = kernel[centre_y - half : centre_y + half + 1, centre_x - half : centre_x + half + 1]
    kernel = np.clip(kernel, 0.0, None)
    total = kernel.sum()
    if total <= 0:  # no relation found: no re-blur
        return identity
    return (kernel / total).astype(np.float32)


def double_reblur(
    luma: np.ndarray,
    *,
    kernel_size: int = 15,
    gaussian_size: int = 5,
    cutoff: float = 0.25,
    regularisation: float = 1e-2,
) -> np.ndarray:
    """DFP's DoubleReblur as a focus measure: how much sharper each source is than the others.

    For each ordered pair (k, j), source k is re-blurred by the estimated spread kernel
    h_kj that turns it into source j (eqs. (14)-(15)); where k is the sharper one, this
    reproduces j, and where j is sharper it cannot. The mismatch |i_k * h_kj - i_j| is
    re-blurred by a Gaussian of size ``gaussian_size`` (the second re-blur, eq. (16)), giving
    e_kj. Source k's score is the mean over j of e_jk - e_kj: positive where k is sharper.

    The paper computes one re-blurred detail image for a named background source and
    thresholds it; on synthetic pairs that confuses texture with focus (about half the
    pixels wrong), so mfif compares the sources symmetrically. The threshold, closing and
    region fill of eqs. (17)-(19) belong to the decision step, not to this measure.

    Parameters
    ----------
    luma : ndarray of shape (N, H, W), float32 in [0, 1]
        N >= 2 sources.
    kernel_size, cutoff, regularisation
        The spread-kernel estimate (`relative_blur_kernel`).
    gaussian_size : int
        Odd side of the second re-blur's Gaussian (k_g).

    Returns
    -------
    ndarray of shape (N, H, W), float32, in intensity units: larger means better focused;
    flat areas score near 0 for every source.
    """
    count = luma.shape[0]
    scores = np.zeros(luma.shape, dtype=np.float32)
    for k in range(count):
        for j in range(count):
            if j == k:
                continue
            kernel = relative_blur_kernel(
                luma[k], luma[j], size=kernel_size, cutoff=cutoff, regularisation=regularisation
            )
            predicted = cv2.filter2D(luma[k], -1, kernel, borderType=cv2.BORDER_REFLECT)
            mismatch = cv2.GaussianBlur(
                np.abs(predicted - luma[j]),
                (gaussian_size, gaussian_size),
                0,
                borderType=cv2.BORDER_REFLECT,
            )
            scores[k] -= mismatch
            scores[j] += mismatch
    return scores / (count - 1)
