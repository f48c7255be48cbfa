"""The quality check before denoising: on the image's own pixels, its cost said, skipped in one sentence when it cannot be done."""

import logging

import numpy as np
import pytest
import tifffile

from imagej_n2v.cli import main
from imagej_n2v.config import DenoiseConfig
from imagej_n2v.data.stack import PlaneStack
from imagej_n2v.data.synthetic import make_stack
from imagej_n2v.denoising.check import check_image
from imagej_n2v.denoising.commands import denoise_stack
from imagej_n2v.denoising.inference import load_denoiser

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def large_stack():
    """Ten 256x256 planes: large enough for a check within its budget."""
    return make_stack(frames=1, slices=10, height=256, width=256, seed=3)


def test_a_poor_model_is_warned_about_and_the_cost_is_said(tiny_model, large_stack, caplog):
    caplog.set_level(logging.INFO, logger="imagej_n2v")
    result = denoise_stack(load_denoiser(tiny_model), PlaneStack(large_stack.noisy, large_stack.axes), DenoiseConfig())
    assert result.check is not None and result.check.verdict is not None
    assert result.check.verdict.warns and result.check.warning  # four training steps cannot beat a blur
    planes = list(result.planes)
    assert len(planes) == 10
    texts = [r.getMessage() for r in caplog.records]
    assert any(r.levelno == logging.WARNING and ("no better than a blur" in r.getMessage() or "WORSE" in r.getMessage())
               for r in caplog.records)
    cost = [t for t in texts if t.startswith("The quality check took")]
    assert len(cost) == 1 and "of CPU time" in cost[0] and "% of the denoising's" in cost[0]


def test_check_off_skips_it(tiny_model, large_stack, caplog):
    caplog.set_level(logging.INFO, logger="imagej_n2v")
    result = denoise_stack(load_denoiser(tiny_model), PlaneStack(large_stack.noisy, large_stack.axes),
                           DenoiseConfig(check="off"))
    list(result.planes)
    assert result.check is None and not any("quality check" in r.getMessage() for r in caplog.records)


def test_planes_too_small_skip_the_check_in_one_sentence(tiny_model):
    tiny = make_stack(frames=1, slices=2, height=24, width=24, seed=4)
    check = check_image(load_denoiser(tiny_model), PlaneStack(tiny.noisy, tiny.axes))
    assert check.verdict is None and check.message().count(". ") == 0 and "too small" in check.message()


def test_the_check_command_gives_only_the_verdict(tiny_model, large_stack, tmp_path, capsys):
    image = tmp_path / "large.tif"
    tifffile.imwrite(image, large_stack.noisy, imagej=True, metadata={"axes": large_stack.axes})
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, np.random.default_rng(0).integers(0, 100, (12, 12), dtype=np.uint16))
    assert main(["--quiet", "check", str(image), str(small), "--model", str(tiny_model)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{image}: ") and "blur" in out[0]
    assert out[1].startswith(f"{small}: No quality check: ") and "too small" in out[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["large.tif", "small.tif"]  # nothing written
