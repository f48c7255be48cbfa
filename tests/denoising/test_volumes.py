"""Denoising with a 3D model: each frame and channel a volume, every 2D guarantee kept."""

import numpy as np
import pytest
import tifffile

from imagej_n2v import api
from imagej_n2v.cli import main
from imagej_n2v.config import DenoiseConfig
from imagej_n2v.data.stack import PlaneStack
from imagej_n2v.data.tiff_io import read_image, write_image
from imagej_n2v.denoising.commands import denoise_stack
from imagej_n2v.denoising.inference import load_denoiser
from imagej_n2v.denoising.volumes import denoise_volume, volume_tiling
from imagej_n2v.errors import InputError
from tests.conftest import CALIBRATION


@pytest.fixture(scope="module")
def volume_output(tiny_3d_model, volume_stack):
    return api.denoise(volume_stack.noisy, volume_stack.axes, tiny_3d_model)


def test_each_frame_and_channel_is_denoised_as_a_volume(tiny_3d_model, volume_stack, volume_output):
    assert volume_output.shape == volume_stack.noisy.shape and volume_output.dtype == np.uint16
    denoiser = load_denoiser(tiny_3d_model)
    stack = PlaneStack(volume_stack.noisy, volume_stack.axes)
    for t in range(stack.frames):
        for c in range(stack.channels):
            volume = stack.volume(t, c)
            expected = denoise_volume(denoiser, volume, slice(3, 29), volume_tiling(denoiser, (8, 32, 26), None, False, "x"))
            np.testing.assert_allclose(volume_output[t, :, c], np.clip(np.round(expected), 0, 65535), atol=1)
    assert not np.array_equal(volume_output, volume_stack.noisy)


def test_zero_columns_stay_zero_and_values_keep_their_units(volume_stack, volume_output):
    assert not volume_output[..., :3].any() and not volume_output[..., -3:].any()
    for c in range(2):  # channels 10x apart each keep their own brightness
        noisy = volume_stack.noisy[:, :, c, :, 3:-3].astype(float).mean()
        assert volume_output[:, :, c, :, 3:-3].mean() == pytest.approx(noisy, rel=0.05)


def test_channels_not_chosen_are_copied_and_frames_chosen(tiny_3d_model, volume_stack, volume_output):
    out = api.denoise(volume_stack.noisy, volume_stack.axes, tiny_3d_model, channels="2", frames="2")
    assert out.shape == (1, 8, 2, 32, 32)
    np.testing.assert_array_equal(out[0, :, 0], volume_stack.noisy[1, :, 0])
    np.testing.assert_array_equal(out[0, :, 1], volume_output[1, :, 1])


def test_a_run_of_planes_is_the_same_as_in_the_whole_stack(tiny_3d_model, volume_stack, volume_output):
    """A cluster's unit of work: the planes of a run, even one that starts inside a frame."""
    stack = PlaneStack(volume_stack.noisy, volume_stack.axes)
    run = list(denoise_stack(load_denoiser(tiny_3d_model), stack, DenoiseConfig(), planes=slice(10, 21)).planes)
    whole = volume_output.reshape(-1, 32, 32)
    np.testing.assert_array_equal(np.stack(run), whole[10:21])


def test_32_bit_output_and_float_input(tiny_3d_model, volume_stack, volume_output):
    out = api.denoise(volume_stack.noisy.astype(np.float32), volume_stack.axes, tiny_3d_model)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, volume_output, atol=0.5 + 1e-3)


def test_an_image_without_z_or_with_too_few_slices_is_refused(tiny_3d_model, volume_stack):
    with pytest.raises(InputError, match=r"has no Z axis .* 3D model that denoises z-stacks"):
        api.denoise(volume_stack.noisy[:, 0], "TCYX", tiny_3d_model)
    with pytest.raises(InputError, match=r"has 2 slices, fewer than the 4 the 3D model tiny3d needs"):
        api.denoise(volume_stack.noisy[:, :2], "TZCYX", tiny_3d_model)


def test_cli_keeps_axes_and_calibration(tiny_3d_model, volume_stack, tmp_path):
    source = write_image(tmp_path / "zstack.tif", volume_stack.noisy, volume_stack.axes, CALIBRATION)
    assert main(["--quiet", "denoise", str(source), "--model", str(tiny_3d_model), "--output", str(tmp_path / "out")]) == 0
    result = read_image(tmp_path / "out" / "zstack_denoised.tif")
    assert result.axes == "TZCYX" and result.calibration.z_spacing == CALIBRATION.z_spacing
    assert result.calibration.pixel_width == pytest.approx(CALIBRATION.pixel_width)
    with tifffile.TiffFile(tmp_path / "out" / "zstack_denoised.tif") as tif:
        assert tif.series[0].shape == volume_stack.noisy.shape


@pytest.fixture(scope="module")
def deep_volume():
    """A 3-channel-free ZYX uint16 volume deep enough to be cut in Z: 56 slices of 56x60."""
    from imagej_n2v.data.synthetic import make_stack

    stack = make_stack(frames=1, slices=56, height=56, width=60, seed=5)
    return stack.noisy


def test_volumes_in_windows_equal_the_whole_volume(tiny_3d_model, deep_volume):
    """Z chunks and XY tiles through the shared tiler: within 1 grey level of the whole volume, for sides
    that do not divide it."""
    whole = api.denoise(deep_volume, "ZYX", tiny_3d_model)
    denoiser = load_denoiser(tiny_3d_model)
    smallest = 2 * denoiser.context + denoiser.div_by
    assert deep_volume.shape[0] > smallest  # so Z is cut too
    for side in (smallest, smallest + 4):
        tiling = volume_tiling(denoiser, deep_volume.shape, side, False, "x")
        assert tiling.tile == (side,) * 3
        tiled = api.denoise(deep_volume, "ZYX", tiny_3d_model, tile_size=side)
        assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1
    float_whole = api.denoise(deep_volume, "ZYX", tiny_3d_model, bit_depth=32)
    float_tiled = api.denoise(deep_volume, "ZYX", tiny_3d_model, bit_depth=32, tile_size=smallest)
    np.testing.assert_allclose(float_tiled, float_whole, rtol=1e-4, atol=1e-2)


def test_a_tile_size_below_the_networks_context_is_refused(tiny_3d_model, deep_volume):
    with pytest.raises(InputError, match="tile_size must be at least"):
        api.denoise(deep_volume, "ZYX", tiny_3d_model, tile_size=8)


def test_tta_averages_a_3d_model_over_the_yx_orientations(tiny_3d_model, volume_stack, volume_output):
    out = api.denoise(volume_stack.noisy, volume_stack.axes, tiny_3d_model, tta=True)
    assert out.shape == volume_output.shape and not np.array_equal(out, volume_output)
    assert np.abs(out.astype(int) - volume_output.astype(int)).mean() < volume_stack.noisy.std()
