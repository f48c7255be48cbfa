"""ImagePlus planes <-> numpy against the real ImageJ: dimension order, types, calibration."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from imagej_n2v.data.tiff_io import Calibration, read_image, write_image
from imagej_n2v.errors import InputError
from imagej_n2v.imagej.bridge.pixels import (
    ImagePlanes,
    image_stack,
    new_image,
    output_title,
)

pytestmark = pytest.mark.imagej

CAL = Calibration(pixel_width=0.25, pixel_height=0.5, unit="micron", z_spacing=2.0, frame_interval=30.0)

# Each plane's value range encodes (t, z, c), so any swap of axes changes the data.
SHAPES = {
    "YX": (24, 20),
    "ZYX": (3, 24, 20),
    "TZYX": (2, 3, 24, 20),
    "TYX": (5, 24, 20),  # one slice, many frames: a naive mapping would make them slices
    "TZCYX": (2, 3, 2, 24, 20),
    "CYX": (3, 24, 20),
}


def _labelled(shape: tuple[int, ...], dtype=np.uint16) -> np.ndarray:
    rng = np.random.default_rng(len(shape))
    planes = int(np.prod(shape[:-2]))
    data = rng.integers(0, 1000, size=shape).astype(np.int64)
    offsets = (np.arange(planes) * 1000).reshape(shape[:-2] + (1, 1)) if planes > 1 else 0
    return (data + offsets).astype(dtype)


def _open(path):
    from jpype import JClass

    image = JClass("ij.IJ").openImage(str(path))
    assert image is not None, f"ImageJ could not open {path}"
    return image


@pytest.mark.parametrize("axes", list(SHAPES))
def test_planes_and_round_trip_keep_dimensions_and_calibration(imagej, tmp_path, axes):
    from jpype import JClass

    array = _labelled(SHAPES[axes])
    source = write_image(tmp_path / "in.tif", array, axes, CAL)
    image = _open(source)

    stack = image_stack(image)
    expected = read_image(source).stack
    assert stack.tzc == expected.tzc
    assert stack.spacing == expected.spacing  # the z step and pixel size, for the 3D advice (None without Z)
    for index in expected.indices():
        np.testing.assert_array_equal(stack.plane(index), expected.plane(index))

    result = new_image((stack.plane(i) for i in stack.indices()), image)
    assert str(result.getTitle()) == "in_denoised"
    assert tuple(result.getDimensions()) == tuple(image.getDimensions())
    target = tmp_path / "out.tif"
    assert JClass("ij.IJ").saveAsTiff(result, str(target))
    back = read_image(target)
    assert back.axes == axes
    np.testing.assert_array_equal(tifffile.imread(target), array)
    cal = back.calibration
    assert (cal.pixel_width, cal.pixel_height, cal.unit) == pytest.approx((0.25, 0.5, "micron"))
    if "Z" in axes:
        assert cal.z_spacing == pytest.approx(2.0)
    if "T" in axes:
        assert cal.frame_interval == pytest.approx(30.0)


def test_unsigned_16_bit_values_above_32767_survive(imagej, tmp_path):
    from jpype import JClass

    array = np.array([[0, 1, 32767, 32768], [40000, 50000, 65534, 65535]], dtype=np.uint16)
    image = _open(write_image(tmp_path / "bright.tif", array, "YX"))
    plane = ImagePlanes(image)[0, 0, 0]
    assert plane.dtype == np.uint16
    np.testing.assert_array_equal(plane, array)
    result = new_image([plane], image)
    assert JClass("ij.IJ").saveAsTiff(result, str(tmp_path / "back.tif"))
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "back.tif"), array)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_8_and_32_bit_planes_are_read_as_imagej_shows_them(imagej, tmp_path, dtype):
    array = (_labelled((2, 16, 12)) % 250).astype(dtype) + (dtype(0.5) if dtype == np.float32 else 0)
    image = _open(write_image(tmp_path / "typed.tif", array, "ZYX"))
    planes = ImagePlanes(image)
    assert planes.dtype == dtype and planes.shape == (1, 2, 1, 16, 12)
    for z in range(2):
        np.testing.assert_array_equal(planes[0, z, 0], array[z])


def test_32_bit_output_and_fewer_frames(imagej, tmp_path):
    from jpype import JClass

    array = _labelled((4, 2, 8, 8))
    image = _open(write_image(tmp_path / "frames.tif", array, "TZYX", CAL))
    chosen = [array[t, z].astype(np.float32) + 0.25 for t in (1, 3) for z in range(2)]
    result = new_image(chosen, image, frames=[1, 3])
    assert int(result.getBitDepth()) == 32
    assert tuple(result.getDimensions()) == (8, 8, 1, 2, 2)
    assert JClass("ij.IJ").saveAsTiff(result, str(tmp_path / "two.tif"))
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "two.tif"), np.stack(chosen).reshape(2, 2, 8, 8))


def test_composite_keeps_mode_and_colours(imagej, tmp_path):
    from jpype import JClass

    IJ = JClass("ij.IJ")
    image = IJ.createImage("colours", "16-bit ramp", 16, 16, 2, 1, 1)  # channels, slices, frames
    image = JClass("ij.CompositeImage")(image, JClass("ij.CompositeImage").COMPOSITE)
    image.setC(2)
    image.setLut(JClass("ij.process.LUT").createLutFromColor(JClass("java.awt.Color").MAGENTA))
    stack = image_stack(image)
    result = new_image((stack.plane(i) for i in stack.indices()), image)
    assert result.isComposite() and int(result.getMode()) == int(image.getMode())
    assert list(result.getLuts()[1].getBytes()) == list(image.getLuts()[1].getBytes())


def test_rgb_images_are_refused_with_a_sentence(imagej):
    from jpype import JClass

    rgb = JClass("ij.IJ").createImage("photo", "RGB white", 8, 8, 1)
    with pytest.raises(InputError, match="RGB"):
        ImagePlanes(rgb)


def test_output_title_drops_the_tiff_suffix():
    assert output_title("dome.tif") == "dome_denoised"
    assert output_title("Dome.TIFF") == "Dome_denoised"
    assert output_title("blobs") == "blobs_denoised"
