"""Planes a region at a time: reading from files, scratch planes, banded output and the statistics over bands."""

import tempfile

import numpy as np
import pytest
import tifffile

from imagej_n2v.data import bands
from imagej_n2v.data.bands import BandedPlane, PlaneReader, ScratchPlane, fill, kept_part, row_bands, whole
from imagej_n2v.data.output_types import PlaneConverter
from imagej_n2v.data.planes import (
    CLIP_PERCENTILES,
    _histogram,
    _histogram_percentiles,
    kept_columns,
    plane_mean,
    plane_normalization,
)
from imagej_n2v.data.stack import PlaneIndex
from imagej_n2v.data.tiff_io import read_image, write_image
from imagej_n2v.denoising.tiling import plan_tiles, read_window
from imagej_n2v.errors import InputError, OutputError


@pytest.fixture
def small_bands(monkeypatch):
    """Bands of 2 rows for planes 50 wide: every test plane is read in many bands."""
    monkeypatch.setattr(bands, "BAND_PIXELS", 100)


def _stack(seed=0, dtype=np.uint16, shape=(2, 3, 41, 50)):
    data = np.random.default_rng(seed).integers(1, 4000, shape).astype(dtype)
    data[..., :4] = 0  # zero edge columns
    data[..., -3:] = 0
    return data


def test_a_plane_of_an_uncompressed_file_is_read_in_regions_equal_to_the_array(tmp_path, small_bands):
    data = _stack()
    image = read_image(write_image(tmp_path / "s.tif", data, "ZCYX"))
    reader = image.stack.plane_source(PlaneIndex(0, 1, 2))
    assert isinstance(reader, PlaneReader) and reader.shape == (41, 50) and reader.dtype == np.uint16
    plane = data[1, 2]
    np.testing.assert_array_equal(np.asarray(reader), plane)
    np.testing.assert_array_equal(reader[5:17], plane[5:17])
    np.testing.assert_array_equal(reader[3:30, 7:44], plane[3:30, 7:44])
    kept = reader.columns(slice(4, 47))
    np.testing.assert_array_equal(kept[10:12, 2:9], plane[10:12, 6:13])
    np.testing.assert_array_equal(np.concatenate(list(row_bands(kept))), plane[:, 4:47])


def test_tile_windows_read_from_a_file_equal_those_of_the_array(tmp_path):
    data = _stack(shape=(1, 150, 130))
    reader = read_image(write_image(tmp_path / "s.tif", data, "ZYX")).stack.plane_source(PlaneIndex(0, 0, 0))
    for tile in plan_tiles((150, 126), 52, 12, 4):  # windows inside the plane and reaching into its padding
        np.testing.assert_array_equal(read_window(reader.columns(slice(4, 130)), tile, 4),
                                      read_window(data[0][:, 4:], tile, 4))


def test_planes_that_cannot_be_read_in_regions_come_whole(tmp_path):
    data = _stack()
    assert isinstance(read_image(write_image(tmp_path / "s.tif", data, "ZCYX")).stack.plane_source(PlaneIndex(0, 0, 0)),
                      PlaneReader)
    compressed = tmp_path / "c.tif"
    tifffile.imwrite(compressed, data, imagej=True, compression="zlib", metadata={"axes": "ZCYX"})
    plane = read_image(compressed).stack.plane_source(PlaneIndex(0, 1, 0))
    assert isinstance(plane, np.ndarray)
    np.testing.assert_array_equal(plane, data[1, 0])


def test_a_float_region_with_nan_is_refused_naming_the_plane(tmp_path):
    data = _stack(dtype=np.float32)
    data[1, 0, 30, 20] = np.nan
    reader = read_image(write_image(tmp_path / "s.tif", data, "ZCYX")).stack.plane_source(PlaneIndex(0, 1, 0))
    reader[0:10]  # the rows without it read
    with pytest.raises(InputError, match="NaN or infinite values in frame 1, slice 2, channel 1"):
        kept_columns(reader)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32])
def test_statistics_over_bands_of_a_reader_equal_those_of_the_whole_array(tmp_path, small_bands, dtype):
    data = _stack(dtype=dtype)
    if dtype == np.int16:
        data = data - 2000
        data[..., :4] = 0
        data[..., -3:] = 0
    reader = read_image(write_image(tmp_path / "s.tif", data, "ZCYX")).stack.plane_source(PlaneIndex(0, 1, 1))
    plane = data[1, 1]
    assert kept_columns(reader) == kept_columns(plane) == slice(4, 47)
    kept = kept_part(reader, slice(4, 47))
    whole_plane = plane_normalization(np.ascontiguousarray(plane[:, 4:47]))
    banded = plane_normalization(kept)
    assert (banded.mean, banded.std) == (whole_plane.mean, whole_plane.std)
    assert plane_mean(kept) == pytest.approx(float(plane[:, 4:47].mean(dtype=np.float64)), rel=1e-12)


def test_the_histogram_of_a_16_bit_plane_gives_np_percentile_exactly():
    plane = np.random.default_rng(4).integers(0, 65536, (300, 200)).astype(np.uint16)
    counts, low = _histogram(plane)
    levels = np.flatnonzero(counts)
    assert _histogram_percentiles(levels + low, counts[levels], CLIP_PERCENTILES) == list(
        np.percentile(plane.astype(np.float64), CLIP_PERCENTILES))


def test_a_scratch_plane_gives_back_what_was_written_region_by_region(small_bands):
    values = np.random.default_rng(1).normal(size=(23, 50)).astype(np.float32)
    scratch = ScratchPlane(values.shape)
    for tile in plan_tiles(values.shape, 12, 4, 4):
        scratch.write(tile.core, values[tile.core])
    out = list(scratch.bands(lambda band: band * 2))
    assert [len(b) for b in out] == [2] * 11 + [1]
    np.testing.assert_array_equal(np.concatenate(out), values * 2)


def test_a_scratch_plane_that_cannot_be_made_is_one_sentence_naming_tmpdir(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    with pytest.raises(OutputError, match=r"temporary file of a tiled plane in .*gone failed \(No such file or directory; "
                                          r"it takes 1\.6 GB\): free space there or set TMPDIR"):
        ScratchPlane((20000, 20000))


def test_a_banded_plane_is_taken_once_and_assembled_where_an_array_is_needed():
    plane = np.arange(60, dtype=np.uint16).reshape(6, 10)
    banded = BandedPlane(row_bands(plane, 4), plane.shape, plane.dtype)
    np.testing.assert_array_equal(whole(banded), plane)
    with pytest.raises(RuntimeError, match="already taken"):
        list(banded)
    assert whole(plane) is plane
    with pytest.raises(ValueError, match="gave 4 rows, not 6"):
        fill(np.empty((6, 10), np.uint16), BandedPlane([plane[:4]], plane.shape, plane.dtype))


def test_converting_bands_equals_converting_the_plane():
    rng = np.random.default_rng(2)
    plane = rng.normal(300, 200, (40, 30)).astype(np.float32)  # some below 0: clipped and counted
    whole_converter, band_converter = PlaneConverter(np.uint16), PlaneConverter(np.uint16)
    expected = whole_converter(plane.copy())
    got = np.concatenate(list(band_converter.bands(row_bands(plane.copy(), 7))))
    np.testing.assert_array_equal(got, expected)
    assert (band_converter.clipped, band_converter.pixels) == (whole_converter.clipped, whole_converter.pixels)
    assert band_converter.clipped > 0


def test_a_plane_that_cannot_be_16_bit_is_refused_after_its_last_band():
    plane = np.random.default_rng(3).normal(0, 500, (40, 30)).astype(np.float32)  # half of it negative
    converted = PlaneConverter(np.float32, 16).bands(row_bands(plane.copy(), 10), plane)
    assert len([next(converted) for _ in range(4)]) == 4
    with pytest.raises(InputError, match=r"cannot be written as 16-bit: \d+\.\d% of a plane's denoised values lie outside"):
        next(converted)
