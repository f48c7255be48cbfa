"""N2V Denoise in a real ImageJ keeps the values and the calibration of every image type (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from imagej_n2v.data.synthetic import make_stack

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


def test_cli_output_of_an_ome_tiff_opens_in_imagej_with_its_scale(imagej, quality_model, tmp_path):
    from jpype import JClass

    from imagej_n2v.cli import main

    source = tmp_path / "scope.ome.tif"
    tifffile.imwrite(source, np.stack([STACK.noisy, STACK.noisy], axis=1), ome=True, metadata={
        "axes": "ZCYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2, "PhysicalSizeZ": 0.5, "Channel": {"Name": ["DAPI", "GFP"]}})
    assert main(["--quiet", "denoise", str(source), "--model", str(quality_model)]) == 0
    image = JClass("ij.IJ").openImage(str(tmp_path / "scope.ome_denoised.tif"))
    cal = image.getCalibration()
    assert (cal.pixelWidth, cal.pixelHeight, cal.pixelDepth) == pytest.approx((0.2, 0.2, 0.5))
    assert str(cal.getUnit()) in ("micron", "µm")  # ImageJ shows both as µm
    assert tuple(image.getDimensions())[2:] == (2, 2, 1)
    assert [str(image.getStack().getSliceLabel(n)) for n in (1, 2)] == ["DAPI", "GFP"]


ANNOTATE_DENOISE_SAVE = """
setBatchMode(true);
open("{source}");
setMetadata("Info", "objective 60x");
Stack.setPosition(1, 1, 2);
setMetadata("Label", "second frame");
Property.set("stain", "phalloidin");
makeRectangle(2, 3, 10, 12);
Overlay.addSelection;
makeOval(5, 5, 8, 8);
run("N2V Denoise", "model=[{model}] {options}");
print("info " + getMetadata("Info"));
Stack.setPosition(1, 1, 2);
print("label " + getMetadata("Label") + ", stain " + Property.get("stain") + ", overlay " + Overlay.size + ", roi " + selectionType());
saveAs("Tiff", "{target}");
"""


def _annotate_denoise_save(macro, tiny_model, tmp_path, options: str):
    """Run ANNOTATE_DENOISE_SAVE on a 2-frame stack; returns the macro's result and the saved file."""
    source, target = tmp_path / "in.tif", tmp_path / "out.tif"
    stack = make_stack(frames=2, slices=1, height=32, width=32, seed=6)
    tifffile.imwrite(source, stack.noisy, imagej=True, metadata={"axes": stack.axes})
    result = macro(ANNOTATE_DENOISE_SAVE.format(source=source, target=target, model=tiny_model, options=options))
    assert not result.failed, result.error
    return result, target


def test_imagej_result_keeps_info_labels_properties_overlay_and_roi(macro, tiny_model, tmp_path):
    result, target = _annotate_denoise_save(macro, tiny_model, tmp_path, "")
    assert "info objective 60x\nimagej-n2v" in result.log
    assert "label second frame, stain phalloidin, overlay 1, roi 1" in result.log  # 1: an oval
    with tifffile.TiffFile(target) as tif:
        meta = tif.imagej_metadata
    assert meta["Labels"][1] == "second frame" and "ROI" in meta
    assert isinstance(meta["Overlays"], bytes), "one overlay roi (tifffile gives a list for several)"


def test_imagej_logs_the_overlay_it_cannot_keep_for_chosen_frames(macro, tiny_model, tmp_path):
    result, _ = _annotate_denoise_save(macro, tiny_model, tmp_path, "frames=2")
    assert "in.tif: its overlay is not kept" in result.log
    assert "label second frame, stain phalloidin, overlay 0" in result.log


def test_imagej_signed_16_bit_in_32_bit_holds_the_calibrated_values(macro, tiny_model, tmp_path):
    source, target = tmp_path / "in.tif", tmp_path / "out.tif"
    signed = np.rint(STACK.noisy.astype(np.float64) - STACK.noisy.mean()).astype(np.int16)
    tifffile.imwrite(source, signed, metadata={"axes": STACK.axes})  # ImageJ opens it as 16-bit, value = raw - 32768
    result = _denoise_in_imagej(macro, source, target, tiny_model, "bit_depth=32")
    assert "result 32" in result.log
    out = tifffile.imread(target)
    assert out.dtype == np.float32 and out.min() < 0
    assert float(out.mean()) == pytest.approx(float(signed.mean()), abs=0.05 * float(signed.std()))


def test_imagej_result_keeps_the_lookup_table_of_a_single_channel_image(macro, tiny_model, tmp_path):
    source = tmp_path / "in.tif"
    tifffile.imwrite(source, STACK.noisy, imagej=True, metadata={"axes": STACK.axes})
    result = macro(f"""
    setBatchMode(true);
    open("{source}");
    run("Fire");
    getLut(r, g, b);
    before = "" + r[100] + "," + g[100] + "," + b[100];
    run("N2V Denoise", "model=[{tiny_model}]");
    getLut(r, g, b);
    print("lut " + before + " -> " + r[100] + "," + g[100] + "," + b[100]);
    """)
    assert not result.failed, result.error
    line = next(line for line in result.log.splitlines() if line.startswith("lut "))
    before, after = line[4:].split(" -> ")
    assert before == after and before != "100,100,100", line
