"""What an image carries beside its pixels reaches the output, or the log says what did not (issue 13).

Files are written by tifffile as microscope software and ImageJ write them, and the output is
read back with tifffile's own ImageJ reader: what Fiji will be told.
"""

import logging

import numpy as np
import pytest
import tifffile

from imagej_n2v.data.tiff_io import read_image, write_denoised

NAMES = ["DAPI", "GFP"]


def _ome(path, data, axes, **metadata):
    tifffile.imwrite(path, data, ome=True, metadata={"axes": axes, **metadata})
    return path


def _rewrite(image, target, frames=None, dtype=np.uint16):
    """Write ``image``'s planes (unchanged) as a denoised output is written."""
    planes = (image.stack.plane(i).astype(dtype) for i in image.stack.indices(frames))
    write_denoised(target, planes, image, frames, np.dtype(dtype), info="denoised")
    return tifffile.TiffFile(target)


def _pixel_width(tif) -> float:
    numerator, denominator = tif.pages.first.tags["XResolution"].value
    return denominator / numerator


def test_ome_tiff_sizes_time_and_channel_names_reach_imagej(tmp_path, caplog):
    data = np.arange(2 * 3 * 2 * 8 * 8, dtype=np.uint16).reshape(2, 3, 2, 8, 8)
    source = _ome(tmp_path / "scope.ome.tif", data, "TZCYX", PhysicalSizeX=0.2, PhysicalSizeY=0.2, PhysicalSizeZ=0.5,
                  TimeIncrement=2.0, Channel={"Name": NAMES})
    with caplog.at_level(logging.INFO, logger="imagej_n2v"):
        image = read_image(source)
    assert ("scope.ome.tif: from its OME-XML, pixel size, z step, time increment, channel names are carried over"
            in caplog.text and "is not" in caplog.text)
    with _rewrite(image, tmp_path / "out.tif") as tif:
        meta = tif.imagej_metadata
        assert _pixel_width(tif) == pytest.approx(0.2)
        assert meta["unit"] == "micron" and meta["spacing"] == pytest.approx(0.5) and meta["finterval"] == pytest.approx(2.0)
        assert "tunit" not in meta and "zunit" not in meta  # ImageJ's defaults: seconds, the X unit
        assert meta["Labels"] == NAMES * 6
        np.testing.assert_array_equal(tif.asarray(), data)


def test_ome_units_other_than_microns_are_kept_per_axis(tmp_path):
    source = _ome(tmp_path / "nm.ome.tif", np.zeros((3, 4, 8, 8), np.uint16), "TZYX", PhysicalSizeX=65.0,
                  PhysicalSizeXUnit="nm", PhysicalSizeY=65.0, PhysicalSizeYUnit="nm", PhysicalSizeZ=0.3,
                  PhysicalSizeZUnit="µm", TimeIncrement=250.0, TimeIncrementUnit="µs")
    with _rewrite(read_image(source), tmp_path / "out.tif") as tif:
        meta = tif.imagej_metadata
        assert (meta["unit"], meta["spacing"], meta["zunit"]) == ("nm", pytest.approx(0.3), "micron")
        assert (meta["finterval"], meta["tunit"]) == (pytest.approx(250.0), "us")  # ImageJ's descriptions are ASCII
        assert _pixel_width(tif) == pytest.approx(65.0)


IMAGEJ_EXTRAS = {"Info": "Acquired 2026-11-26\nobjective 60x", "Properties": {"stain": "phalloidin"},
                 "ROI": b"Iout\x00\xe4\x01\x00", "Overlays": [b"Iout\x00\xe4\x02\x00", b"Iout\x00\xe4\x03\x00"],
                 "yunit": "nm", "tunit": "min", "xorigin": 4.0, "min": 10.0, "max": 900.0}


def _imagej_file(path, frames=3):
    data = np.arange(frames * 2 * 8 * 8, dtype=np.uint16).reshape(frames, 2, 8, 8)
    labels = [f"t{t} z{z}" for t in range(frames) for z in range(2)]
    tifffile.imwrite(path, data, imagej=True, resolution=(4.0, 4.0),
                     metadata={"axes": "TZYX", "unit": "nm", "Labels": labels, **IMAGEJ_EXTRAS})
    return path, labels


def test_imagej_info_labels_properties_overlays_and_units_are_kept(tmp_path):
    source, labels = _imagej_file(tmp_path / "ij.tif")
    with _rewrite(read_image(source), tmp_path / "out.tif") as tif:
        meta = tif.imagej_metadata
    assert meta["Info"] == IMAGEJ_EXTRAS["Info"] + "\ndenoised"
    assert meta["Labels"] == labels
    for key in ("Properties", "ROI", "Overlays", "yunit", "tunit", "xorigin", "min", "max"):
        assert meta[key] == IMAGEJ_EXTRAS[key], key


def test_chosen_frames_keep_their_labels_and_the_log_names_the_overlay_dropped(tmp_path, caplog):
    source, labels = _imagej_file(tmp_path / "ij.tif")
    with caplog.at_level(logging.WARNING, logger="imagej_n2v"):
        with _rewrite(read_image(source), tmp_path / "out.tif", frames=[0, 2]) as tif:
            meta = tif.imagej_metadata
    assert meta["Labels"] == labels[:2] + labels[4:]
    assert "Overlays" not in meta and meta["ROI"] == IMAGEJ_EXTRAS["ROI"]
    assert "ij.tif: its overlay is not kept" in caplog.text


def test_signed_16_bit_stored_by_imagej_gives_calibrated_float_values(tmp_path):
    raw = (np.arange(64, dtype=np.int32).reshape(1, 8, 8) * 10 - 300 + 32768).astype(np.uint16)
    source = tmp_path / "signed.tif"
    tifffile.imwrite(source, raw, imagej=True,
                     metadata={"axes": "ZYX", "cf": 0, "c0": -32768.0, "c1": 1.0, "vunit": "Gray Value", "min": 32468, "max": 33398})
    with _rewrite(read_image(source), tmp_path / "as16.tif") as tif:  # 16-bit output: raw values, function kept
        assert tif.imagej_metadata["c0"] == -32768.0 and tif.asarray().dtype == np.uint16
    with _rewrite(read_image(source), tmp_path / "as32.tif", dtype=np.float32) as tif:
        meta = tif.imagej_metadata
        np.testing.assert_array_equal(tif.asarray(), raw[0].astype(np.float32) - 32768)
    assert not {"cf", "c0", "c1", "min", "max"} & set(meta)


def test_info_says_the_output_type_and_what_is_carried_over(tmp_path, capsys):
    from imagej_n2v.cli import main

    source = _ome(tmp_path / "scope.ome.tif", np.zeros((2, 8, 8), np.float32), "CYX", PhysicalSizeX=0.2,
                  Channel={"Name": NAMES})
    assert main(["info", str(source)]) == 0
    out = capsys.readouterr().out
    assert "pixel size: 0.2 x 0.2 micron" in out
    assert "denoised with the default bit depth: float32" in out
    assert "also written to the output: channel names DAPI, GFP" in out
    source, _ = _imagej_file(tmp_path / "ij.tif")
    assert main(["info", str(source)]) == 0
    out = capsys.readouterr().out
    assert "default bit depth: uint16" in out
    assert "also written to the output: ImageJ Info, slice labels, properties, overlay, ROI" in out
