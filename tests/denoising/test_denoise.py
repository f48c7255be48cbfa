"""Denoising end to end through the CLI: the file ImageJ gets, its strips, and its quality."""

import shutil

import numpy as np
import pytest
import tifffile

from imagej_n2v import api
from imagej_n2v.cli import main
from imagej_n2v.config import TrainConfig
from imagej_n2v.data.stack import PlaneStack
from imagej_n2v.data.tiff_io import read_image
from imagej_n2v.denoising.inference import Denoiser, load_denoiser
from imagej_n2v.models.folder import describe_model
from imagej_n2v.training.train import train_model
from tests.baselines import BEST_GAUSSIAN_GAP_DB, BLOCK_TOLERANCE, MARGIN_DB, best_gaussian_gains, block_errors, gains
from tests.conftest import CALIBRATION, DOME_STRIP, TINY_TRAINING

pytestmark = pytest.mark.slow

KEPT = slice(DOME_STRIP, -DOME_STRIP)


def _denoise(*args) -> int:
    return main(["--quiet", "denoise", *map(str, args)])


@pytest.fixture(scope="module")
def dome_output(tmp_path_factory, quality_model, input_files):
    """The dome denoised through the CLI with the defaults (16-bit, all frames)."""
    folder = tmp_path_factory.mktemp("dome_out")
    assert _denoise(input_files.dome, "--model", quality_model, "--output", folder) == 0
    return folder / "dome_denoised.tif"


def _read(path) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        return tif.asarray()


def test_output_is_a_uint16_tzyx_hyperstack_of_the_input_shape(dome_output, dome_stack):
    with tifffile.TiffFile(dome_output) as tif:
        assert tif.is_imagej
        assert tif.series[0].axes == "TZYX"
        assert tif.imagej_metadata["frames"] == 2 and tif.imagej_metadata["slices"] == 3
        result = tif.asarray()
    assert result.dtype == np.uint16
    assert result.shape == dome_stack.noisy.shape


def test_calibration_carries_over(dome_output):
    cal = read_image(dome_output).calibration
    assert cal.unit == CALIBRATION.unit
    assert cal.pixel_width == pytest.approx(CALIBRATION.pixel_width)
    assert cal.pixel_height == pytest.approx(CALIBRATION.pixel_height)
    assert cal.z_spacing == pytest.approx(CALIBRATION.z_spacing)
    assert cal.frame_interval == pytest.approx(CALIBRATION.frame_interval)


def test_strips_stay_zero_and_the_data_is_closer_to_the_clean_signal(dome_output, dome_stack):
    result = _read(dome_output)
    assert not result[..., :DOME_STRIP].any() and not result[..., -DOME_STRIP:].any()
    assert result[..., KEPT].min() > 0  # the kept area is data, not zeros
    clean, noisy = dome_stack.clean[..., KEPT], dome_stack.noisy[..., KEPT]
    gained, blur = gains(clean, noisy, result[..., KEPT]), best_gaussian_gains(clean, noisy)
    report = f"PSNR gains (dB) per plane: N2V {gained.round(2)}, best Gaussian {blur.round(2)}"
    assert gained.min() >= MARGIN_DB, report
    assert (gained >= blur - BEST_GAUSSIAN_GAP_DB).all(), report


def test_values_stay_in_the_inputs_units(dome_output, dome_stack):
    """No rescaling: each plane's mean, and the mean of each part of it, stays where the clean signal's is."""
    result = _read(dome_output)[..., KEPT].astype(np.float64)
    clean = dome_stack.clean[..., KEPT]
    ratio = result.mean(axis=(-2, -1)) / clean.mean(axis=(-2, -1))
    np.testing.assert_allclose(ratio, 1.0, atol=0.03)
    assert block_errors(result, clean).max() < BLOCK_TOLERANCE, block_errors(result, clean).round(3)


def test_32_bit_output_is_the_unrounded_16_bit_output(quality_model, input_files, dome_output, tmp_path):
    assert _denoise(input_files.dome, "--model", quality_model, "--output", tmp_path, "--bit-depth", "32") == 0
    as_float = _read(tmp_path / "dome_denoised.tif")
    assert as_float.dtype == np.float32
    rounded = np.clip(np.rint(as_float), 0, 65535)
    assert np.abs(rounded - _read(dome_output)).max() <= 1
    assert np.abs(as_float - rounded).max() > 0.01  # it really kept fractions


def test_chosen_frames_only(quality_model, input_files, dome_output, tmp_path):
    assert _denoise(input_files.dome, "--model", quality_model, "--output", tmp_path, "--frames", "2") == 0
    with tifffile.TiffFile(tmp_path / "dome_denoised.tif") as tif:
        # ImageJ has no length-1 axes: one frame of a TZYX stack is a Z stack
        assert tif.series[0].axes == "ZYX"
        one_frame = tif.asarray()
    assert one_frame.shape == (3, 64, 64)
    assert np.abs(one_frame.astype(np.int64) - _read(dome_output)[1]).max() <= 1
    assert _denoise(input_files.dome, "--model", quality_model, "--output", tmp_path / "two", "--frames", "1-2") == 0
    assert np.abs(_read(tmp_path / "two" / "dome_denoised.tif").astype(np.int64) - _read(dome_output)).max() <= 1


def test_plain_tiff_saved_as_tzxy_is_read_with_axes_and_written_as_tzyx(quality_model, dome_stack, dome_output, tmp_path):
    """The seed loaded its dome as TZXY; with --axes the output is a proper TZYX hyperstack."""
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.ascontiguousarray(np.swapaxes(dome_stack.noisy, 2, 3)), photometric="minisblack")
    out = tmp_path / "out"
    assert _denoise(plain, "--model", quality_model, "--axes", "TZXY", "--output", out) == 0
    with tifffile.TiffFile(out / "plain_denoised.tif") as tif:
        assert tif.series[0].axes == "TZYX"
        result = tif.asarray()
    assert np.abs(result.astype(np.int64) - _read(dome_output)).max() <= 1


def test_existing_output_is_kept_without_overwrite(quality_model, input_files, tmp_path, capsys):
    target = tmp_path / "dome_denoised.tif"
    target.write_bytes(b"keep me")
    assert _denoise(input_files.dome, "--model", quality_model, "--output", tmp_path) == 2
    assert "already exists" in capsys.readouterr().err
    assert target.read_bytes() == b"keep me"
    assert _denoise(input_files.dome, "--model", quality_model, "--output", tmp_path, "--overwrite") == 0
    assert _read(target).shape == (2, 3, 64, 64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dome_denoised.tif"]  # no temporary files


def test_api_gives_the_cli_result_and_batching_does_not_matter(quality_model, dome_stack, dome_output):
    one = api.denoise(dome_stack.noisy, "TZYX", quality_model, batch_planes=1)
    many = api.denoise(dome_stack.noisy, "TZYX", quality_model, batch_planes=6)
    assert one.shape == dome_stack.noisy.shape and one.dtype == np.uint16
    cli = _read(dome_output)
    assert np.abs(one.astype(np.int64) - cli).max() <= 1
    assert np.abs(many.astype(np.int64) - cli).max() <= 1


def test_api_keeps_any_axes_order(quality_model, dome_stack):
    zyx = dome_stack.noisy[0]
    yxz = np.moveaxis(zyx, 0, -1)
    reference = api.denoise(zyx, "ZYX", quality_model)
    result = api.denoise(yxz, "YXZ", quality_model)
    assert result.shape == yxz.shape
    assert np.abs(np.moveaxis(result, -1, 0).astype(np.int64) - reference).max() <= 1


def test_bioimage_io_zip_gives_the_same_output_as_the_folder(quality_model, dome_stack):
    archive = quality_model / "quality.bioimage.io.zip"
    assert archive.is_file()
    from_folder = api.denoise(dome_stack.noisy, "TZYX", quality_model, bit_depth=32)
    from_zip = api.denoise(dome_stack.noisy, "TZYX", archive, bit_depth=32)
    np.testing.assert_allclose(from_zip, from_folder, atol=0.05)


def test_all_zero_plane_stays_zero(quality_model, dome_stack):
    data = dome_stack.noisy[0].copy()
    data[1] = 0
    result = api.denoise(data, "ZYX", quality_model)
    assert not result[1].any()
    assert result[0].any() and result[2].any()


def test_a_retrained_model_is_loaded_again(tiny_model, dome_stack, tmp_path):
    """Denoisers are cached per model; training the model again must not leave the old one in use."""
    stacks, folder, planes = [PlaneStack(dome_stack.noisy, dome_stack.axes)], tmp_path / "model", dome_stack.noisy[0]
    shutil.copytree(tiny_model, folder)
    first = load_denoiser(folder)
    assert load_denoiser(folder) is first  # warm: loaded and traced once
    before = first.denoise(planes, "ZYX", bit_depth=32)
    train_model(stacks, folder, TrainConfig(**TINY_TRAINING, seed=2), overwrite=True, export=False)
    second = load_denoiser(folder)
    assert second is not first
    after = second.denoise(planes, "ZYX", bit_depth=32)
    assert not np.allclose(after, before)
    np.testing.assert_array_equal(after, Denoiser(describe_model(folder)).denoise(planes, "ZYX", bit_depth=32))
