"""The methods ``make bench-quality`` compares, each a function from a noisy ``Subject`` to a result.

Classical baselines pick their strength with the clean reference (which no user has, so they
are upper bounds of what a user could get from them): a Gaussian blur with the best sigma,
BM3D with the best noise sigma, and BM3D on the generalised Anscombe transform (GAT), whose
noise is of unit variance everywhere once stabilised, with the noise parameters fitted from the
clean reference. The two N2V loops train the same network with the same steps: n2v's own (its
``N2V_DataGenerator`` tiles, 8x augmented, the first 10 % for validation, ``N2V.predict``) and
imagej-n2v's ``train_model`` and ``Denoiser``.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.optimize import minimize_scalar

from benchmarks.quality_data import Subject
from imagej_n2v.data.synthetic import psnr


def score(subject: Subject, result: np.ndarray) -> float:
    """PSNR (dB) of ``result`` against the clean signal, over the scored area, peak = the signal's range."""
    return psnr(subject.clean[subject.kept], result[subject.kept])


def planes(array: np.ndarray) -> np.ndarray:
    return array.reshape(-1, *array.shape[-2:])


def _best(subject: Subject, apply, low: float, high: float) -> dict:
    """The strength in [low, high] (searched on a log scale) that scores best, and its score."""
    found = minimize_scalar(lambda t: -score(subject, apply(float(np.exp(t)))), bounds=(np.log(low), np.log(high)),
                            method="bounded", options={"xatol": 0.05, "maxiter": 12})
    return {"psnr": -float(found.fun), "strength": float(np.exp(found.x))}


def gaussian_best(subject: Subject) -> dict:
    """A Gaussian blur of each plane, sigma (pixels) chosen with the clean signal."""
    def blur(sigma: float) -> np.ndarray:
        return np.stack([gaussian_filter(p, sigma) for p in planes(subject.noisy)]).reshape(subject.noisy.shape)
    return _best(subject, blur, 0.3, 6.0)


def bm3d_best(subject: Subject) -> dict:
    """BM3D on each plane with the noise sigma (in counts) chosen with the clean signal."""
    import bm3d

    spread = float(np.std(subject.noisy - subject.clean))
    def run(sigma: float) -> np.ndarray:
        return np.stack([bm3d.bm3d(p, sigma) for p in planes(subject.noisy)]).reshape(subject.noisy.shape)
    return _best(subject, run, spread / 8, spread * 2)


def noise_model(subject: Subject) -> tuple[float, float]:
    """The variance of the noise as ``a * signal + b``, fitted on the clean reference (Poisson-Gaussian)."""
    signal, residual = subject.clean[subject.kept].ravel(), (subject.noisy - subject.clean)[subject.kept].ravel()
    edges = np.unique(np.percentile(signal, np.linspace(0, 100, 41)))
    bins = np.clip(np.searchsorted(edges, signal, side="right") - 1, 0, len(edges) - 2)
    means = np.array([signal[bins == b].mean() for b in range(len(edges) - 1) if np.any(bins == b)])
    variances = np.array([residual[bins == b].var() for b in range(len(edges) - 1) if np.any(bins == b)])
    a, b = np.polyfit(means, variances, 1)
    return float(max(a, 1e-6)), float(b)


def gat_bm3d(subject: Subject) -> dict:
    """BM3D with unit noise on the generalised Anscombe transform, inverted by Makitalo and Foi's
    closed-form approximation of the exact unbiased inverse (IEEE TIP 2013)."""
    import bm3d

    a, b = noise_model(subject)
    stable = (2 / a) * np.sqrt(np.maximum(a * subject.noisy + 0.375 * a * a + b, 0))
    smooth = np.stack([bm3d.bm3d(p, 1.0) for p in planes(stable)]).reshape(stable.shape)
    d = np.maximum(smooth, 1.0)
    r = np.sqrt(1.5)
    inverse = d**2 / 4 + r / 4 / d - 11 / 8 / d**2 + 5 / 8 * r / d**3 - 1 / 8
    return {"psnr": score(subject, a * inverse - b / a), "noise_model": [a, b]}


def n2v_own(subject: Subject, settings: dict, seed: int) -> dict:
    """n2v's own loop, as its example notebooks train: non-overlapping tiles of every plane, 8x
    augmented, the first 10 % for validation; the best validation epoch's weights (n2v loads them
    after training)."""
    import tensorflow as tf
    from n2v.internals.N2V_DataGenerator import N2V_DataGenerator
    from n2v.models import N2V, N2VConfig

    from imagej_n2v.config import TrainConfig
    from imagej_n2v.training.train import n2v_settings

    config = TrainConfig(**settings, seed=seed)
    kept = planes(subject.noisy[subject.kept]).astype(np.float32)
    started = time.perf_counter()
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(seed)
    tf.keras.utils.disable_interactive_logging()
    with tempfile.TemporaryDirectory() as work, contextlib.redirect_stdout(io.StringIO()):
        patches = N2V_DataGenerator().generate_patches_from_list([p[np.newaxis, ..., np.newaxis] for p in kept],
                                                                  shape=(config.patch_size,) * 2)
        n_val = max(1, int(round(len(patches) * config.val_fraction)))
        model = N2V(N2VConfig(patches[n_val:], **n2v_settings(config)), name="n2v_own", basedir=work)
        model.train(patches[n_val:], patches[:n_val])
        trained = time.perf_counter() - started
        result = np.stack([model.predict(p, axes="YX") for p in planes(subject.noisy)]).reshape(subject.noisy.shape)
    return {"psnr": score(subject, result), "train_s": trained, "patches": int(len(patches))}


def ours(subject: Subject, settings: dict, seed: int) -> dict:
    """imagej-n2v's ``train_model`` (best validation epoch kept) and ``Denoiser``, with ``settings``;
    the same model denoises once more with ``tta`` (``psnr_tta``, ``denoise_tta_s``)."""
    import tensorflow as tf

    from imagej_n2v.config import TrainConfig
    from imagej_n2v.data.stack import PlaneStack
    from imagej_n2v.denoising.inference import Denoiser
    from imagej_n2v.models.folder import describe_model
    from imagej_n2v.training.train import train_model

    config = TrainConfig(**settings, seed=seed)
    tf.keras.backend.clear_session()
    work = Path(tempfile.mkdtemp())
    try:
        started = time.perf_counter()
        run = train_model([PlaneStack(subject.noisy, subject.axes)], work / "ours", config, export=False)
        trained = time.perf_counter() - started
        denoiser = Denoiser(describe_model(work / "ours"))
        scores = {}
        for tta in (False, True):
            started = time.perf_counter()
            result = denoiser.denoise(subject.noisy, subject.axes, bit_depth=32, tta=tta)
            scores.update({f"psnr{'_tta' * tta}": score(subject, result), f"denoise{'_tta' * tta}_s": time.perf_counter() - started})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {**scores, "train_s": trained, "epochs": len(run.history.get("loss", [])),
            "precision": run.precision, "ended": run.ending.text if run.ending else "after its last epoch"}
