"""Training: the model folder n2v and users can read, reproducible data, overwrite refusal."""

import csv
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from imagej_n2v.cli import main
from imagej_n2v.config import TrainConfig
from imagej_n2v.data.stack import PlaneStack
from imagej_n2v.errors import InputError, OutputError
from imagej_n2v.info import model_lines
from imagej_n2v.models.folder import describe_model
from imagej_n2v.training.train import train_model
from tests.conftest import QUALITY_TRAINING, TINY_TRAINING


def _snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder`` with its content hash and modification time."""
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_model_folder_holds_n2v_files_and_ours(quality_model):
    for name in ("config.json", "weights_best.h5", "history.csv", "loss.png", "imagej_n2v.json",
                 "quality.bioimage.io.zip"):
        assert (quality_model / name).is_file(), name
    assert (quality_model / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not _leftovers(quality_model.parent)  # no staging folder left behind

    with open(quality_model / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    epochs = int(QUALITY_TRAINING[QUALITY_TRAINING.index("--epochs") + 1])
    assert [int(r["epoch"]) for r in rows] == list(range(1, epochs + 1))
    losses = [float(r["loss"]) for r in rows]
    assert all(np.isfinite(losses)) and all(np.isfinite([float(r["val_loss"]) for r in rows]))
    assert losses[-1] < losses[0]
    assert all(float(r["lr"]) > 0 for r in rows)


@pytest.mark.slow
def test_metadata_records_how_the_planes_were_seen(quality_model, dome_stack, channel_stack):
    meta = json.loads((quality_model / "imagej_n2v.json").read_text())
    assert meta["normalization"] == "per-plane"
    assert meta["zero_columns"] == "cut"
    assert meta["training"]["patch_size"] == 32 and meta["training"]["channels"] is None
    data = meta["data"]
    planes = dome_stack.noisy.shape[0] * dome_stack.noisy.shape[1] + channel_stack.noisy.shape[0] * channel_stack.noisy.shape[1]
    assert data["planes_used"] == planes
    assert data["train_patches"] + data["validation_patches"] == 2000
    assert data["validation_patches"] == 200
    low, high = data["plane_mean_range"]
    assert high / low > 100  # channels 100x apart and bleached frames were all seen
    config = json.loads((quality_model / "config.json").read_text())
    assert config["n2v_patch_shape"] == [32, 32] and config["train_steps_per_epoch"] == 200


@pytest.mark.slow
def test_model_loads_in_n2v_as_the_seed_notebook_does(quality_model, dome_stack):
    from n2v.models import N2V

    model = N2V(config=None, name=quality_model.name, basedir=str(quality_model.parent))
    plane = dome_stack.noisy[0, 0, :, 6:-6].astype(np.float32)
    predicted = model.predict(plane, axes="YX")
    assert predicted.shape == plane.shape and np.isfinite(predicted).all()


@pytest.mark.slow
def test_training_again_without_overwrite_fails_and_keeps_the_model(quality_model, input_files, capsys):
    before = _snapshot(quality_model)
    code = main(["train", str(input_files.dome), "--name", quality_model.name,
                 "--model-dir", str(quality_model.parent), *QUALITY_TRAINING])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, "one sentence, no traceback"
    assert "already exists" in err and "--overwrite" in err and "--name" in err
    assert _snapshot(quality_model) == before
    assert not _leftovers(quality_model.parent)


@pytest.mark.slow
def test_overwrite_replaces_a_model_only_with_a_complete_one(tiny_model, dome_stack, tmp_path):
    target = tmp_path / "tiny"
    shutil.copytree(tiny_model, target)
    before = _snapshot(target)
    stacks = [PlaneStack(dome_stack.noisy, dome_stack.axes)]

    with pytest.raises(OutputError, match="already exists"):
        train_model(stacks, target, TrainConfig(**{**TINY_TRAINING, "seed": 1}), export=False)
    with pytest.raises(InputError, match="No plane has a 128x128 area"):  # fails before anything is written
        train_model(stacks, target, TrainConfig(**{**TINY_TRAINING, "patch_size": 128}), overwrite=True, export=False)
    assert _snapshot(target) == before

    result = train_model(stacks, target, TrainConfig(**{**TINY_TRAINING, "seed": 1}), overwrite=True, export=False)
    assert result.model_folder == target and result.archive is None
    after = _snapshot(target)
    assert after["weights_best.h5"][0] != before["weights_best.h5"][0]
    assert "tiny.bioimage.io.zip" not in after  # the old model was replaced as a whole, not merged
    assert json.loads((target / "imagej_n2v.json").read_text())["training"]["seed"] == 1
    assert _leftovers(tmp_path) == []


@pytest.mark.slow
def test_training_on_chosen_channels(channel_stack, tmp_path):
    stacks = [PlaneStack(channel_stack.noisy, channel_stack.axes)]
    result = train_model(stacks, tmp_path / "bright", TrainConfig(**TINY_TRAINING, channels=[3]), export=False)
    meta = describe_model(result.model_folder).metadata
    assert meta["training"]["channels"] == [3]
    assert meta["data"]["planes_used"] == channel_stack.noisy.shape[0]  # channel 3 of every frame, nothing else
    low, _ = meta["data"]["plane_mean_range"]
    assert low > 2 * channel_stack.clean[:, 1].mean(axis=(-2, -1)).max()  # no plane of a dimmer channel
    assert "channels trained: 3" in model_lines(describe_model(result.model_folder))
    with pytest.raises(InputError, match="channel list asks for channel 4, but the image has 3 channels"):
        train_model(stacks, tmp_path / "none", TrainConfig(**TINY_TRAINING, channels=[4]), export=False)


@pytest.mark.parametrize(
    "option, value, fragment",
    [("patch_size", 30, "divisible by 4"), ("val_fraction", 1.0, "between 0 and 1"), ("unet_kernel", 4, "odd"),
     ("patches", 1, "at least 2"), ("precision", "fp8", "one of fp32"), ("channels", [0], "counts from 1")],
)
def test_bad_settings_name_the_option(option, value, fragment):
    with pytest.raises(InputError, match=f"The option {option} .*{fragment}"):
        TrainConfig(**{option: value})


@pytest.mark.parametrize("augment", [False, True])
def test_augment_turns_the_training_patches_and_leaves_validation_as_it_lies(dome_stack, tmp_path, augment):
    import shutil as _shutil

    from imagej_n2v.training.patches import sample_patches
    from imagej_n2v.training.stopping import Pace
    from imagej_n2v.training.train import prepare

    config = TrainConfig(patch_size=16, patches=200, augment=augment, seed=3)
    stacks = [PlaneStack(dome_stack.noisy, dome_stack.axes)]
    run = prepare(stacks, tmp_path / "m", config, Pace(None), False, False, False, None)
    _shutil.rmtree(run.staging)
    plain = sample_patches(stacks, 16, 200, config.val_fraction, 3)
    np.testing.assert_array_equal(run.patches.validation, plain.validation)
    assert np.array_equal(run.patches.train, plain.train) != augment
    assert sorted(run.patches.train.ravel()) == pytest.approx(sorted(plain.train.ravel()))  # the same pixels, turned
