"""Channels 100x apart and bleaching frames: each plane keeps its mean, gains, and stays its own."""

import numpy as np
import pytest
import tifffile

from imagej_n2v import api
from imagej_n2v.cli import main
from imagej_n2v.data.synthetic import make_stack
from tests.baselines import BEST_GAUSSIAN_GAP_DB, BLOCK_TOLERANCE, MARGIN_DB, best_gaussian_gains, block_errors, gains
from tests.conftest import CHANNEL_BRIGHTNESS

pytestmark = pytest.mark.slow


def _read(path):
    with tifffile.TiffFile(path) as tif:
        return tif.series[0].axes, tif.imagej_metadata, tif.asarray()


@pytest.fixture(scope="module")
def channels_output(tmp_path_factory, quality_model, input_files):
    """channels.tif (TCYX: 3 frames halving in brightness, 3 channels 100x apart) denoised via the CLI."""
    folder = tmp_path_factory.mktemp("channels_out")
    assert main(["--quiet", "denoise", str(input_files.channels), "--model", str(quality_model),
                 "--output", str(folder)]) == 0
    return folder / "channels_denoised.tif"


def test_axes_channel_order_and_composite_display_are_kept(channels_output, input_files):
    axes, meta, result = _read(channels_output)
    in_axes, in_meta, noisy = _read(input_files.channels)
    assert axes == in_axes == "TCYX"
    assert result.shape == noisy.shape and result.dtype == np.uint16
    assert meta["mode"] == "composite"
    for lut, in_lut in zip(meta["LUTs"], in_meta["LUTs"], strict=True):
        np.testing.assert_array_equal(lut, in_lut)
    means = result.mean(axis=(0, 2, 3))
    assert means[0] < means[1] < means[2]  # channel order: dim, middle, bright


def test_every_channel_and_frame_keeps_its_mean(channels_output, channel_stack):
    _, _, result = _read(channels_output)
    clean = channel_stack.clean
    for t in range(clean.shape[0]):
        for c in range(clean.shape[1]):
            change = result[t, c].mean(dtype=np.float64) / clean[t, c].mean(dtype=np.float64) - 1
            assert abs(change) < 0.03, f"frame {t + 1}, channel {c + 1}: mean moved by {change:+.1%}"
    errors = block_errors(result, clean)  # not just the plane's mean: each part of it
    assert errors.max() < BLOCK_TOLERANCE, f"block mean errors by plane: {errors.round(3)}"


def test_each_plane_keeps_the_noisy_planes_mean_exactly(quality_model, channel_stack):
    """The per-plane path removes the network's global offset: N2V changes noise, not brightness."""
    result = api.denoise(channel_stack.noisy, channel_stack.axes, quality_model, bit_depth=32)
    out_means = result.mean(axis=(-2, -1), dtype=np.float64)
    in_means = channel_stack.noisy.mean(axis=(-2, -1), dtype=np.float64)
    np.testing.assert_allclose(out_means, in_means, rtol=1e-4)
    # the offset removal alone would give any output the right plane means; the parts must fit too
    errors = block_errors(result, channel_stack.clean)
    assert errors.max() < BLOCK_TOLERANCE, f"block mean errors by plane: {errors.round(3)}"


def test_every_channel_and_frame_gains_the_margin_near_the_best_blur(channels_output, channel_stack):
    _, _, result = _read(channels_output)
    clean, noisy = channel_stack.clean, channel_stack.noisy
    gained = gains(clean, noisy, result).reshape(clean.shape[:2])
    blur = best_gaussian_gains(clean, noisy).reshape(clean.shape[:2])
    report = f"PSNR gains (dB) by frame x channel, N2V:\n{gained.round(2)}\nbest Gaussian:\n{blur.round(2)}"
    assert gained.min() >= MARGIN_DB, report
    assert (gained >= blur - BEST_GAUSSIAN_GAP_DB).all(), report
    # the dimmest plane (channel 1, last frame: 800x below the brightest) gains like the others
    assert gained[-1, 0] >= 0.8 * np.median(gained), report


def test_a_structure_in_one_channel_does_not_appear_in_another(quality_model):
    structured = make_stack(frames=1, slices=2, channels=1, height=64, width=64, brightness=(5000.0,), seed=7)
    flat = np.random.default_rng(8).normal(1000, 120, structured.noisy.shape)
    data = np.stack([structured.noisy, np.clip(np.rint(flat), 0, 65535).astype(np.uint16)], axis=1)  # ZCYX
    result = api.denoise(data, "ZCYX", quality_model, bit_depth=32)
    for z in range(data.shape[0]):
        own = np.corrcoef(result[z, 0].ravel(), structured.clean[z].ravel())[0, 1]
        leak = np.corrcoef(result[z, 1].ravel(), structured.clean[z].ravel())[0, 1]
        assert own > 0.9, f"slice {z + 1}: channel 1 does not follow its own structure (r={own:.2f})"
        assert abs(leak) < 0.1, f"slice {z + 1}: channel 1's structure leaked into channel 2 (r={leak:.2f})"
        assert abs(result[z, 1].mean() / 1000 - 1) < 0.03


def test_unselected_channels_pass_through_bit_exact(quality_model, input_files, channels_output, tmp_path):
    assert main(["--quiet", "denoise", str(input_files.channels), "--model", str(quality_model),
                 "--output", str(tmp_path), "--channels", "1,3"]) == 0
    axes, _, partial = _read(tmp_path / "channels_denoised.tif")
    _, _, noisy = _read(input_files.channels)
    _, _, full = _read(channels_output)
    assert axes == "TCYX" and partial.shape == noisy.shape
    np.testing.assert_array_equal(partial[:, 1], noisy[:, 1])
    for c in (0, 2):
        assert not np.array_equal(partial[:, c], noisy[:, c])
        assert np.abs(partial[:, c].astype(np.int64) - full[:, c]).max() <= 1


def test_channel_list_out_of_range_is_a_clear_error(quality_model, input_files, tmp_path, capsys):
    code = main(["denoise", str(input_files.channels), "--model", str(quality_model),
                 "--output", str(tmp_path), "--channels", "4"])
    assert code == 2
    assert "channel list asks for channel 4, but the image has 3 channels" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_channel_brightness_really_differs(channel_stack):
    """Guard for the fixtures: the test data is what issue #7 describes."""
    peaks = channel_stack.clean[0].max(axis=(-2, -1))
    assert peaks[2] / peaks[0] == pytest.approx(CHANNEL_BRIGHTNESS[2] / CHANNEL_BRIGHTNESS[0], rel=0.01)
    frame_means = channel_stack.clean.mean(axis=(1, 2, 3))
    np.testing.assert_allclose(frame_means[1:] / frame_means[:-1], 0.5, rtol=0.01)
