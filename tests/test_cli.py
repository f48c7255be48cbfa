"""The command line: info, one-sentence errors with exit status 2, and several files at once."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from imagej_n2v import __version__
from imagej_n2v.cli import main
from imagej_n2v.data.tiff_io import write_image
from imagej_n2v.errors import InputError
from tests.conftest import CALIBRATION, DOME_STRIP


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("imagej-n2v: error: ")
    assert "\n" not in err and "Traceback" not in err
    return err


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("imagej-n2v")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_info_on_an_image(input_files, capsys):
    assert main(["info", str(input_files.dome)]) == 0
    out = capsys.readouterr().out
    assert "axes: TZYX" in out and "shape: (2, 3, 64, 64)" in out and "uint16" in out
    assert "2 frames, 3 slices, 1 channels of 64x64" in out
    assert f"pixel size: {CALIBRATION.pixel_width:g} x {CALIBRATION.pixel_height:g} micron" in out
    assert "z spacing 1.5" in out and "frame interval 60" in out
    assert "ImageJ hyperstack: yes" in out


def test_info_on_a_plain_tiff_with_axes(tmp_path, capsys):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((4, 8, 6), np.uint16), photometric="minisblack")
    assert main(["info", str(path), "--axes", "ZXY"]) == 0
    out = capsys.readouterr().out
    assert "axes: ZXY" in out and "4 slices" in out and "of 6x8" in out
    assert "ImageJ hyperstack: no" in out


@pytest.mark.slow
@pytest.mark.parametrize("which", ["folder", "zip"])
def test_info_on_a_model(quality_model, capsys, which):
    path = quality_model if which == "folder" else quality_model / "quality.bioimage.io.zip"
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"model: {path}" in out
    assert "imagej-n2v N2V model, axes YX, 1 channel(s) in" in out
    assert "each plane by its own robust mean and std" in out
    assert "patch size: 32x32" in out
    assert "channels trained: all" in out
    assert "training: 4 epochs x 200 steps, batch 16" in out
    assert "final loss" in out and "validation loss" in out


def test_info_on_the_system(capsys):
    assert main(["info", "--system"]) == 0
    out = capsys.readouterr().out
    assert "tested stack:" in out and "NOT OK" not in out


def test_missing_input_is_one_sentence_and_exit_2(tmp_path, capsys):
    assert main(["denoise", str(tmp_path / "nothing.tif"), "--model", str(tmp_path)]) == 2
    assert "nothing.tif does not exist" in _error(capsys)


def test_wrong_axes_are_one_sentence_and_exit_2(input_files, tmp_path, capsys):
    code = main(["train", str(input_files.dome), "--axes", "ZYX", "--name", "m", "--model-dir", str(tmp_path)])
    assert code == 2
    assert "3 letters but the image has 4 dimensions" in _error(capsys)
    assert not list(tmp_path.iterdir())


def test_bad_option_value_is_one_sentence_and_exit_2(input_files, tmp_path, capsys):
    code = main(["train", str(input_files.dome), "--name", "m", "--model-dir", str(tmp_path), "--patch-size", "30"])
    assert code == 2
    assert "patch_size" in _error(capsys)


def test_a_folder_that_is_not_a_model(input_files, tmp_path, capsys):
    assert main(["denoise", str(input_files.dome), "--model", str(tmp_path), "--output", str(tmp_path)]) == 2
    assert "no config.json" in _error(capsys)


def test_debug_shows_the_exception(tmp_path):
    with pytest.raises(InputError):
        main(["--debug", "info", str(tmp_path / "nothing.tif")])


@pytest.mark.slow
def test_one_bad_file_among_several_is_skipped(quality_model, dome_stack, tmp_path, capsys):
    inputs = tmp_path / "in"
    write_image(inputs / "a.tif", dome_stack.noisy[0], "ZYX")
    (inputs / "b.tif").write_bytes(b"not a tiff")
    write_image(inputs / "c.tif", dome_stack.noisy[1, 0], "YX")
    out = tmp_path / "out"
    assert main(["--quiet", "denoise", str(inputs), "--model", str(quality_model), "--output", str(out)]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["a_denoised.tif", "c_denoised.tif"]
    err = capsys.readouterr().err
    assert "b.tif" in err and "1 of 3 file(s) failed" in err
    with tifffile.TiffFile(out / "c_denoised.tif") as tif:
        assert tif.series[0].axes == "YX" and tif.asarray().shape == (64, 64)


def test_each_cli_call_sets_its_own_log_level_and_stream(capsys):
    """In one process (the bridge, these tests) a later call must not inherit an earlier --quiet."""
    import logging

    from imagej_n2v.logs import configure_logging

    package_log = logging.getLogger("imagej_n2v.test")
    configure_logging(logging.WARNING)
    package_log.info("hidden while quiet")
    configure_logging(logging.INFO)
    package_log.info("shown at the default level")
    err = capsys.readouterr().err
    assert "hidden while quiet" not in err
    assert "shown at the default level" in err


TINY_CLI = ["--patch-size", "32", "--patches", "40", "--epochs", "1", "--steps", "4", "--batch-size", "4",
            "--unet-kernel", "3", "--no-export"]


def _read(path: Path) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        return tif.asarray()


@pytest.mark.slow
def test_n2v2_trains_and_denoises_end_to_end(input_files, tmp_path):
    assert main(["--quiet", "train", str(input_files.dome), "--name", "n2v2", "--model-dir", str(tmp_path), "--n2v2", *TINY_CLI]) == 0
    config = json.loads((tmp_path / "n2v2" / "config.json").read_text())
    assert config["blurpool"] and config["skip_skipone"] and config["n2v_manipulator"] == "median"
    assert json.loads((tmp_path / "n2v2" / "imagej_n2v.json").read_text())["training"]["n2v2"] is True
    assert main(["--quiet", "denoise", str(input_files.dome), "--model", str(tmp_path / "n2v2"),
                 "--output", str(tmp_path / "out"), "--bit-depth", "32"]) == 0
    noisy, result = _read(input_files.dome), _read(tmp_path / "out" / "dome_denoised.tif")
    assert result.shape == noisy.shape and np.isfinite(result).all()
    assert not np.allclose(result[..., DOME_STRIP:-DOME_STRIP], noisy[..., DOME_STRIP:-DOME_STRIP])


@pytest.mark.slow
def test_keep_zero_columns_trains_and_denoises_the_strips_too(input_files, tiny_model, tmp_path):
    """``tiny_model`` was trained on the same dome with the same patch size, without the flag."""
    assert main(["--quiet", "train", str(input_files.dome), "--name", "kept", "--model-dir", str(tmp_path),
                 "--keep-zero-columns", *TINY_CLI]) == 0
    cut, kept = (json.loads((folder / "imagej_n2v.json").read_text()) for folder in (tiny_model, tmp_path / "kept"))
    assert (cut["zero_columns"], kept["zero_columns"]) == ("cut", "kept")
    # patches may start in the strips: (64 - 32 + 1) instead of (64 - 2 * 6 - 32 + 1) columns per row
    assert kept["data"]["candidate_positions"] * 21 == cut["data"]["candidate_positions"] * 33

    outputs = {}
    for flag in ([], ["--keep-zero-columns"]):
        folder = tmp_path / f"out{len(flag)}"
        assert main(["--quiet", "denoise", str(input_files.dome), "--model", str(tmp_path / "kept"),
                     "--output", str(folder), "--bit-depth", "32", *flag]) == 0
        outputs[bool(flag)] = _read(folder / "dome_denoised.tif")
    strips = np.r_[0:DOME_STRIP, -DOME_STRIP:0]
    assert not outputs[False][..., strips].any()  # by default the strips stay zero
    assert outputs[True][..., strips].any()  # with the flag they went through the network too


@pytest.mark.slow
def test_training_says_what_it_does_after_the_last_epoch(input_files, tmp_path, capsys):
    """No silent wait (issue 27, point 5): saving and the bioimage.io export, which can take a minute, are announced."""
    options = [o for o in TINY_CLI if o != "--no-export"]
    assert main(["train", str(input_files.dome), "--name", "said", "--model-dir", str(tmp_path), *options]) == 0
    err = capsys.readouterr().err
    last_epoch, saving, exporting = (err.find(words) for words in ("epoch 1/1", "Saving the model said",
                                                                     "Exporting said as a bioimage.io archive"))
    assert 0 <= last_epoch < saving < exporting < err.find("Model written to"), err
    assert (tmp_path / "said" / "said.bioimage.io.zip").is_file()


def test_a_setting_on_by_default_can_be_turned_off_on_the_command_line():
    """``--average`` is on unless ``--no-average`` (a store_true flag could never turn it off)."""
    from imagej_n2v.cli import _settings, build_parser
    from imagej_n2v.config import TrainConfig

    parser = build_parser()
    assert _settings(parser.parse_args(["train", "x.tif", "--name", "m"]), TrainConfig).average is True
    assert _settings(parser.parse_args(["train", "x.tif", "--name", "m", "--no-average"]), TrainConfig).average is False
    assert _settings(parser.parse_args(["train", "x.tif", "--name", "m", "--average"]), TrainConfig).average is True
