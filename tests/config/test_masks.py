"""structN2V masks: named and custom masks, and what they do to noise correlated along rows."""

import json

import numpy as np
import pytest

from imagej_n2v.config import TrainConfig
from imagej_n2v.config.masks import mask_array, normalize_mask
from imagej_n2v.data.stack import PlaneStack
from imagej_n2v.data.synthetic import make_stack
from imagej_n2v.denoising.inference import Denoiser
from imagej_n2v.info import model_lines
from imagej_n2v.models.folder import describe_model
from imagej_n2v.training.train import train_model

STRIPE_TRAINING = dict(patch_size=32, patches=400, epochs=3, steps=40, batch_size=8, unet_kernel=3, unet_n_first=8,
                       learning_rate=0.004)
"""120 steps of a small network at a high learning rate: enough to learn where the noise is
predictable from the neighbours (measured: 40 s per model on a loaded 2-core CPU)."""


def test_named_and_custom_masks():
    assert normalize_mask(" Rows ") == "rows" and mask_array("rows") == [[1] * 9]
    assert mask_array("columns") == [[1]] * 9
    assert normalize_mask([[0, 1, 0], [0, 1, 0], [0, 1, 0]]) == "0,1,0;0,1,0;0,1,0"
    assert mask_array(normalize_mask("0,1,0; 0,1,0; 0,1,0")) == [[0, 1, 0]] * 3
    assert normalize_mask(None) is None and normalize_mask("") is None


def _striped(seed: int = 3):
    """4 smooth 64x64 planes plus noise correlated along rows (a moving sum of 5 pixels: lag-1 correlation 0.8)."""
    rng = np.random.default_rng(seed)
    clean = make_stack(frames=1, slices=4, height=64, width=64, brightness=(2000.0,), noise_sd=0.0, seed=seed).clean
    white = rng.normal(0, 1, (4, 64, 64 + 4))
    noise = 300 * np.stack([[np.convolve(row, np.ones(5) / np.sqrt(5), mode="valid") for row in p] for p in white])
    return clean, np.clip(np.rint(clean + noise), 0, 65535).astype(np.uint16)


def _stripes_kept(folder, clean, noisy) -> float:
    """The share of the stripes' power left in the denoised planes.

    The output's error is projected on the known stripe noise: a coefficient 1 keeps the
    stripes, 0 removes them; its square is the share of their power.
    """
    denoised = Denoiser(describe_model(folder)).denoise(noisy, "ZYX", bit_depth=32)
    stripes, error = noisy - clean, denoised - clean
    return float(np.sum(error * stripes) / np.sum(stripes * stripes)) ** 2


@pytest.mark.slow
def test_a_rows_mask_removes_stripes_that_plain_n2v_keeps(tmp_path):
    clean, noisy = _striped()
    stacks = [PlaneStack(noisy, "ZYX")]
    plain = train_model(stacks, tmp_path / "plain", TrainConfig(**STRIPE_TRAINING), export=False).model_folder
    masked = train_model(stacks, tmp_path / "rows", TrainConfig(**STRIPE_TRAINING, struct_mask="rows")).model_folder
    kept_plain, kept_masked = _stripes_kept(plain, clean, noisy), _stripes_kept(masked, clean, noisy)
    # Measured: plain N2V keeps 0.26 of the stripes' power, with the mask 0.0045 (58x less).
    assert kept_plain > 0.1, f"plain N2V removed the stripes ({kept_plain:.3f} of their power kept): the test data is wrong"
    assert kept_masked < kept_plain / 10, f"the rows mask kept {kept_masked:.4f} of the stripes' power, plain N2V {kept_plain:.4f}"
    assert json.loads((masked / "config.json").read_text())["structN2Vmask"] == [[1] * 9]
    assert json.loads((masked / "imagej_n2v.json").read_text())["training"]["struct_mask"] == "rows"
    assert "structN2V mask: rows" in model_lines(describe_model(masked))
    assert (masked / "rows.bioimage.io.zip").is_file()  # n2v exports structN2V models too
