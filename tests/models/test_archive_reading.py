"""Archives denoise with the normalisation they declare (issue 26): n2v's global one for n2v's
exports, per plane for ours; what imagej-n2v cannot apply as the archive's other runners would is refused."""

from __future__ import annotations

import contextlib
import io
import shutil
import warnings
import zipfile

import numpy as np
import pytest
import yaml

from imagej_n2v.denoising.inference import load_denoiser
from imagej_n2v.errors import ModelError
from imagej_n2v.models.folder import N2V_GLOBAL, PER_PLANE, describe_model
from tests.conftest import DOME_STRIP

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def n2v_archive(tmp_path_factory, n2v_native_model, dome_stack):
    """n2v's own ``export_TF`` of a model n2v trained (its global scheme in rdf.yaml)."""
    from n2v.models import N2V

    folder = tmp_path_factory.mktemp("n2v_export") / "native"
    shutil.copytree(n2v_native_model, folder)
    test_image = dome_stack.noisy[0, 0, :52, DOME_STRIP:-DOME_STRIP].astype(np.float32)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = N2V(config=None, name=folder.name, basedir=str(folder.parent))
        model.export_TF(name="native", description="n2v's own", authors=["test"], test_img=test_image[..., np.newaxis], axes="YXC",
                        patch_shape=(32, 32))
    (archive,) = folder.glob("*.bioimage.io.zip")
    return archive


def _rewrite_rdf(archive, target, change) -> None:
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(target, "w") as out:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "rdf.yaml":
                rdf = yaml.safe_load(data)
                change(rdf)
                data = yaml.safe_dump(rdf).encode()
            out.writestr(item, data)


def test_an_n2v_archive_denoises_as_its_folder_with_n2vs_global_scheme(n2v_archive, n2v_native_model, dome_stack):
    description = describe_model(n2v_archive)
    assert description.normalization == N2V_GLOBAL
    assert description.global_mean == pytest.approx(describe_model(n2v_native_model).global_mean)
    planes = dome_stack.noisy[0]
    from_archive = load_denoiser(n2v_archive).denoise(planes, "ZYX", bit_depth=32)
    from_folder = load_denoiser(n2v_native_model).denoise(planes, "ZYX", bit_depth=32)
    assert np.abs(from_archive - from_folder).max() < 1e-3
    assert not np.array_equal(from_archive, planes)


def test_the_numbers_the_rdf_declares_are_the_ones_applied(n2v_archive, tmp_path):
    def double(rdf):
        for step in rdf["inputs"][0]["preprocessing"] + rdf["outputs"][0]["postprocessing"]:
            for key in ("mean", "std", "gain", "offset"):
                if key in step["kwargs"]:
                    step["kwargs"][key] = [2 * float(v) for v in step["kwargs"][key]]

    changed = tmp_path / "doubled.bioimage.io.zip"
    _rewrite_rdf(n2v_archive, changed, double)
    assert describe_model(changed).global_mean == pytest.approx(2 * describe_model(n2v_archive).global_mean)


def test_steps_imagej_n2v_cannot_apply_are_refused(n2v_archive, tmp_path):
    def scale_range(rdf):
        rdf["inputs"][0]["preprocessing"] = [{"name": "scale_range", "kwargs": {"mode": "per_sample", "axes": "yx"}}]

    changed = tmp_path / "range.bioimage.io.zip"
    _rewrite_rdf(n2v_archive, changed, scale_range)
    with pytest.raises(ModelError, match="declares the pre- and postprocessing 'scale_range, scale_linear'.*bioimageio.core"):
        describe_model(changed)


def test_our_archive_holds_the_folders_weights_and_is_per_plane(tiny_model):
    from imagej_n2v.models.folder import build_network

    description = describe_model(tiny_model / "tiny.bioimage.io.zip")
    assert description.normalization == PER_PLANE
    from_archive = build_network(description).get_weights()  # read from the SavedModel's variables, as data
    from_folder = build_network(describe_model(tiny_model)).get_weights()
    assert len(from_archive) == len(from_folder) > 0
    assert all(np.array_equal(a, b) for a, b in zip(from_archive, from_folder))


def test_an_older_archive_of_ours_declaring_the_global_scheme_is_still_denoised_per_plane(tiny_model, tmp_path):
    """Archives of earlier versions declared n2v's global steps around a U-Net trained per plane."""
    def global_steps(rdf):
        rdf["inputs"][0]["preprocessing"] = [{"name": "zero_mean_unit_variance",
                                              "kwargs": {"mode": "fixed", "axes": "yx", "mean": [500.0], "std": [90.0]}}]
        rdf["outputs"][0]["postprocessing"] = [{"name": "scale_linear",
                                                "kwargs": {"axes": "yx", "gain": [90.0], "offset": [500.0]}}]

    older = tmp_path / "older.bioimage.io.zip"
    _rewrite_rdf(tiny_model / "tiny.bioimage.io.zip", older, global_steps)
    description = describe_model(older)
    assert description.normalization == PER_PLANE
    assert description.global_mean == describe_model(tiny_model).global_mean  # the rdf's numbers are not taken
