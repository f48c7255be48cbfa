"""Synthetic dome-like stacks with known clean signal, for the demo, tests and benchmarks.

Smooth blobs and ridges (or sharp-edged discs, ``make_discs``) plus Poisson-Gaussian-like noise, with optional zero-valued strips at
the left and right edge of each plane (as processing leaves them in the seed's dome stacks),
per-channel brightness and per-frame bleaching.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SyntheticStack:
    """A clean signal, its noisy observation (uint16) and the axes of both."""

    clean: np.ndarray
    noisy: np.ndarray
    axes: str


def _smooth_field(rng: np.random.Generator, height: int, width: int, blobs: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    field = np.zeros((height, width), np.float32)
    for _ in range(blobs):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        sigma = rng.uniform(2.0, 6.0)
        field += rng.uniform(0.3, 1.0) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma**2))
    field += 0.25 * (1 + np.sin(x / rng.uniform(4, 9)) * np.cos(y / rng.uniform(4, 9)))
    return field / max(float(field.max()), 1e-6)


def make_stack(
    frames: int = 2,
    slices: int = 3,
    channels: int = 1,
    height: int = 64,
    width: int = 64,
    strip: int = 0,
    brightness: tuple[float, ...] = (2000.0,),
    bleaching: float = 1.0,
    noise_sd: float = 0.15,
    seed: int = 0,
) -> SyntheticStack:
    """A TZCYX stack (axes dropped where the size is 1: T, Z, C) with known clean signal.

    ``brightness`` gives each channel's peak; ``bleaching`` multiplies the signal frame by
    frame (0.5: each frame half as bright as the one before); ``noise_sd`` is the Gaussian
    noise relative to the channel's peak, on top of Poisson-like shot noise; ``strip``
    columns at each side are zero, in the clean and the noisy stack alike.
    """
    rng = np.random.default_rng(seed)
    clean = np.zeros((frames, slices, channels, height, width), np.float32)
    for c in range(channels):
        peak = brightness[c % len(brightness)]
        base = _smooth_field(rng, height, width, blobs=max(3, height * width // 300))
        for z in range(slices):
            shifted = np.roll(base, shift=(z * 2, z), axis=(0, 1))
            for t in range(frames):
                clean[t, z, c] = (0.1 + shifted) * peak * bleaching**t
    noisy = clean + rng.normal(0.0, 1.0, clean.shape).astype(np.float32) * (
        noise_sd * np.sqrt(np.maximum(clean, 1.0)) * np.sqrt(clean.max(axis=(-2, -1), keepdims=True)) / 2
        + noise_sd * clean.max(axis=(-2, -1), keepdims=True) / 2
    )
    if strip:
        for array in (clean, noisy):
            array[..., :strip] = 0
            array[..., width - strip :] = 0
    noisy = np.clip(np.rint(noisy), 0, 65535).astype(np.uint16)
    keep = [a for a, n in zip("TZC", (frames, slices, channels)) if n > 1]
    axes = "".join(keep) + "YX"
    squeeze = tuple(i for i, (a, n) in enumerate(zip("TZC", (frames, slices, channels))) if n == 1)
    return SyntheticStack(clean.squeeze(axis=squeeze), noisy.squeeze(axis=squeeze), axes)


def make_discs(planes: int = 6, size: int = 96, seed: int = 0) -> SyntheticStack:
    """ZYX planes of flat discs on a flat background with Poisson-Gaussian-like noise: sharp edges, which a blur
    smears, so that a briefly trained N2V beats every blur (unlike ``make_stack``'s smooth planes)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    clean = np.full((planes, size, size), 200.0, np.float32)
    for plane in clean:
        for _ in range(25):
            cy, cx, radius = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(3, 12)
            plane[(y - cy) ** 2 + (x - cx) ** 2 < radius**2] = rng.uniform(400, 1500)
    noisy = clean + rng.normal(size=clean.shape) * (3 * np.sqrt(clean) + 40)
    return SyntheticStack(clean, np.clip(np.rint(noisy), 0, 65535).astype(np.uint16), "ZYX")


def psnr(reference: np.ndarray, image: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio of ``image`` against ``reference`` in dB."""
    reference = reference.astype(np.float64)
    error = np.mean((reference - image.astype(np.float64)) ** 2)
    peak = float(reference.max() - reference.min()) if data_range is None else data_range
    return float(10 * np.log10(peak**2 / max(error, 1e-12)))
