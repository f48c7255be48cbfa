"""TIFF round trips: pixels, axes and calibration as our reader and tifffile itself see them."""

import numpy as np
import pytest
import tifffile

from imagej_n2v.data.bands import BandedPlane, row_bands
from imagej_n2v.data.stack import PlaneStack
from imagej_n2v.data.tiff_io import (
    Calibration,
    ContiguousTiff,
    PagedTiff,
    find_tiffs,
    output_shape,
    read_image,
    write_image,
    write_planes,
)
from imagej_n2v.errors import AxesError, InputError, OutputError

CALIBRATION = Calibration(pixel_width=0.25, pixel_height=0.5, unit="micron", z_spacing=2.0, frame_interval=30.0)

SHAPES = {"YX": (12, 10), "ZYX": (3, 12, 10), "TZYX": (2, 3, 12, 10), "TZCYX": (2, 3, 2, 12, 10), "CYX": (3, 12, 10)}


def _random(shape, dtype=np.uint16, seed=0):
    return np.random.default_rng(seed).integers(0, 60000, shape).astype(dtype)


@pytest.mark.parametrize("axes", list(SHAPES))
def test_round_trip_keeps_pixels_axes_and_calibration(tmp_path, axes):
    data = _random(SHAPES[axes])
    path = write_image(tmp_path / "image.tif", data, axes, CALIBRATION)

    image = read_image(path)
    assert image.is_imagej
    assert image.axes == axes
    assert image.stack.shape == data.shape
    assert image.stack.dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(image.stack.data), data)
    cal = image.calibration
    assert cal.pixel_width == pytest.approx(0.25) and cal.pixel_height == pytest.approx(0.5)
    assert cal.unit == "micron"
    assert cal.z_spacing == pytest.approx(2.0) and cal.frame_interval == pytest.approx(30.0)

    with tifffile.TiffFile(path) as tif:  # what ImageJ will be told, independently of our reader
        assert tif.is_imagej
        assert tif.series[0].axes == axes
        meta = tif.imagej_metadata
        sizes = dict(zip(axes, data.shape))
        assert meta.get("frames", 1) == sizes.get("T", 1)
        assert meta.get("slices", 1) == sizes.get("Z", 1)
        assert meta.get("channels", 1) == sizes.get("C", 1)
        assert meta["unit"] == "micron"
        np.testing.assert_array_equal(tif.asarray(), data)


def test_float32_round_trip(tmp_path):
    data = np.random.default_rng(1).normal(100, 10, (2, 8, 8)).astype(np.float32)
    image = read_image(write_image(tmp_path / "f.tif", data, "ZYX"))
    assert image.stack.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(image.stack.data), data)


@pytest.mark.parametrize(
    "axes, shape, file_axes", [("TZXY", (2, 3, 5, 4), "TZYX"), ("CZYX", (2, 3, 5, 4), "ZCYX"), ("YXZ", (5, 4, 3), "ZYX")]
)
def test_any_axes_order_is_written_in_imagej_order(tmp_path, axes, shape, file_axes):
    data = _random(shape)
    path = write_image(tmp_path / "o.tif", data, axes)
    with tifffile.TiffFile(path) as tif:
        assert tif.series[0].axes == file_axes
        written = tif.asarray()
    expected = np.transpose(data, [axes.index(a) for a in file_axes])
    np.testing.assert_array_equal(written, expected)


def test_plain_tiff_needs_axes_and_they_must_fit(tmp_path):
    data = _random((2, 3, 12, 10))
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, data, photometric="minisblack")
    with pytest.raises(AxesError, match=r"plain.tif has shape \(2, 3, 12, 10\) and no ImageJ axes.*--axes"):
        read_image(path)
    with pytest.raises(AxesError, match="3 letters but the image has 4 dimensions"):
        read_image(path, "ZYX")
    image = read_image(path, "TZXY")
    assert not image.is_imagej
    assert (image.stack.height, image.stack.width) == (10, 12)
    np.testing.assert_array_equal(image.stack.plane(next(image.stack.indices())), data[0, 0].T)


@pytest.mark.parametrize("shape, hint", [((3, 12, 10), "ZYX or TYX for 3"), ((2, 3, 12, 10), "TZYX or ZCYX for 4"),
                                         ((2, 3, 2, 12, 10), "TZCYX for 5")])
def test_axes_hint_names_axes_that_fit(tmp_path, shape, hint):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, _random(shape), photometric="minisblack")
    with pytest.raises(AxesError, match=f"give them with --axes, e.g. {hint} dimensions"):
        read_image(path)
    for example in hint.split(" for ")[0].split(" or "):
        assert read_image(path, example).axes == example


def test_plain_2d_tiff_is_yx(tmp_path):
    path = tmp_path / "flat.tif"
    tifffile.imwrite(path, _random((6, 7)), metadata=None)
    assert read_image(path).axes == "YX"


def test_compressed_hyperstack_is_read_page_by_page(tmp_path):
    data = _random((2, 3, 12, 10))
    path = tmp_path / "zip.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TZYX"}, compression="zlib")
    image = read_image(path)
    assert isinstance(image.stack.data, PagedTiff)
    for index in image.stack.indices():
        np.testing.assert_array_equal(image.stack.plane(index), data[index.t, index.z])


def test_one_compressed_page_holding_every_plane_is_read_whole(tmp_path):
    """Planes stored as the samples of one compressed page can be neither mapped nor read per page."""
    data = _random((3, 12, 10))
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, data, photometric="minisblack", planarconfig="separate", compression="zlib")
    with tifffile.TiffFile(path) as tif:
        assert len(tif.series[0].pages) == 1
    stack = read_image(path, axes="ZYX").stack
    assert isinstance(stack.data, np.ndarray)
    for index in stack.indices():
        np.testing.assert_array_equal(stack.plane(index), data[index.z])

    with tifffile.TiffFile(path) as tif:
        offset, length = tif.pages.first.dataoffsets[0], tif.pages.first.databytecounts[0]
    damaged = bytearray(path.read_bytes())
    damaged[offset + length // 2: offset + length] = bytes(length - length // 2)
    path.write_bytes(bytes(damaged))
    with pytest.raises(InputError, match=f"^{path} is damaged or truncated .*copy the file again from its source.$"):
        read_image(path, axes="ZYX")


def test_uncompressed_file_is_read_plane_by_plane(tmp_path):
    data = _random((2, 3, 12, 10))
    path = write_image(tmp_path / "m.tif", data, "TZYX")
    stack = read_image(path).stack
    assert isinstance(stack.data, ContiguousTiff)
    for index in stack.indices():
        np.testing.assert_array_equal(stack.plane(index), data[index.t, index.z])
    np.testing.assert_array_equal(stack.data[1, :, 3], data[1, :, 3])  # other indexing: through the memory map


def test_unreadable_and_missing_files_are_clear_errors(tmp_path):
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00garbage")
    with pytest.raises(InputError, match="broken.tif is not a readable TIFF"):
        read_image(broken)
    with pytest.raises(InputError, match="missing.tif does not exist"):
        read_image(tmp_path / "missing.tif")


def test_rgb_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, _random((8, 8, 3), np.uint8), photometric="rgb")
    with pytest.raises(InputError, match="RGB image.*Make Composite"):
        read_image(path)


def test_existing_output_is_not_replaced_and_no_temporary_file_is_left(tmp_path):
    target = write_image(tmp_path / "out.tif", _random((4, 4)), "YX")
    before = target.read_bytes()
    with pytest.raises(OutputError, match="out.tif already exists.*--overwrite"):
        write_image(target, _random((4, 4), seed=1), "YX")
    assert target.read_bytes() == before
    write_image(target, _random((4, 4), seed=1), "YX", overwrite=True)
    assert target.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


def test_a_failing_plane_source_leaves_nothing_behind(tmp_path):
    def planes():
        yield np.zeros((4, 4), np.uint16)
        raise RuntimeError("reader died")

    with pytest.raises(RuntimeError):
        write_planes(tmp_path / "half.tif", planes(), "ZYX", (2, 4, 4), np.uint16, Calibration())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_planes_written_band_by_band_make_the_same_file_as_whole_planes(tmp_path, dtype):
    """What a tiled stack writes: the same bytes, the same axes and calibration read back; a plane
    that comes whole among banded ones (passed through) is written band by band too."""
    data = _random(SHAPES["TZCYX"], dtype)
    calibration = Calibration(pixel_width=0.25, pixel_height=0.5, unit="micron", z_spacing=2.0, frame_interval=30.0,
                              labels=[f"plane {n}" for n in range(12)])
    flat = data.reshape(-1, 12, 10)
    banded = [plane if n == 3 else BandedPlane(row_bands(plane, 5), plane.shape, plane.dtype) for n, plane in enumerate(flat)]
    whole_file = write_planes(tmp_path / "whole.tif", iter(flat), "TZCYX", data.shape, dtype, calibration)
    banded_file = write_planes(tmp_path / "banded.tif", iter(banded), "TZCYX", data.shape, dtype, calibration)
    assert banded_file.read_bytes() == whole_file.read_bytes()
    with tifffile.TiffFile(banded_file) as tif:
        assert tif.series[0].axes == "TZCYX" and tif.imagej_metadata["spacing"] == 2.0
        assert tif.imagej_metadata["Labels"][5] == "plane 5"
        np.testing.assert_array_equal(tif.asarray(), data)
    image = read_image(banded_file)
    assert (image.calibration.pixel_width, image.calibration.pixel_height, image.calibration.unit) == (0.25, 0.5, "micron")


def test_output_shape_with_fewer_frames():
    stack = PlaneStack(np.zeros((5, 2, 3, 8, 9), np.uint16), "TZCYX")
    assert output_shape(stack, "TZCYX") == (5, 2, 3, 8, 9)
    assert output_shape(stack, "TZCYX", frames=2) == (2, 2, 3, 8, 9)


def test_find_tiffs_expands_folders(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("b.tif", "a.TIFF", "notes.txt"):
        (folder / name).write_bytes(b"")
    single = tmp_path / "c.tif"
    single.write_bytes(b"")
    assert [p.name for p in find_tiffs([folder, single])] == ["a.TIFF", "b.tif", "c.tif"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="contains no TIFF files"):
        find_tiffs([empty])
    with pytest.raises(InputError, match="nope does not exist"):
        find_tiffs([tmp_path / "nope"])
