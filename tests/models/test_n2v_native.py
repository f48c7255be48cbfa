"""Models written by n2v itself keep n2v's global normalisation and give n2v's own results."""

import contextlib
import io

import numpy as np
import pytest
import tifffile

from imagej_n2v.cli import main
from imagej_n2v.denoising.inference import load_denoiser
from imagej_n2v.models.folder import N2V_GLOBAL, describe_model
from tests.conftest import DOME_STRIP

pytestmark = pytest.mark.slow


def _n2v_predict(model_folder, planes: np.ndarray) -> np.ndarray:
    """n2v's own ``N2V.predict`` on each plane, loaded the way the seed notebook loads a model."""
    from n2v.models import N2V

    with contextlib.redirect_stdout(io.StringIO()):
        model = N2V(config=None, name=model_folder.name, basedir=str(model_folder.parent))
        return np.stack([model.predict(p.astype(np.float32), axes="YX") for p in planes])


def test_native_model_is_described_as_n2v(n2v_native_model):
    description = describe_model(n2v_native_model)
    assert description.metadata == {}
    assert description.normalization == N2V_GLOBAL
    assert description.global_std > 0


@pytest.mark.parametrize("right", [DOME_STRIP, DOME_STRIP + 1])  # width 52 and 51: with and without padding
def test_native_model_gives_n2vs_own_prediction(n2v_native_model, dome_stack, right):
    planes = dome_stack.noisy[0, :, :, DOME_STRIP:-right]  # ZYX, no zero strips
    expected = _n2v_predict(n2v_native_model, planes)
    denoiser = load_denoiser(n2v_native_model)

    as_float = denoiser.denoise(planes, "ZYX", bit_depth=32)
    assert as_float.dtype == np.float32 and as_float.shape == planes.shape
    assert np.abs(as_float - expected).max() < 0.05

    as_uint16 = denoiser.denoise(planes, "ZYX")
    reference = np.clip(np.rint(expected), 0, 65535)
    assert np.abs(as_uint16.astype(np.int64) - reference).max() <= 1
    assert not np.array_equal(as_uint16, planes)  # it did denoise


def test_native_model_through_the_cli_keeps_strips_zero(n2v_native_model, input_files, dome_stack, tmp_path):
    code = main(["--quiet", "denoise", str(input_files.dome), "--model", str(n2v_native_model),
                 "--output", str(tmp_path)])
    assert code == 0
    with tifffile.TiffFile(tmp_path / "dome_denoised.tif") as tif:
        assert tif.series[0].axes == "TZYX"
        result = tif.asarray()
    assert result.shape == dome_stack.noisy.shape and result.dtype == np.uint16
    assert not result[..., :DOME_STRIP].any() and not result[..., -DOME_STRIP:].any()
    kept = slice(DOME_STRIP, -DOME_STRIP)
    expected = _n2v_predict(n2v_native_model, dome_stack.noisy[1, :, :, kept])
    assert np.abs(result[1, :, :, kept].astype(np.int64) - np.clip(np.rint(expected), 0, 65535)).max() <= 1


def test_info_on_native_model(n2v_native_model, capsys):
    assert main(["info", str(n2v_native_model)]) == 0
    out = capsys.readouterr().out
    assert "n2v (native)" in out
    assert "global mean" in out
