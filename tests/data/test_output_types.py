"""The output type rule and the conversion of denoised planes: nothing clipped or flattened silently."""

import logging

import numpy as np
import pytest

from imagej_n2v.config import DenoiseConfig
from imagej_n2v.data.output_types import PlaneConverter, output_dtype
from imagej_n2v.errors import InputError

RULE = {  # input type: output for auto, 16, 32 (the README's table)
    "uint8": ("uint16", "uint16", "float32"),
    "uint16": ("uint16", "uint16", "float32"),
    "bool": ("uint16", "uint16", "float32"),
    "int16": ("float32", "uint16", "float32"),
    "int32": ("float32", "uint16", "float32"),
    "uint32": ("float32", "uint16", "float32"),
    "float32": ("float32", "uint16", "float32"),
    "float64": ("float32", "uint16", "float32"),
}


@pytest.mark.parametrize("dtype", list(RULE))
def test_output_type_follows_the_input_type(dtype):
    found = tuple(str(output_dtype(np.dtype(dtype), depth)) for depth in ("auto", 16, 32))
    assert found == RULE[dtype]


@pytest.mark.parametrize("given, expected", [("auto", "auto"), ("16", 16), (32, 32), ("32", 32), (" Auto ", "auto")])
def test_bit_depth_is_parsed_from_macros_and_python(given, expected):
    assert DenoiseConfig(bit_depth=given).bit_depth == expected


def test_default_bit_depth_is_auto_and_others_are_refused():
    assert DenoiseConfig().bit_depth == "auto"
    with pytest.raises(InputError, match="bit_depth must be auto, 16 or 32, not 12"):
        DenoiseConfig(bit_depth=12)


def _ramp(low: float, high: float, dtype=np.float32) -> np.ndarray:
    return np.linspace(low, high, 64 * 64).reshape(64, 64).astype(dtype)


def test_signed_values_refused_in_16_bit_with_a_sentence_naming_32():
    plane = _ramp(-500, 500)
    convert = PlaneConverter(np.int16, 16, "bg.tif")
    with pytest.raises(InputError, match=r"^bg.tif cannot be written as 16-bit: 50.0% .* outside 0..65535 .*--bit-depth 32"):
        convert(plane.copy(), plane.astype(np.int16))


def test_float_values_too_narrow_for_whole_numbers_are_refused_in_16_bit():
    plane = _ramp(0.0, 1.0)
    with pytest.raises(InputError, match="too narrow a range .* rounding would erase the signal"):
        PlaneConverter(np.float32, 16, "norm.tif")(plane.copy(), plane)


def test_float_values_that_are_whole_numbers_fit_16_bit_exactly():
    plane = np.rint(_ramp(0, 4095))
    out = PlaneConverter(np.float32, 16)(plane.copy(), plane)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, plane.astype(np.uint16))


def test_auto_keeps_floats_and_negatives_exactly():
    plane = _ramp(-0.25, 0.75)
    for dtype in (np.float32, np.int16, np.float64):
        out = PlaneConverter(dtype, "auto")(plane.copy(), plane)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, plane)


def test_unsigned_input_clips_at_its_floor_and_says_so_when_many_pixels_are_lost(caplog):
    convert = PlaneConverter(np.uint16, "auto", "dark.tif")
    plane = _ramp(-50, 200)  # a fifth of the values below 0: denoising below the camera's floor
    out = convert(plane.copy(), None)
    assert out.dtype == np.uint16 and out.min() == 0 and out.max() == 200
    with caplog.at_level(logging.WARNING, logger="imagej_n2v"):
        convert.report()
    clipped = np.count_nonzero(np.rint(plane) < 0)
    assert convert.clipped == clipped
    assert f"dark.tif: {clipped} denoised pixels (20%) fell outside 0..65535" in caplog.text
    assert "--bit-depth 32" in caplog.text


def test_a_few_clipped_pixels_are_not_a_warning(caplog):
    convert = PlaneConverter(np.uint16, 16, "fine.tif")
    plane = _ramp(1, 300)
    plane[0, 0] = -2
    convert(plane, None)
    with caplog.at_level(logging.WARNING, logger="imagej_n2v"):
        convert.report()
    assert convert.clipped == 1 and not caplog.text
