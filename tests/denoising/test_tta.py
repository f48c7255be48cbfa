"""Test-time augmentation: each orientation turned back before the mean, struct masks respected,
and on the dome a result at least as close to the clean signal as without it."""

import numpy as np
import pytest

from imagej_n2v.data.synthetic import psnr
from imagej_n2v.denoising.tta import averaged, model_orientations
from imagej_n2v.models.folder import ModelDescription


def test_an_equivariant_network_is_unchanged_and_a_directed_one_is_averaged():
    batch = np.random.default_rng(0).random((2, 8, 12, 1)).astype(np.float32)  # not square: turns swap Y and X
    np.testing.assert_allclose(averaged(lambda x: x * 2, list(range(8)))(batch), batch * 2, rtol=1e-6)
    seen = []

    def rows_only(x):  # sees its input's row number: not the same in every orientation
        seen.append(x.shape)
        return np.broadcast_to(np.arange(x.shape[1], dtype=np.float32)[None, :, None, None], x.shape).copy()

    result = averaged(rows_only, list(range(8)))(batch)
    assert {s[1:3] for s in seen} == {(8, 12), (12, 8)}
    rows = np.arange(8, dtype=np.float32)[:, None]
    columns = np.arange(12, dtype=np.float32)[None, :]
    # 2 of 8 as is, 2 upside down (7 - y), 2 by rows from either side of the turned plane (x, 11 - x)
    expected = (2 * rows + 2 * (7 - rows) + 2 * columns + 2 * (11 - columns)) / 8
    np.testing.assert_allclose(result[0, ..., 0], np.broadcast_to(expected, (8, 12)), rtol=1e-6)


def test_a_structn2v_model_is_averaged_only_over_orientations_that_keep_its_mask():
    rows = ModelDescription(folder=None, config={"structN2Vmask": [[0, 0, 0], [1, 1, 1], [0, 0, 0]]})
    assert model_orientations(rows) == [0, 2, 4, 6]
    assert model_orientations(ModelDescription(folder=None, config={})) == list(range(8))


@pytest.mark.slow
def test_tta_on_the_dome_is_no_worse_than_one_pass(quality_model, dome_stack):
    from imagej_n2v.denoising.inference import load_denoiser

    denoiser = load_denoiser(quality_model)
    kept = (Ellipsis, slice(10, -10))

    def result(tta: bool) -> float:
        return psnr(dome_stack.clean[kept], denoiser.denoise(dome_stack.noisy, dome_stack.axes, bit_depth=32, tta=tta)[kept])

    plain, turned = result(False), result(True)
    assert turned >= plain, (turned, plain)
