"""Files that other tools write come back with their values and their calibration (issue 13).

Each kind of input a microscopist meets (float scaled to 0..1, signed with negatives after a
background subtraction, 8-bit, wide integers, float64) is denoised through the CLI and the API
and checked for its values: the output's type holds them, it follows the clean signal, and no
mass of pixels is pinned at one value.
"""

import numpy as np
import pytest
import tifffile

from imagej_n2v import api
from imagej_n2v.cli import main
from imagej_n2v.data.synthetic import make_stack

pytestmark = pytest.mark.slow

STACK = make_stack(frames=1, slices=2, height=48, width=48, seed=5)
"""A small ZYX stack, unseen in training; ``clean`` is what denoising should approach."""


def _kinds() -> dict[str, tuple[np.ndarray, str]]:
    """Input kind -> (pixels, output type under the default bit depth)."""
    noisy = STACK.noisy.astype(np.float64)
    return {
        "float 0..1": ((noisy / noisy.max()).astype(np.float32), "float32"),
        "int16 with negatives": (np.rint(noisy - noisy.mean()).astype(np.int16), "float32"),
        "int32 above 65535": (np.rint(noisy * 40).astype(np.int32), "float32"),
        "float64": (noisy / 7.0, "float32"),
        "uint8": (np.rint(noisy / noisy.max() * 255).astype(np.uint8), "uint16"),
    }


KINDS = _kinds()


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64))[0, 1])


def _check_values(result: np.ndarray, data: np.ndarray) -> None:
    """Denoised values in the input's units: near the clean signal, none pinned, the mean kept."""
    pinned = max(np.mean(result == result.min()), np.mean(result == result.max()))
    assert pinned < 0.01, f"{pinned:.0%} of the pixels pinned at one value"
    assert _correlation(result, STACK.clean) > 0.95 > _correlation(data, STACK.clean)
    assert _correlation(result, data) > 0.7  # the noisy input itself: 0.8 with the clean signal
    assert float(result.mean()) == pytest.approx(float(data.mean()), rel=0.02, abs=0.02 * float(data.std()))


def _write_plain(path, data: np.ndarray) -> None:
    """ImageJ hyperstacks hold only 8, 16 and 32-bit pixels; other types come as plain TIFFs."""
    if data.dtype in (np.uint8, np.uint16, np.float32):
        tifffile.imwrite(path, data, imagej=True, metadata={"axes": STACK.axes})
    else:
        tifffile.imwrite(path, data, metadata={"axes": STACK.axes})


@pytest.mark.parametrize("kind", list(KINDS))
def test_cli_output_type_holds_the_values(kind, quality_model, tmp_path):
    data, expected = KINDS[kind]
    source = tmp_path / "in.tif"
    _write_plain(source, data)
    assert main(["--quiet", "denoise", str(source), "--model", str(quality_model)]) == 0
    with tifffile.TiffFile(tmp_path / "in_denoised.tif") as tif:
        assert tif.is_imagej and tif.series[0].axes == STACK.axes
        result = tif.asarray()
    assert result.dtype == np.dtype(expected)
    _check_values(result, data)


@pytest.mark.parametrize("kind", ["float 0..1", "int16 with negatives"])
def test_cli_refuses_16_bit_that_would_destroy_the_values(kind, quality_model, tmp_path, capsys):
    source = tmp_path / "in.tif"
    _write_plain(source, KINDS[kind][0])
    assert main(["denoise", str(source), "--model", str(quality_model), "--bit-depth", "16"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"imagej-n2v: error: {source} cannot be written as 16-bit: ")
    assert "--bit-depth 32" in error
    assert not (tmp_path / "in_denoised.tif").exists()


@pytest.mark.parametrize("kind", list(KINDS))
def test_api_output_type_holds_the_values(kind, quality_model):
    data, expected = KINDS[kind]
    result = api.denoise(data, STACK.axes, quality_model)
    assert result.dtype == np.dtype(expected) and result.shape == data.shape
    _check_values(result, data)


def test_cli_carries_ome_sizes_and_channel_names_to_the_imagej_output(quality_model, tmp_path):
    noisy = STACK.noisy.astype(np.float32)
    data = np.stack([noisy, noisy[:, ::-1]], axis=1) / noisy.max()  # ZCYX, float 0..1 as after a normalisation
    source = tmp_path / "scope.ome.tif"
    tifffile.imwrite(source, data, ome=True, metadata={
        "axes": "ZCYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2, "PhysicalSizeZ": 0.5, "Channel": {"Name": ["DAPI", "GFP"]}})
    assert main(["--quiet", "denoise", str(source), "--model", str(quality_model), "--output", str(tmp_path / "out")]) == 0
    with tifffile.TiffFile(tmp_path / "out" / "scope.ome_denoised.tif") as tif:
        meta = tif.imagej_metadata
        numerator, denominator = tif.pages.first.tags["XResolution"].value
        result = tif.asarray()
    assert denominator / numerator == pytest.approx(0.2)
    assert meta["unit"] == "micron" and meta["spacing"] == pytest.approx(0.5)
    assert meta["Labels"] == ["DAPI", "GFP"] * 2
    assert result.dtype == np.float32 and result.shape == data.shape
    _check_values(result[:, 0], data[:, 0])
