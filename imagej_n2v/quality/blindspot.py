"""Held-out masked pixels: the network and blind-spot blurs predict the same pixels without seeing them.

A pass hides one random pixel in every ``BLOCK`` x ``BLOCK`` cell of each patch (about the share
n2v hides in training), replaces it by a random neighbour within n2v's radius that is not hidden
itself (so no copy of a hidden pixel reaches the network), and compares the network's prediction
there with the noisy value. The blurs (the mean of the 4 or 8 neighbours, Gaussians of a few
widths) have their centre weight removed and are normalised over the pixels inside the patch, so
they never see the pixel they predict either. Denoising, though, shows the network every pixel:
one unmasked pass measures how much its output moves when it does (``Sample.seen``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import ndimage

from .noise import NoiseModel, brightness, estimate_noise

BLOCK = 8
"""One hidden pixel per 8x8 cell: 1.6 %, next to n2v's 1.5 % in training (``perc_pix``)."""
RADIUS = 5
"""Where a hidden pixel's stand-in comes from: n2v's ``n2v_neighborhood_radius``."""
GAUSSIANS = (0.7, 1.0, 1.5, 2.0, 3.0, 4.0)
"""Widths (sigma, pixels) of the Gaussian blurs the network is compared with."""

Predict = Callable[[np.ndarray], np.ndarray]
"""The network: (N, H, W) float32 normalised patches in, predictions of the same shape out."""


@dataclass
class Sample:
    """Squared errors on the held-out pixels: of the network, of each blur, and the noise variance there."""

    model: np.ndarray  # (pixels,)
    blurs: dict[str, np.ndarray]  # name -> (pixels,)
    noise: np.ndarray  # (pixels,) estimated noise variance at each pixel
    noise_model: NoiseModel
    seen: np.ndarray | None = None  # (pixels,) squared change of the network's output when it sees the pixel itself


def _neighbour_kernel(eight: bool) -> np.ndarray:
    kernel = np.ones((3, 3)) if eight else np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], float)
    kernel[1, 1] = 0
    return kernel


def blind_blurs(patches: np.ndarray) -> dict[str, np.ndarray]:
    """Each blur of (N, H, W) patches, blind to the centre pixel: zero-padded and normalised by the weights inside.

    In float64: the centre's weight is taken out by subtraction, which float32 would leave a trace of.
    """
    patches = patches.astype(np.float64)
    ones = np.ones(patches.shape[1:])
    found = {}
    for name, eight in (("mean of the 4 neighbours", False), ("mean of the 8 neighbours", True)):
        kernel = _neighbour_kernel(eight)[np.newaxis]
        found[name] = (ndimage.correlate(patches, kernel, mode="constant")
                       / ndimage.correlate(ones[np.newaxis], kernel, mode="constant"))
    delta = np.zeros((33, 33))
    delta[16, 16] = 1
    for sigma in GAUSSIANS:
        centre = float(ndimage.gaussian_filter(delta, sigma, mode="constant", truncate=3.0)[16, 16])
        blurred = ndimage.gaussian_filter(patches, (0, sigma, sigma), mode="constant", truncate=3.0)
        weight = ndimage.gaussian_filter(ones, sigma, mode="constant", truncate=3.0)[np.newaxis]
        found[f"Gaussian, sigma {sigma:g}"] = (blurred - centre * patches) / (weight - centre)
    return found


def hide(patches: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """(patches with one pixel per cell replaced by a neighbour, (patch, y, x) of the hidden pixels)."""
    n, height, width = patches.shape
    cells_y, cells_x = height // BLOCK, width // BLOCK
    count = cells_y * cells_x
    p = np.repeat(np.arange(n), count)
    y = (np.tile(np.repeat(np.arange(cells_y), cells_x), n) * BLOCK + rng.integers(0, BLOCK, n * count))
    x = (np.tile(np.tile(np.arange(cells_x), cells_y), n) * BLOCK + rng.integers(0, BLOCK, n * count))
    hidden = np.zeros(patches.shape, bool)
    hidden[p, y, x] = True
    source_y, source_x = y.copy(), x.copy()
    pending = np.ones(p.size, bool)
    while pending.any():
        dy = rng.integers(-RADIUS, RADIUS + 1, pending.sum())
        dx = rng.integers(-RADIUS, RADIUS + 1, pending.sum())
        ty, tx = y[pending] + dy, x[pending] + dx
        inside = (ty >= 0) & (ty < height) & (tx >= 0) & (tx < width)
        ok = inside.copy()
        ok[inside] = ~hidden[p[pending][inside], ty[inside], tx[inside]]
        index = np.flatnonzero(pending)[ok]
        source_y[index], source_x[index] = ty[ok], tx[ok]
        pending[index] = False
    masked = patches.copy()
    masked[p, y, x] = patches[p, source_y, source_x]
    return masked, (p, y, x)


def held_out_errors(patches: np.ndarray, predict: Predict, passes: int, seed: int = 0) -> Sample:
    """The squared errors of the network and of every blind blur on ``passes`` masked passes over ``patches``.

    ``patches`` are (N, H, W) float32 in the network's (normalised) units. The network's output
    gets each patch's mean, as denoising gives each plane its own (``inference``).
    """
    patches = np.ascontiguousarray(patches, dtype=np.float32)
    rng = np.random.default_rng(seed)
    blurs = blind_blurs(patches)
    noise_model = estimate_noise(patches)
    level = brightness(patches)
    # Denoising shows the network every pixel, the held-out figures hide it: how far the two outputs differ.
    visible = np.asarray(predict(patches), dtype=np.float32)
    visible += (patches.mean(axis=(1, 2)) - visible.mean(axis=(1, 2)))[:, np.newaxis, np.newaxis]
    model, blur_errors, noise, seen = [], {name: [] for name in blurs}, [], []
    for _ in range(passes):
        masked, where = hide(patches, rng)
        predicted = np.asarray(predict(masked), dtype=np.float32)
        predicted += (masked.mean(axis=(1, 2)) - predicted.mean(axis=(1, 2)))[:, np.newaxis, np.newaxis]
        truth = patches[where]
        model.append((predicted[where] - truth) ** 2)
        for name, blurred in blurs.items():
            blur_errors[name].append((blurred[where] - truth) ** 2)
        noise.append(noise_model.variance(level[where]))
        seen.append((visible[where] - predicted[where]) ** 2)
    return Sample(np.concatenate(model), {k: np.concatenate(v) for k, v in blur_errors.items()},
                  np.concatenate(noise), noise_model, np.concatenate(seen))


def sample_pixels(patches: np.ndarray, predict: Predict, wanted: int = 32768, max_passes: int = 4,
                  seed: int = 0) -> Sample:
    """``held_out_errors`` with enough passes for about ``wanted`` held-out pixels (at most ``max_passes``)."""
    per_pass = patches.shape[0] * (patches.shape[1] // BLOCK) * (patches.shape[2] // BLOCK)
    passes = int(min(max_passes, max(1, -(-wanted // max(per_pass, 1)))))
    return held_out_errors(patches, predict, passes, seed)
