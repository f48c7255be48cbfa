"""The blind-spot grid: every patch, 2D or 3D, gets its blind spots in n2v's own data wrapper."""

import contextlib
import io

import numpy as np
import pytest
from n2v.internals.N2V_DataWrapper import N2V_DataWrapper
from n2v.utils import n2v_utils
from n2v.utils.n2v_utils import pm_uniform_withCP

from imagej_n2v.training.masking import blind_spots, box_side, n2v_perc_pix


def _masked_per_patch(shape: tuple[int, ...], perc_pix: float, batches: int, batch: int = 4) -> np.ndarray:
    """Blind spots of every patch n2v's training wrapper makes from ``batches`` batches of random patches."""
    np.random.seed(0)
    x = np.random.rand(8, *shape, 1).astype(np.float32)
    y = np.concatenate([x, np.zeros_like(x)], axis=-1)
    with contextlib.redirect_stdout(io.StringIO()):
        wrapper = N2V_DataWrapper(x, y, batch, length=batches, perc_pix=perc_pix, shape=shape,
                                  value_manipulation=pm_uniform_withCP(5))
    counts = [wrapper[i][1][..., 1].reshape(batch, -1).sum(axis=1) for i in range(batches)]
    return np.concatenate(counts)


@pytest.mark.parametrize("shape", [(8, 32, 32), (4, 16, 16), (8, 64, 64), (32, 32), (8, 8)])
@pytest.mark.parametrize("perc_pix", [0.05, 0.198, 1.5, 10.0])
def test_every_patch_has_at_least_its_blind_spots(shape, perc_pix):
    counts = _masked_per_patch(shape, n2v_perc_pix(perc_pix, shape), batches=25)
    fewest, share = blind_spots(perc_pix, shape)
    assert fewest >= 1
    assert counts.min() >= fewest
    assert counts.mean() / np.prod(shape) == pytest.approx(share, rel=0.35)


def test_n2v_own_3d_grid_leaves_patches_without_blind_spots():
    """The fault fixed here, as n2v 0.3.3 has it: its 2D box side on 3D patches."""
    counts = _masked_per_patch((8, 32, 32), 0.198, batches=50)
    assert counts.min() == 0
    assert _masked_per_patch((8, 32, 32), n2v_perc_pix(0.198, (8, 32, 32)), batches=50).min() >= 1


def test_3d_hides_the_share_asked_for():
    """n2v's default 1.5 % hides 1 voxel in 4x4x4 (1.56 %) in 3D, not 1 in 8x8x8 (0.2 %) as n2v 0.3.3 does."""
    assert box_side(1.5, (8, 64, 64)) == 4
    assert blind_spots(1.5, (8, 64, 64)) == (8 * 64 * 64 // 64, 1 / 64)
    assert box_side(1.5, (64, 64)) == 8  # 2D: n2v's own grid
    assert n2v_perc_pix(1.5, (64, 64)) == 1.5


def test_validation_patches_all_have_blind_spots():
    shape = (4, 16, 16)
    x = np.random.default_rng(0).random((20, *shape, 1)).astype(np.float32)
    y = np.concatenate([x, np.zeros_like(x)], axis=-1)
    with contextlib.redirect_stderr(io.StringIO()):
        n2v_utils.manipulate_val_data(x, y, perc_pix=n2v_perc_pix(0.198, shape), shape=shape)
    assert y[..., 1].reshape(20, -1).sum(axis=1).min() >= blind_spots(0.198, shape)[0] >= 1
