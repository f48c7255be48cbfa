"""Tiled prediction with a real trained model: the same output as one network call per plane,
no seam, progress per tile, and a tile size below the network's reach refused in one sentence."""

from __future__ import annotations

import re
import resource
import subprocess
import sys

import numpy as np
import pytest

from imagej_n2v.config import DenoiseConfig
from imagej_n2v.data.bands import whole
from imagej_n2v.data.stack import PlaneStack
from imagej_n2v.data.synthetic import make_stack
from imagej_n2v.denoising.commands import denoise_stack
from imagej_n2v.denoising.inference import Denoiser, load_denoiser
from imagej_n2v.denoising.tiling import plan_tiles
from imagej_n2v.errors import InputError

TILE_SIZES = (52, 60, 76, 100)
"""For the tiny model (kernel 3, depth 2: 24 pixels of context, tiles of 52 at least); none divides the planes."""


@pytest.fixture(scope="module")
def denoiser(tiny_model) -> Denoiser:
    return load_denoiser(tiny_model)


@pytest.fixture(scope="module")
def large_planes():
    """Two 150x130 uint16 planes with zero edge columns: larger than every tile size tried."""
    return make_stack(frames=2, slices=1, height=150, width=130, strip=5, seed=3)


def _denoise(denoiser: Denoiser, array: np.ndarray, axes: str, **settings) -> np.ndarray:
    result = denoise_stack(denoiser, PlaneStack(array, axes), DenoiseConfig(**settings))
    return np.stack([whole(plane) for plane in result.planes])


@pytest.mark.parametrize("tile_size", TILE_SIZES)
def test_tiled_16_bit_output_is_within_one_grey_level_of_untiled(denoiser, large_planes, tile_size):
    whole = _denoise(denoiser, large_planes.noisy, large_planes.axes)
    tiled = _denoise(denoiser, large_planes.noisy, large_planes.axes, tile_size=tile_size)
    assert tiled.dtype == whole.dtype == np.uint16
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1
    assert (whole[:, :, :5] == 0).all() and (tiled[:, :, :5] == 0).all()  # zero columns stay zero


@pytest.mark.parametrize("tile_size", (52, 76))
def test_tiled_32_bit_output_differs_from_untiled_by_float_rounding_only_and_shows_no_seam(denoiser, large_planes,
                                                                                           tile_size):
    noisy = large_planes.noisy.astype(np.float32) * np.float32(0.01)
    whole = _denoise(denoiser, noisy, large_planes.axes)
    tiled = _denoise(denoiser, noisy, large_planes.axes, tile_size=tile_size)
    difference = np.abs(tiled - whole)
    scale = np.abs(whole).max()
    assert difference.max() <= 8 * np.finfo(np.float32).eps * scale
    # no seam: the rows and columns where one tile's core meets the next differ no more than elsewhere
    kept = whole.shape[-2], whole.shape[-1] - 10
    cuts = {(axis, t.core[axis].start) for t in plan_tiles(kept, tile_size, denoiser.context, denoiser.div_by)
            for axis in (0, 1) if t.core[axis].start}
    assert cuts
    for axis, start in cuts:
        line = difference[:, start, 5:-5] if axis == 0 else difference[:, :, 5 + start]
        assert line.max() <= 8 * np.finfo(np.float32).eps * scale


@pytest.mark.parametrize("channels", [None, "2"])
def test_a_tiled_file_is_read_in_regions_and_written_in_bands_with_the_arrays_values(denoiser, tiny_model, tmp_path,
                                                                                      channels):
    """The streamed way (the plane read a window at a time, cores in a scratch file, bands to the TIFF)
    gives the values the Python API gives for the same array, and the file keeps the axes and calibration;
    a channel not chosen is passed through band by band."""
    from imagej_n2v import api
    from imagej_n2v.cli import main
    from imagej_n2v.data.bands import BandedPlane
    from imagej_n2v.data.tiff_io import Calibration, read_image, write_image

    stack = make_stack(frames=2, slices=1, channels=2, height=150, width=130, strip=5, seed=4)
    source = write_image(tmp_path / "in.tif", stack.noisy, stack.axes, Calibration(pixel_width=0.2, pixel_height=0.2,
                                                                                    unit="micron", frame_interval=5.0))
    options = ["--channels", channels] if channels else []
    assert main(["--quiet", "denoise", str(source), "--model", str(tiny_model), "--output", str(tmp_path / "out"),
                 "--tile-size", "60", "--check", "off", *options]) == 0
    written = read_image(tmp_path / "out" / "in_denoised.tif")
    expected = api.denoise(stack.noisy, stack.axes, tiny_model, tile_size=60, check="off", channels=channels)
    np.testing.assert_array_equal(np.asarray(written.stack.data), expected)
    assert written.axes == stack.axes
    assert (written.calibration.pixel_width, written.calibration.unit, written.calibration.frame_interval) == (
        0.2, "micron", 5.0)
    planes = denoise_stack(denoiser, read_image(source).stack, DenoiseConfig(tile_size=60, check="off")).planes
    assert all(isinstance(plane, BandedPlane) for plane in planes)


def test_too_little_context_shows_as_a_seam(tiny_model, large_planes):
    """The same comparison fails when tiles keep less context than the network sees: the checks can fail."""
    short = Denoiser(load_denoiser(tiny_model).description)
    short.context = 4
    whole = _denoise(short, large_planes.noisy, large_planes.axes)
    tiled = _denoise(short, large_planes.noisy, large_planes.axes, tile_size=60)
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() > 1


def test_planes_a_tile_holds_whole_keep_the_batched_path_byte_for_byte(denoiser, dome_stack):
    whole = _denoise(denoiser, dome_stack.noisy, dome_stack.axes)
    asked = _denoise(denoiser, dome_stack.noisy, dome_stack.axes, tile_size=64)
    assert whole.tobytes() == asked.tobytes()
    assert denoiser.tiling(64, 64).tile is None  # the memory budget never tiles a small plane


def test_each_tile_is_reported_in_order(denoiser, large_planes):
    seen = []
    result = denoise_stack(denoiser, PlaneStack(large_planes.noisy, large_planes.axes), DenoiseConfig(tile_size=60),
                           on_tile=lambda plane, done, total: seen.append((plane, done, total)))
    list(result.planes)
    total = seen[0][2]
    assert total > 1
    assert seen == [(plane, done, total) for plane in (1, 2) for done in range(1, total + 1)]


def test_a_tile_size_below_the_networks_reach_is_refused_in_one_sentence(denoiser, large_planes):
    with pytest.raises(InputError, match=r"tile_size must be at least 52 .* not 40\.$"):
        _denoise(denoiser, large_planes.noisy, large_planes.axes, tile_size=40)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the address-space limit is Linux's")
def test_running_out_of_memory_is_one_sentence_naming_tile_size_and_leaves_no_file(tiny_model, tmp_path):
    """A real out-of-memory: the CLI in a process limited to 3 GB of address space (TensorFlow loads in it),
    given a 3000x3000 plane whole (--tile-size above it), which needs 1.7 GB for one network call."""
    from imagej_n2v.data.tiff_io import write_image

    noisy = np.random.default_rng(0).poisson(100, (3000, 3000)).astype(np.uint16)
    source = write_image(tmp_path / "large.tif", noisy, "YX")
    output = tmp_path / "out"

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    run = subprocess.run([sys.executable, "-m", "imagej_n2v.cli", "denoise", str(source), "--model", str(tiny_model),
                          "--output", str(output), "--tile-size", "4096"],
                         preexec_fn=limit_memory, capture_output=True, text=True, timeout=600)
    assert run.returncode == 2, run.stderr[-2000:]
    message = run.stderr.strip().splitlines()[-1]
    assert "Traceback" not in run.stderr
    assert re.search(r"ran out of memory on a 3000x3000 plane \(1\.7 GB needed, [\d.]+ GB of free RAM seen\): "
                     r"give a smaller --tile-size \(tile_size in ImageJ\), e\.g\. 1500", message), message
    assert not output.exists() or not any(output.iterdir())
