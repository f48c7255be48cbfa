"""The verdict without ground truth, checked against the ground truth of synthetic stacks.

Predictors here are exact functions of the clean signal or of the masked input, so each one's
true MSE against the clean planes is known, and the verdict's ranking and gains can be compared
with it. The network's own verdict is checked in ``tests/training/test_quality_verdict.py``.
"""

import numpy as np
import pytest
from scipy import ndimage

from imagej_n2v.data.planes import plane_normalization
from imagej_n2v.data.synthetic import make_stack
from imagej_n2v.quality.blindspot import blind_blurs, held_out_errors, hide
from imagej_n2v.quality.noise import brightness, estimate_noise
from imagej_n2v.quality.verdict import BETTER, NOT_BETTER, WORSE_THAN_INPUT, assess, judge, warning


def _patches(seed: int, correlate_rows: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean) normalised 64x64 patches of eight 256x256 synthetic planes."""
    stack = make_stack(frames=1, slices=8, height=256, width=256, seed=seed)
    noisy, clean = stack.noisy.astype(np.float32), stack.clean
    if correlate_rows:  # noise summed over 3 neighbours along each row, as after a row-wise interpolation
        noise = noisy - clean
        noisy = clean + ndimage.uniform_filter1d(noise, 3, axis=-1) * np.sqrt(3)
    norms = [plane_normalization(p) for p in noisy]
    x = np.stack([n.apply(p) for n, p in zip(norms, noisy)])
    c = np.stack([n.apply(p) for n, p in zip(norms, clean)])
    cut = lambda a: np.concatenate([a[:, y : y + 64, z : z + 64] for y in range(0, 256, 64) for z in range(0, 256, 64)])
    return cut(x), cut(c)


@pytest.mark.parametrize("seed", [1, 2])
def test_noise_estimate_is_within_one_percent_of_the_truth(seed):
    noisy, clean = _patches(seed)
    model = estimate_noise(noisy)
    estimate = float(model.variance(brightness(noisy)).mean())
    truth = float(np.mean((noisy - clean) ** 2))
    assert abs(estimate / truth - 1) < 0.01, (estimate, truth)
    assert model.correlated is None


def test_noise_correlated_along_rows_is_named():
    noisy, _ = _patches(1, correlate_rows=True)
    assert estimate_noise(noisy).correlated == "rows"


def test_blurs_never_see_the_pixel_they_predict():
    rng = np.random.default_rng(0)
    patches = rng.normal(size=(2, 16, 16)).astype(np.float32)
    changed = patches.copy()
    changed[1, 0, 0] += 100  # a corner: where padding could have reflected it back
    changed[0, 7, 9] += 100
    for name, before in blind_blurs(patches).items():
        after = blind_blurs(changed)[name]
        assert after[1, 0, 0] == pytest.approx(before[1, 0, 0]) and after[0, 7, 9] == pytest.approx(before[0, 7, 9]), name


def test_hidden_pixels_get_a_visible_neighbour_and_nothing_else_changes():
    patches = np.arange(2 * 32 * 32, dtype=np.float32).reshape(2, 32, 32)  # every value tells where it came from
    masked, (p, y, x) = hide(patches, np.random.default_rng(0))
    assert len(p) == 2 * 16
    hidden = np.zeros(patches.shape, bool)
    hidden[p, y, x] = True
    assert np.array_equal(masked[~hidden], patches[~hidden])
    source = masked[p, y, x].astype(int) - p * 32 * 32
    sy, sx = source // 32, source % 32
    assert not hidden[p, sy, sx].any()  # no hidden pixel's value reaches the network
    assert (np.maximum(abs(sy - y), abs(sx - x)) <= 5).all() and ((sy != y) | (sx != x)).all()


def _true_gain(noisy: np.ndarray, clean: np.ndarray, result: np.ndarray) -> float:
    return float(10 * np.log10(np.mean((noisy - clean) ** 2) / np.mean((result - clean) ** 2)))


def test_verdict_agrees_with_the_truth():
    noisy, clean = _patches(1)
    rng = np.random.default_rng(0)  # a good denoiser: the clean signal with a 40th of the noise variance (16 dB),
    # drawn anew: better than the best blur of these smooth planes (about 13 dB)
    smooth = (clean + rng.normal(size=clean.shape) * np.sqrt(np.mean((noisy - clean) ** 2) / 40)).astype(np.float32)

    good = assess(noisy, lambda masked: smooth)
    assert good.category == BETTER and warning(good, "advice") is None
    assert abs(good.gain_db - _true_gain(noisy, clean, smooth)) < 1.5, good

    blurs = blind_blurs(noisy)
    best = min(blurs, key=lambda k: np.mean((blurs[k] - clean) ** 2))
    as_blur = assess(noisy, lambda masked: blind_blurs(masked)[best])  # exactly a blind blur
    assert as_blur.category == NOT_BETTER and "no better than a blur" in warning(as_blur, "advice")
    assert abs(as_blur.blur_gain_db - _true_gain(noisy, clean, blurs[as_blur.blur])) < 1.5, as_blur

    neighbour = assess(noisy, lambda masked: np.roll(masked, 1, axis=2))  # a noisy neighbour: twice the noise
    assert neighbour.category == WORSE_THAN_INPUT and "WORSE than the noisy input" in warning(neighbour, "advice")
    assert neighbour.gain_db < 0


def test_too_few_pixels_give_no_verdict():
    noisy, _ = _patches(1)
    assert judge(held_out_errors(noisy[:2, :32, :32], lambda m: m, passes=1)) is None
