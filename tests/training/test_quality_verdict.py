"""The verdict after real (tiny) trainings agrees with the truth of the synthetic stacks.

A model that is truly no better than the best blind-spot blur (measured with the clean planes)
must carry the warning; a model truly better than it must not. The sharp-edged planes here are
ones a blur cannot denoise without smearing their edges, so a short training beats it.
"""

import json

import numpy as np
import pytest

from imagej_n2v.config import TrainConfig
from imagej_n2v.data.stack import PlaneStack
from imagej_n2v.data.synthetic import make_discs
from imagej_n2v.denoising.inference import load_denoiser
from imagej_n2v.info import model_lines
from imagej_n2v.models.folder import describe_model
from imagej_n2v.quality.blindspot import blind_blurs
from imagej_n2v.quality.verdict import BETTER
from imagej_n2v.training.train import train_model


def sharp_planes() -> tuple[np.ndarray, np.ndarray]:
    stack = make_discs()
    return stack.clean, stack.noisy


def _mse(clean: np.ndarray, result: np.ndarray) -> float:
    return float(np.mean((clean.astype(np.float64) - result) ** 2))


def _trained(tmp_path, noisy, **settings):
    config = TrainConfig(patch_size=32, patches=2000, batch_size=16, **settings)
    return train_model([PlaneStack(noisy, "ZYX")], tmp_path / "model", config, export=False)


def _truly_better_than_blind_blurs(folder, clean, noisy) -> bool:
    denoised = load_denoiser(folder).denoise(noisy, "ZYX", bit_depth=32)
    best_blur = min(_mse(clean, b) for b in blind_blurs(noisy.astype(np.float32)).values())
    return _mse(clean, denoised) < best_blur


@pytest.mark.slow
def test_an_undertrained_model_gets_the_warning(tmp_path):
    clean, noisy = sharp_planes()
    result = _trained(tmp_path, noisy, epochs=2, steps=5)
    assert not _truly_better_than_blind_blurs(result.model_folder, clean, noisy)  # the truth
    quality = json.loads((result.model_folder / "imagej_n2v.json").read_text())["quality"]
    assert quality["category"] != BETTER and quality["warning"].lower().startswith(("warning", "warning:"))
    assert "train longer" in quality["warning"]
    assert any(line.startswith("quality (epoch ") and ("WARNING" in line or "Warning" in line)
               for line in model_lines(describe_model(result.model_folder)))


@pytest.mark.slow
def test_a_good_model_gets_no_warning(tmp_path):
    clean, noisy = sharp_planes()
    result = _trained(tmp_path, noisy, epochs=4, steps=200)
    assert _truly_better_than_blind_blurs(result.model_folder, clean, noisy)  # the truth
    quality = json.loads((result.model_folder / "imagej_n2v.json").read_text())["quality"]
    assert quality["category"] == BETTER and quality["warning"] is None, quality
    assert result.assessment.verdict.gain_db > 0
