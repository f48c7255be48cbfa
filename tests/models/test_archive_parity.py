"""An exported archive gives our result in the reference runner (issue 26).

bioimageio.core is the runner deepImageJ, napari's bioimage.io plugin and the BioImage Model Zoo
follow. Its prediction on our archive must equal ``imagej-n2v denoise`` within one grey level on
a bright plane, the same plane 10x dimmer and with another offset (what n2v's global scheme got
wrong: 17.5 dB from a 29.7 dB input, the mean +73 %), with zero edge strips and an all-zero plane,
for a plain, an N2V2 and a structN2V model.
"""

from __future__ import annotations

import warnings
import zipfile

import numpy as np
import pytest
import tifffile
import yaml

from imagej_n2v.cli import main
from imagej_n2v.config import TrainConfig
from imagej_n2v.data.stack import PlaneStack
from imagej_n2v.data.tiff_io import write_image
from imagej_n2v.training.train import train_model
from tests.conftest import DOME_STRIP, TINY_TRAINING

pytestmark = pytest.mark.slow

KINDS = {"plain": {}, "n2v2": {"n2v2": True}, "struct": {"struct_mask": "rows"}}


@pytest.fixture(scope="module", params=list(KINDS))
def exported(request, tmp_path_factory, dome_stack):
    """A tiny real training of each kind, with its archive."""
    folder = tmp_path_factory.mktemp("exported") / request.param
    config = TrainConfig(**TINY_TRAINING, **KINDS[request.param])
    return train_model([PlaneStack(dome_stack.noisy, dome_stack.axes)], folder, config).archive


def _bioimageio_predict(archive, planes: np.ndarray) -> np.ndarray:
    """bioimageio.core's own prediction pipeline, one plane at a time (float32, the planes' units)."""
    import xarray as xr
    from bioimageio.core import load_resource_description
    from bioimageio.core.prediction_pipeline import create_prediction_pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tag checks that need the web; keras device management
        with create_prediction_pipeline(load_resource_description(archive)) as pipeline:
            return np.stack([
                pipeline.forward(xr.DataArray(p[None, ..., None].astype(np.float32), dims=("b", "y", "x", "c")))[0]
                .values[0, ..., 0]
                for p in planes
            ])


def _test_planes(dome_stack) -> np.ndarray:
    """ZYX: a bright dome plane, it 10x dimmer, it with +500 on its data area, and an all-zero plane."""
    bright = dome_stack.noisy[1, 1]
    data = bright > 0
    dim = np.rint(bright / 10).astype(np.uint16)
    offset = np.where(data, bright.astype(np.int64) + 500, 0).astype(np.uint16)
    return np.stack([bright, dim, offset, np.zeros_like(bright)])


def test_the_reference_runner_gives_what_imagej_n2v_denoise_gives(exported, dome_stack, tmp_path):
    planes = _test_planes(dome_stack)
    source = write_image(tmp_path / "planes.tif", planes, "ZYX")
    assert main(["--quiet", "denoise", str(source), "--model", str(exported), "--output", str(tmp_path)]) == 0
    ours = tifffile.imread(tmp_path / "planes_denoised.tif").astype(np.int64)
    theirs = _bioimageio_predict(exported, planes)

    assert np.abs(np.clip(np.rint(theirs), 0, 65535) - ours).max() <= 1
    assert np.abs(theirs - ours).max() <= 1
    assert not np.array_equal(ours, planes)  # it did denoise
    assert (theirs[:, :, :DOME_STRIP] == 0).all() and (theirs[:, :, -DOME_STRIP:] == 0).all()
    assert (theirs[3] == 0).all()
    kept = slice(DOME_STRIP, -DOME_STRIP)
    for noisy, result in zip(planes[:3], theirs[:3]):  # each plane keeps its own level: none is n2v's global one
        assert abs(result[:, kept].mean() / noisy[:, kept].mean() - 1) < 0.01


def test_the_archive_declares_no_steps_and_tests_a_whole_training_plane(exported, dome_stack):
    with zipfile.ZipFile(exported) as zf:
        rdf = yaml.safe_load(zf.read("rdf.yaml"))
        with zf.open("test_input.npy") as handle:
            test_input = np.load(handle)
    assert "preprocessing" not in rdf["inputs"][0] and "postprocessing" not in rdf["outputs"][0]
    assert list(rdf["weights"]) == ["tensorflow_saved_model_bundle"]
    assert test_input.shape == (1, 64, 64, 1)
    planes = dome_stack.noisy.reshape(-1, 64, 64)
    assert any(np.array_equal(test_input[0, ..., 0], p) for p in planes)


def test_bioimageio_test_model_passes(exported):
    from bioimageio.core.resource_tests import test_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = test_model(exported)
    assert [s["name"] for s in summary if s["status"] != "passed"] == []
    assert any("reproduce test outputs" in s["name"] for s in summary)
