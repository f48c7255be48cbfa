"""N2V Denoise in a real ImageJ keeps the values and the calibration of every image type (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from imagej_n2v.synthetic import make_stack

pytestmark = [pytest.mark.imagej, pytest.mark.slow]

STACK = make_stack(frames=1, slices=2, height=48, width=48, seed=5)

OPEN_DENOISE_SAVE = """
setBatchMode(true);
open("{source}");
run("N2V Denoise", "model=[{model}] {options}");
getPixelSize(unit, width, height, depth);
print("result " + bitDepth() + " " + unit + " " + width + " " + depth);
saveAs("Tiff", "{target}");
"""


def _denoise_in_imagej(macro, source, target, model, options: str = ""):
    result = macro(OPEN_DENOISE_SAVE.format(source=source, target=target, model=model, options=options))
    assert not result.failed, result.error
    return result


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64))[0, 1])


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_imagej_result_keeps_type_values_and_calibration(macro, quality_model, tmp_path, dtype):
    noisy = STACK.noisy.astype(np.float64)
    data = (noisy / noisy.max()).astype(np.float32) if dtype == "float32" else np.rint(noisy / noisy.max() * 255).astype(np.uint8)
    source, target = tmp_path / "in.tif", tmp_path / "out.tif"
    tifffile.imwrite(source, data, imagej=True, resolution=(5.0, 5.0),
                     metadata={"axes": STACK.axes, "unit": "micron", "spacing": 0.5})
    result = _denoise_in_imagej(macro, source, target, quality_model)
    expected_depth = 32 if dtype == "float32" else 16
    assert f"result {expected_depth} microns 0.2 0.5" in result.log
    with tifffile.TiffFile(target) as tif:
        out = tif.asarray()
        assert tif.imagej_metadata["unit"] == "micron" and tif.imagej_metadata["spacing"] == pytest.approx(0.5)
        numerator, denominator = tif.pages.first.tags["XResolution"].value
        assert numerator / denominator == pytest.approx(5.0)
    assert out.dtype.itemsize * 8 == expected_depth and out.shape == data.shape
    assert max(np.mean(out == out.min()), np.mean(out == out.max())) < 0.01, "pixels pinned at one value"
    assert _correlation(out, STACK.clean) > 0.95 > _correlation(data, STACK.clean)
    assert float(out.mean()) == pytest.approx(float(data.mean()), rel=0.02)


def test_imagej_refuses_16_bit_for_a_float_image_it_would_flatten(macro, quality_model, tmp_path):
    source = tmp_path / "in.tif"
    noisy = STACK.noisy.astype(np.float32)
    tifffile.imwrite(source, noisy / noisy.max(), imagej=True, metadata={"axes": STACK.axes})
    result = macro(OPEN_DENOISE_SAVE.format(source=source, target=tmp_path / "out.tif", model=quality_model,
                                            options="bit_depth=16"))
    assert result.failed
    assert "cannot be written as 16-bit" in result.error and "bit_depth=32" in result.error
