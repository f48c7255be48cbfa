"""Quality on a real image at equal training: never below n2v's own loop (issue 23).

The short version of ``make bench-quality``: one image (neuron-4Ch's phalloidin channel, a
clean reference made noisy at 5 photons), two seeds, both loops trained with the same network,
patch, batch and steps. It fails when imagej-n2v's mean falls more than ``TOLERANCE_DB`` below n2v's own.
One seed is a lottery at this budget (measured, 60 steps: n2v's own 31.61 / 27.39 / 31.30 dB over seeds
0-2, ours 30.97 / 33.49 for seeds 0-1), so the means of two are compared, not one run with another.
"""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchmarks import quality_methods as methods
from benchmarks.quality_data import make_noisy

TOLERANCE_DB = 0.3
SEEDS = (0, 1)
EQUAL = {"epochs": 3, "steps": 20, "batch_size": 16, "patch_size": 64, "precision": "fp32", "patience": 3}
CACHE = Path(__file__).resolve().parents[2] / "bench-output" / "quality-data"


@pytest.fixture(scope="module")
def phalloidin():
    """The sample image, fetched once with pip download into the ignored bench-output/ folder."""
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        return make_noisy("phalloidin", 5.0, CACHE)
    except subprocess.CalledProcessError:
        pytest.skip("pip download of ndev-sampledata failed (no package index reachable)")


@pytest.mark.slow
def test_ours_is_not_below_n2vs_own_loop_at_equal_steps(phalloidin):
    theirs = [methods.n2v_own(phalloidin, EQUAL, seed=seed)["psnr"] for seed in SEEDS]
    ours = [methods.ours(phalloidin, EQUAL, seed=seed)["psnr"] for seed in SEEDS]
    noisy = methods.score(phalloidin, phalloidin.noisy)
    assert min(theirs) > noisy + 8  # both trained (a broken loop would not gain this much)
    assert np.mean(ours) >= np.mean(theirs) - TOLERANCE_DB, (ours, theirs)
