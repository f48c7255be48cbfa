"""Streaming denoise from files: n2v's own results, and memory that does not grow with the stack."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tifffile

from imagej_n2v.cli import main
from imagej_n2v.data.tiff_io import write_image
from tests.conftest import DOME_STRIP
from tests.models.test_n2v_native import _n2v_predict

pytestmark = pytest.mark.slow


def test_streamed_file_equals_n2v_predict(tmp_path, n2v_native_model, dome_stack):
    """File in, file out, in batches that straddle frames and end short: still n2v's ``predict``."""
    planes = dome_stack.noisy[..., DOME_STRIP:-DOME_STRIP]  # TZYX 2x3, no zero strips: same pixels as n2v
    source = write_image(tmp_path / "kept.tif", planes, "TZYX")
    code = main(["--quiet", "denoise", str(source), "--model", str(n2v_native_model), "--output", str(tmp_path / "out"),
                 "--batch-planes", "4"])
    assert code == 0
    ours = tifffile.imread(tmp_path / "out" / "kept_denoised.tif")
    assert ours.dtype == np.uint16 and ours.shape == planes.shape
    expected = _n2v_predict(n2v_native_model, planes.reshape(-1, *planes.shape[-2:])).reshape(planes.shape)
    assert np.abs(ours.astype(np.int64) - np.clip(np.rint(expected), 0, 65535)).max() <= 1
    assert np.abs(ours - expected).max() <= 1.0


MEASURE = textwrap.dedent("""
    import json, os, sys
    from imagej_n2v.denoising.inference import load_denoiser
    from imagej_n2v.data.tiff_io import output_shape, read_image, write_planes

    PAGE = os.sysconf("SC_PAGE_SIZE")

    def resident():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * PAGE

    def denoise(source, target):
        \"\"\"Denoise channel 1, pass the others through; the highest RSS seen while planes flow.\"\"\"
        image = read_image(source)
        peak = [resident()]
        planes = load_denoiser(sys.argv[1]).denoise_planes(
            image.stack, channels=[0], progress=lambda done, total: peak.append(resident()))
        write_planes(target, planes, "TCYX", output_shape(image.stack, "TCYX"), "uint16", image.calibration)
        return max(peak)

    denoise(sys.argv[2], sys.argv[3])  # model, trace, allocator and threads warmed on a stack like the next
    before = resident()
    print(json.dumps({"before": before, "peak": denoise(sys.argv[4], sys.argv[5])}))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads resident memory from /proc/self/statm")
def test_peak_memory_does_not_grow_with_the_stack(tmp_path, n2v_native_model):
    """Denoising a 96 MB stack from a file raises resident memory by far less than its size.

    The first run warms everything up on a stack of the same size; the second is measured while
    its planes flow. Channel 1 is denoised and channels 2-4 passed through, which keeps the test
    quick while both kinds of plane are read from the file, queued and written. A reader that
    kept the file's pages (a memory map) or a writer that gathered the output would raise
    resident memory by about the stack's size; what does not grow with it (the allocator's
    reuse of network buffers) stays around 10 MB.
    """
    rng = np.random.default_rng(0)
    shape = (192, 4, 256, 256)  # TCYX uint16: 96 MB
    files = [write_image(tmp_path / f"{name}.tif", np.broadcast_to(rng.integers(0, 4000, shape[-2:], dtype=np.uint16), shape),
                         "TCYX") for name in ("first", "second")]
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(n2v_native_model), str(files[0]), str(tmp_path / "first_out.tif"),
         str(files[1]), str(tmp_path / "second_out.tif")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    rss = json.loads(result.stdout.strip().splitlines()[-1])
    growth = rss["peak"] - rss["before"]
    size = files[1].stat().st_size
    assert growth < size / 3, f"resident memory grew by {growth / 2**20:.0f} MB for a {size / 2**20:.0f} MB stack"
    assert tifffile.TiffFile(tmp_path / "second_out.tif").series[0].shape == shape
