"""What plain filters achieve on the same planes: the bar the quality tests hold N2V to.

Measured with the shared ``quality_model`` (see conftest) on the dome's kept columns and on the
channel stack: N2V gains 9.6 to 12.0 dB PSNR on every plane. A Gaussian filter gains 7.4 to
7.7 dB at sigma 0.7, and 11.4 to 13.5 dB at its best sigma (1.5, found with the clean image,
which N2V never sees; these smooth synthetic planes suit a blur). The 16x16-block means of
N2V's output stay within 8% of the clean plane's mean; a constant plane with the right mean
misses by 37% to 110%, the wrong plane rescaled to the right mean by 23% to 63%.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from imagej_n2v.data.synthetic import psnr

MARGIN_DB = 8.0
"""Least PSNR gain over the noisy plane: more than a light blur reaches, 1.6 dB below N2V's worst plane."""

BEST_GAUSSIAN_GAP_DB = 3.5
"""N2V may fall this far below the best Gaussian filter chosen with the clean image (measured: 2.7 dB)."""

BLOCK = 16
BLOCK_TOLERANCE = 0.12
"""Most a BLOCK x BLOCK mean may move, as a share of the plane's mean (measured: 0.08)."""

SIGMAS = (0.7, 1.0, 1.5, 2.0, 3.0)


def _planes(array: np.ndarray) -> np.ndarray:
    return array.reshape(-1, *array.shape[-2:]).astype(np.float64)


def gains(clean: np.ndarray, noisy: np.ndarray, result: np.ndarray) -> np.ndarray:
    """PSNR gain (dB) of each plane of ``result`` over the same plane of ``noisy``."""
    return np.array([psnr(c, r) - psnr(c, n) for c, n, r in zip(_planes(clean), _planes(noisy), _planes(result))])


def best_gaussian_gains(clean: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    """Per plane, the PSNR gain of the Gaussian filter whose sigma (of ``SIGMAS``) suits it best."""
    return np.array([max(psnr(c, gaussian_filter(n, sigma)) - psnr(c, n) for sigma in SIGMAS)
                     for c, n in zip(_planes(clean), _planes(noisy))])


def block_errors(result: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per plane, the largest difference of BLOCK x BLOCK means, as a share of the reference plane's mean."""
    result, reference = _planes(result), _planes(reference)
    height, width = (s // BLOCK * BLOCK for s in reference.shape[-2:])

    def means(planes: np.ndarray) -> np.ndarray:
        return planes[:, :height, :width].reshape(len(planes), height // BLOCK, BLOCK, width // BLOCK, BLOCK).mean(axis=(2, 4))

    return np.abs(means(result) - means(reference)).max(axis=(1, 2)) / reference.mean(axis=(1, 2))
