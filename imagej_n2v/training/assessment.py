"""After training: the quality verdict on the held-out validation patches, with what to do when it is poor.

The patches are the validation ones (pixels the network never trained on, see ``patches``), the
network is the kept epoch's, as it is written to the model folder. At most ``MAX_PATCHES`` of them
are used: with four passes, some 32,000 held-out pixels, a few seconds on a 2-core CPU.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from ..quality.verdict import Verdict, assess, training_advice, warning

log = logging.getLogger(__name__)

MAX_PATCHES = 256


@dataclass
class Assessment:
    """The verdict, the warning it calls for (None: none) and how long it took."""

    verdict: Verdict | None
    warning: str | None
    seconds: float
    skipped: str | None = None  # why there is no verdict
    kept_epoch: int = 0  # the epoch whose weights were measured: the one with the best validation loss

    def to_dict(self) -> dict:
        """``imagej_n2v.json``'s ``quality``."""
        if self.verdict is None:
            return {"skipped": self.skipped}
        return {**self.verdict.to_dict(), "warning": self.warning, "seconds": round(self.seconds, 2),
                "kept_epoch": self.kept_epoch}

    def reference_losses(self) -> dict[str, float]:
        """Lines for the loss plot: the held-out losses the curve reads against."""
        if self.verdict is None:
            return {}
        v = self.verdict
        return {f"best blur ({v.blur}), held out": v.blur_loss, "noisy input's level (2 x noise variance)": 2 * v.noise_variance,
                "this model, held out": v.model_loss}


def keras_predict(keras_model, batch: int = 32):
    """A ``quality.Predict`` for a Keras network: (N, H, W) in, (N, H, W) out, ``batch`` patches per call."""

    def predict(patches: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(keras_model(patches[i : i + batch, ..., np.newaxis], training=False))[..., 0]
                               for i in range(0, len(patches), batch)])

    return predict


def assess_training(validation: np.ndarray, keras_model, overlapping: bool, best_epoch: int, epochs_done: int,
                    epoch_seconds: float | None, patch_size: int, planes: int, seed: int) -> Assessment:
    """The verdict on ``validation`` ((N, size, size, 1) normalised patches), logged, with its warning."""
    started = time.monotonic()
    where = ("validation pixels, which the network also trained on (the plane was too small to hold some out), so "
             "the figures are too kind" if overlapping else "held-out pixels")
    verdict = assess(validation[:MAX_PATCHES, ..., 0], keras_predict(keras_model), where, seed=seed)
    seconds = time.monotonic() - started
    if verdict is None:
        reason = (f"the {len(validation)} validation patches of {patch_size}x{patch_size} are too few for a quality "
                  f"verdict; draw more --patches for one")
        log.info("No quality verdict: %s.", reason)
        return Assessment(None, None, seconds, reason, best_epoch)
    advice = training_advice(verdict, best_epoch, epochs_done, epoch_seconds, patch_size, planes)
    text = warning(verdict, advice)
    if text:
        log.warning("%s", text)
    else:
        log.info("%s", verdict.sentence())
    log.info("The quality check took %.1f s (%d held-out pixels).", seconds, verdict.pixels)
    return Assessment(verdict, text, seconds, None, best_epoch)
