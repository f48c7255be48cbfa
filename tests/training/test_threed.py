"""3D training: ZYX patches from each volume, what a 3D model records, NaN losses stopped."""

import csv
import json

import h5py
import numpy as np
import pytest

from imagej_n2v.cli import main
from imagej_n2v.config import TrainConfig
from imagej_n2v.data.stack import PlaneStack
from imagej_n2v.errors import InputError, Interrupted, TrainingError
from imagej_n2v.imagej.bridge.options import TRAIN, build_options
from imagej_n2v.models.folder import describe_model
from imagej_n2v.training.train import train_model
from imagej_n2v.training.volume_patches import sample_volume_patches
from tests.conftest import TINY_3D_TRAINING


def test_3d_is_one_setting_in_every_front_door():
    assert build_options(TRAIN, "model=[/m] 3d patch_depth=16").config == TrainConfig(three_d=True, patch_depth=16)
    assert not build_options(TRAIN, "model=[/m]").config.three_d
    with pytest.raises(InputError, match="patch_depth must be divisible by 4"):
        TrainConfig(three_d=True, patch_depth=6)


def test_cli_takes_3d(volume_stack, tmp_path, input_files):
    code = main(["--quiet", "train", str(input_files.dome), "--name", "m", "--model-dir", str(tmp_path), "--3d"])
    assert code == 2  # the dome has 3 slices, fewer than the default patch depth: refused in one sentence


def test_volume_patches_are_zyx_and_normalised_per_volume(volume_stack):
    stack = PlaneStack(volume_stack.noisy, volume_stack.axes)
    patches = sample_volume_patches([stack], 4, 16, 60, 0.1, seed=0)
    assert patches.train.shape[1:] == (4, 16, 16, 1) and patches.validation.shape[1:] == (4, 16, 16, 1)
    assert patches.planes_used == 4  # 2 frames x 2 channels
    assert patches.validation_area == "a band of rows at the bottom of each volume held out"
    # channels 10x apart are seen at one scale
    means = sorted(n.mean for n in patches.normalizations)
    assert means[-1] / means[0] > 5
    assert abs(float(patches.train.mean())) < 0.5 and 0.5 < float(patches.train.std()) < 1.5
    again = sample_volume_patches([stack], 4, 16, 60, 0.1, seed=0)
    np.testing.assert_array_equal(patches.train, again.train)


def test_volume_patches_never_include_the_zero_columns(volume_stack):
    stack = PlaneStack(volume_stack.noisy, volume_stack.axes)
    patches = sample_volume_patches([stack], 8, 16, 200, 0.1, seed=1)
    # 4 volumes x 1 z x 2 y (a training and a validation band of 16 rows) x 11 x positions in 32 - 2 x 3 columns
    assert patches.summary()["candidate_positions"] == 4 * 1 * 2 * (32 - 6 - 16 + 1)


def test_too_few_slices_are_refused_in_one_sentence(dome_stack):
    with pytest.raises(InputError, match=r"has 3 slice\(s\), fewer than the patch depth 8 .*--patch-depth"):
        sample_volume_patches([PlaneStack(dome_stack.noisy, dome_stack.axes)], 8, 32, 100, 0.1, seed=0)


def test_a_3d_model_records_it(tiny_3d_model):
    description = describe_model(tiny_3d_model)
    assert description.three_d and description.axes == "ZYX"
    metadata = description.metadata
    assert metadata["dimensions"] == "ZYX" and metadata["normalization"] == "per-volume"
    assert metadata["training"]["three_d"] is True and metadata["training"]["patch_depth"] == 4
    assert metadata["data"]["patch_depth"] == 4 and metadata["data"]["volumes_used"] == 4
    assert description.config["n2v_patch_shape"] == [4, 16, 16]
    assert not list(tiny_3d_model.glob("*.zip"))  # the archive's whole-denoiser graph is 2D only, for now


def _diverging(folder):
    """Make an interrupted training diverge when it is resumed: the learning rate it goes on with becomes 1e30."""
    path = folder / "history.csv"
    lines = path.read_text().splitlines()
    header, rows = lines[0].split(","), [n for n, line in enumerate(lines) if line[:1].isdigit()]
    last = lines[rows[-1]].split(",")
    last[header.index("lr")] = "1e30"
    lines[rows[-1]] = ",".join(last)
    path.write_text("\n".join(lines) + "\n")


def test_a_nan_loss_ends_training_keeping_the_model_so_far(volume_stack, tmp_path, caplog):
    stack = PlaneStack(volume_stack.noisy, volume_stack.axes)
    config = TrainConfig(**{**TINY_3D_TRAINING, "epochs": 3})
    folder = tmp_path / "m"
    with pytest.raises(Interrupted):  # stopped after its first epoch
        train_model([stack], folder, config, on_epoch=lambda epoch, *_: (_ for _ in ()).throw(KeyboardInterrupt))
    _diverging(folder)
    result = train_model([stack], folder, config, resume=True)
    assert result.ending.reason == "nan_loss"
    assert "the loss became NaN" in result.ending.text and "epoch 2" in result.ending.text
    assert result.history["loss"] and all(np.isfinite(v) for v in result.history["loss"])
    metadata = json.loads((folder / "imagej_n2v.json").read_text())
    assert metadata["ended"]["reason"] == "nan_loss" and not metadata.get("incomplete")
    for name in ("weights_best.h5", "weights_last.h5"):
        with h5py.File(folder / name) as weights:
            values = []
            weights.visititems(lambda _, item: values.append(np.asarray(item)) if isinstance(item, h5py.Dataset) else None)
            assert all(np.isfinite(v).all() for v in values), name
    rows = list(csv.reader(line for line in (folder / "history.csv").open() if not line.startswith("#")))
    assert "nan" not in " ".join(",".join(r) for r in rows).lower()


def test_a_nan_loss_before_any_epoch_is_one_sentence_and_leaves_nothing(volume_stack, tmp_path):
    stack = PlaneStack(volume_stack.noisy, volume_stack.axes)
    with pytest.raises(TrainingError, match=r"diverged before an epoch ended \(the loss became NaN"):
        train_model([stack], tmp_path / "m", TrainConfig(**{**TINY_3D_TRAINING, "learning_rate": 1e30}))
    assert not list(tmp_path.iterdir())


def test_anisotropy_is_advised_in_the_log_from_the_calibration(volume_stack, caplog):
    from imagej_n2v.training.train import log_anisotropy

    coarse, fine, plain = (PlaneStack(volume_stack.noisy, volume_stack.axes, source=name) for name in "abc")
    coarse.spacing, fine.spacing = (2.0, 0.1), (0.29, 0.26)
    with caplog.at_level("WARNING"):
        log_anisotropy([coarse, fine, plain])
    assert len(caplog.records) == 1
    assert "a: its z step (2) is 20.0 times its pixel size (0.1)" in caplog.text and "without --3d" in caplog.text


def test_a_calibrated_tiff_carries_its_z_step_to_the_stack(volume_stack, tmp_path):
    from imagej_n2v.data.tiff_io import read_image, write_image
    from tests.conftest import CALIBRATION

    path = write_image(tmp_path / "z.tif", volume_stack.noisy, volume_stack.axes, CALIBRATION)
    assert read_image(path).stack.spacing == pytest.approx((CALIBRATION.z_spacing, CALIBRATION.pixel_width))
