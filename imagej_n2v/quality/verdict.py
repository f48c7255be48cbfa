"""The verdict: how the network's held-out error compares with the best blind-spot blur and with the noisy input.

The ranking against the blur needs no noise estimate (the noise variance is the same constant in
both losses and cancels); the gains over the noisy input do: MSE(result, clean) is the held-out
loss minus the noise variance, and the noisy input's MSE is the noise variance itself. A model
counts as better than the blur only when its loss is lower by more than twice the standard error
of the paired difference, so one that is no better always gets the warning.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..config.durations import format_duration
from .blindspot import Predict, Sample, sample_pixels

MIN_PIXELS = 256
"""Held-out pixels below which no verdict is given (the figures would be noise)."""
BETTER = "better than a blur"
NOT_BETTER = "no better than a blur"
WORSE_THAN_INPUT = "worse than the noisy input"
MAX_GAIN_DB = 30.0
"""Gains are shown up to this: above it the estimate is the noise estimate's error, not the model's."""


def _gain_db(loss: float, noise: float) -> float:
    """The estimated gain over the noisy input in dB: noise variance over (held-out loss - noise variance)."""
    error = loss - noise
    if noise <= 0:
        return 0.0
    return MAX_GAIN_DB if error <= noise * 10 ** (-MAX_GAIN_DB / 10) else 10 * math.log10(noise / error)


@dataclass
class Verdict:
    """One comparison, JSON-ready (``imagej_n2v.json``'s ``quality``)."""

    category: str  # BETTER, NOT_BETTER or WORSE_THAN_INPUT
    model_loss: float  # mean squared error on the held-out pixels, normalised units
    blur: str  # the best blur, in words
    blur_loss: float
    difference_se: float  # standard error of the paired difference model - blur
    noise_variance: float  # estimated, mean over the held-out pixels
    gain_db: float  # estimated gain of the model over the noisy input
    blur_gain_db: float
    pixels: int
    noise_measured: bool = True  # False: the estimate came out above a blind loss, so it was cut to it (no dB figures)
    correlated: str | None = None  # rows/columns where neighbouring pixels' noise correlates
    seen_gain_db: float | None = None  # the gain with the change of output when the network sees each pixel (denoising)
    where: str = "held-out pixels"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def warns(self) -> bool:
        return self.category != BETTER

    def sentence(self) -> str:
        """The verdict in one or two sentences, for the Log, ``info`` and the model folder."""
        gains = (f"estimated {_db(self.gain_db)} than the noisy input (the blur: {_db(self.blur_gain_db)})"
                 if self.noise_measured else "the noise could not be measured well enough here for figures in dB")
        if self.category == BETTER:
            error, blur_error = self.model_loss - self.noise_variance, self.blur_loss - self.noise_variance
            share = f"{min(99.0, 100 * (1 - error / blur_error)):.0f} % below" if blur_error > 0 and self.noise_measured else "below"
            text = f"On {self.where} this model's error is {share} that of the best blur ({self.blur}); {gains}."
        elif self.category == NOT_BETTER:
            text = f"On {self.where} this model does no better than a blur ({self.blur}); {gains}."
        else:
            text = (f"On {self.where} this model's result is estimated {_db(self.gain_db)} than the noisy input, "
                    f"while the best blur ({self.blur}) is {_db(self.blur_gain_db)}: worse than not denoising."
                    if self.noise_measured else
                    f"On {self.where} this model's error is larger than the noise itself, while the best blur "
                    f"({self.blur}) does better: worse than not denoising.")
        if self.noise_measured and self.seen_gain_db is not None and self.gain_db - self.seen_gain_db > 1.0:
            text += (f" The network's output changes when it sees each pixel itself, as it does when denoising: the "
                     f"denoised image may be nearer {_db(self.seen_gain_db)} than the input.")
        if self.correlated:
            text += (f" The noise of neighbouring pixels correlates along {self.correlated}, so these figures are "
                     f"too kind to every predictor: train with --struct-mask {self.correlated.split()[0]}.")
        return text

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sentence": self.sentence()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Verdict":
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


def _db(gain: float) -> str:
    """``6.1 dB better`` or ``2.0 dB worse``."""
    shown = f"{abs(gain):.1f} dB" if abs(gain) < MAX_GAIN_DB else f"more than {MAX_GAIN_DB:.0f} dB"
    return f"{shown} {'better' if gain >= 0 else 'worse'}"


def judge(sample: Sample, where: str = "held-out pixels") -> Verdict | None:
    """The verdict of a sample of held-out pixels, or None when it has too few pixels to tell."""
    pixels = int(sample.model.size)
    if pixels < MIN_PIXELS:
        return None
    losses = {name: float(errors.mean()) for name, errors in sample.blurs.items()}
    blur = min(losses, key=losses.get)
    model_loss, noise = float(sample.model.mean()), float(sample.noise.mean())
    # No blind predictor can beat the noise variance: a lower loss shows that the estimate is too high.
    measured = noise < min(model_loss, losses[blur])
    noise = min(noise, model_loss, losses[blur])
    difference = sample.model - sample.blurs[blur]
    se = float(difference.std() / math.sqrt(pixels))
    if model_loss - noise > noise:
        category = WORSE_THAN_INPUT
    elif model_loss < losses[blur] - 2 * se:
        category = BETTER
    else:
        category = NOT_BETTER
    seen = None
    if sample.seen is not None:  # the change of output taken as an error of its own, uncorrelated with the rest
        seen = _gain_db(model_loss + float(sample.seen.mean()), noise)
    return Verdict(category, model_loss, blur, losses[blur], se, noise, _gain_db(model_loss, noise),
                   _gain_db(losses[blur], noise), pixels, measured, sample.noise_model.correlated, seen, where)


def assess(patches: np.ndarray, predict: Predict, where: str = "held-out pixels", wanted: int = 32768,
           max_passes: int = 4, seed: int = 0) -> Verdict | None:
    """The verdict on (N, H, W) normalised ``patches`` for the network ``predict``; None when they are too few."""
    return judge(sample_pixels(patches, predict, wanted, max_passes, seed), where)


def warning(verdict: Verdict, advice: str) -> str | None:
    """The warning a verdict calls for (None for a model better than a blur): what is wrong, then what to do."""
    if verdict.category == NOT_BETTER:
        return f"Warning: this model is no better than a blur. {verdict.sentence()} What to do: {advice}"
    if verdict.category == WORSE_THAN_INPUT:
        return (f"WARNING: this model makes images WORSE than the noisy input; do not use its results as they are. "
                f"{verdict.sentence()} What to do: {advice}")
    return None


def training_advice(verdict: Verdict, best_epoch: int, epochs_done: int, epoch_seconds: float | None,
                    patch_size: int, planes: int) -> str:
    """What to try after a training whose model is no better than a blur: longer, larger patches, more planes, or a blur."""
    if best_epoch >= epochs_done - max(1, epochs_done // 5):  # the best epoch came at the end: still improving
        pace = (f", about {format_duration(max(1, round(epochs_done * epoch_seconds)))} more at this run's pace of "
                f"{format_duration(max(1, round(epoch_seconds)))} per epoch" if epoch_seconds else "")
        return (f"train longer: the validation loss was still falling at epoch {epochs_done}; try --epochs "
                f"{2 * epochs_done} (epochs={2 * epochs_done} in ImageJ){pace}.")
    return (f"the validation loss had levelled off (best epoch {best_epoch} of {epochs_done}): try a larger "
            f"--patch-size (patch_size in ImageJ; now {patch_size}) or more planes (now {planes}); or a blur does as well on these images.")


def image_advice(model_warned: bool) -> str:
    """What to try when a model does no better than a blur on a new image; ``model_warned``: its training's verdict warned too."""
    if model_warned:
        return ("the model was already no better than a blur on its own held-out pixels (imagej-n2v info MODEL says "
                "what its training advised): train it longer, or use a blur, which does as well here.")
    return ("this model may not suit this image (another channel, microscope or noise): train a model on images "
            "like it, or use a blur, which does as well here.")
