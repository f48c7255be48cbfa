"""Bad inputs, models, options and outputs end in one sentence and exit status 2 (issue #5).

Each case runs the real CLI in-process on real broken files and checks the exit status, that
the message is one line naming the file and the fix, that no traceback is shown, and what is
left on disk. Cases that need a trained network use the session's ``tiny_model``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tifffile

from imagej_n2v import api
from imagej_n2v.cli import main
from imagej_n2v.data.tiff_io import write_image
from imagej_n2v.errors import InputError

TRAIN = ["--patch-size", "32", "--patches", "20", "--epochs", "1", "--steps", "1", "--batch-size", "4", "--no-export"]


def run(capsys, *argv: str) -> tuple[int, str]:
    """Exit status and the error line of ``imagej-n2v --quiet ARGV``; fails on tracebacks or chatter."""
    code = main(["--quiet", *argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("imagej-n2v: error:")]
    return code, errors[-1] if errors else ""


def assert_one_sentence(line: str, *fragments: str) -> None:
    assert line.startswith("imagej-n2v: error: ") and line.rstrip().endswith("."), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------- broken input files


def _good(path: Path) -> None:
    rng = np.random.default_rng(0)
    write_image(path, rng.integers(100, 1000, (2, 3, 48, 48)).astype(np.uint16), "TZYX")


def _truncated(fraction: float, shape: tuple[int, ...] = (4, 64, 64), **write):
    def make(path: Path) -> None:
        rng = np.random.default_rng(0)
        tifffile.imwrite(path, rng.integers(0, 1000, shape).astype(np.uint16), **write)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])

    return make


def _float_with(value: float):
    def make(path: Path) -> None:
        data = np.random.default_rng(0).random((3, 48, 48)).astype(np.float32)
        data[2, 5, 7] = value
        write_image(path, data, "ZYX")

    return make


BROKEN = {
    "not_a_tiff": (lambda p: p.write_text("hello"), ["not a readable TIFF"]),
    "header_cut": (lambda p: (_good(p), p.write_bytes(p.read_bytes()[:60])), ["not a readable TIFF"]),
    "imagej_cut": (_truncated(0.6, imagej=True, metadata={"axes": "ZYX"}), ["is truncated", "promises 4 planes"]),
    "plain_cut": (_truncated(0.6, photometric="minisblack", metadata={"axes": "ZYX"}), ["is truncated"]),
    "pixels_cut": (_truncated(0.95, (128, 128)), ["is truncated", "past the end"]),
    "compressed_cut": (_truncated(0.95, photometric="minisblack", compression="zlib", metadata={"axes": "ZYX"}),
                       ["is truncated"]),
    "rgb": (lambda p: tifffile.imwrite(p, np.zeros((32, 32, 3), np.uint8), photometric="rgb"), ["RGB", "Make Composite"]),
    "complex": (lambda p: tifffile.imwrite(p, np.ones((32, 32), np.complex64)), ["complex numbers"]),
    "nan": (_float_with(np.nan), ["NaN or infinite", "slice 3", "Remove NaNs"]),
    "inf": (_float_with(-np.inf), ["NaN or infinite", "slice 3"]),
    "all_zero": (lambda p: write_image(p, np.zeros((2, 48, 48), np.uint16), "ZYX"), ["No plane has a 32x32 area of data"]),
    "small_planes": (lambda p: write_image(p, np.ones((2, 16, 16), np.uint16), "ZYX"), ["32x32", "smaller --patch-size"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_training_input_is_one_sentence(tmp_path, capsys, case):
    make, fragments = BROKEN[case]
    path = tmp_path / f"{case}.tif"
    make(path)
    code, line = run(capsys, "train", str(path), "--name", "m", "--model-dir", str(tmp_path / "models"), *TRAIN)
    assert code == 2
    assert_one_sentence(line, str(path), *fragments)
    assert leftovers(tmp_path / "models") == []


def test_damaged_page_is_found_when_its_plane_is_read(tmp_path):
    """The header reads fine; the cut-off pixels of one page only fail when that plane is needed."""
    from imagej_n2v.data.stack import PlaneIndex
    from imagej_n2v.data.tiff_io import read_image

    path = tmp_path / "damaged.tif"
    data = np.random.default_rng(0).integers(0, 1000, (4, 64, 64)).astype(np.uint16)
    tifffile.imwrite(path, data, photometric="minisblack", compression="zlib", metadata={"axes": "ZYX"})
    raw = bytearray(path.read_bytes())
    page = tifffile.TiffFile(path).pages[2]
    start = page.dataoffsets[0] + 10
    raw[start : start + 200] = bytes(200)  # zeros inside plane 3's compressed stream
    path.write_bytes(bytes(raw))
    stack = read_image(path).stack
    assert np.array_equal(stack.plane(PlaneIndex(0, 0, 0)), data[0])
    with pytest.raises(InputError, match=f"{path} is damaged or truncated.*copy the file again"):
        stack.plane(PlaneIndex(0, 2, 0))


@pytest.mark.parametrize("axes, fragments", [
    ("QYX", ["unknown letters Q"]),
    ("ZZX", ["repeats Z"]),
    ("TZX", ["must contain both Y and X"]),
    ("TZYX", ["4 letters but the image has 3 dimensions"]),
])
def test_bad_axes_are_one_sentence(tmp_path, capsys, axes, fragments):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.ones((3, 40, 40), np.uint16), photometric="minisblack")
    code, line = run(capsys, "info", str(path), "--axes", axes)
    assert code == 2
    assert_one_sentence(line, *fragments)


def test_plain_stack_without_axes_asks_for_them(tmp_path, capsys):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.ones((3, 40, 40), np.uint16), photometric="minisblack", metadata=None)
    code, line = run(capsys, "info", str(path))
    assert code == 2
    assert_one_sentence(line, str(path), "--axes")


def test_missing_paths_and_empty_folders(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    for target, fragment in ((tmp_path / "missing.tif", "does not exist"), (tmp_path / "empty", "contains no TIFF files")):
        code, line = run(capsys, "train", str(target), "--name", "m", "--model-dir", str(tmp_path), *TRAIN)
        assert code == 2
        assert_one_sentence(line, str(target), fragment)


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize("argv, fragment", [
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_argparse_rejects_unknown_options(tmp_path, capsys, argv, fragment):
    path = tmp_path / "good.tif"
    _good(path)
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(path), "--name", "m", "--model-dir", str(tmp_path), *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("imagej-n2v")


@pytest.mark.parametrize("argv, fragments", [
    (["--patch-size", "30"], ["patch_size", "divisible by 4", "not 30"]),
    (["--val-fraction", "1.5"], ["val_fraction", "between 0 and 1"]),
    (["--channels", "2"], ["channel list asks for channel 2", "1 channel"]),
    (["--channels", "1-x"], ["malformed at '1-x'"]),
    (["--channels", "3-1"], ["runs backwards"]),
    (["--patch-size", "abc"], ["The option patch_size must be a whole number, not 'abc'"]),
    (["--epochs", "2.5"], ["The option epochs must be a whole number, not '2.5'"]),
    (["--precision", "fp8"], ["The option precision must be one of fp32, bf16, fp16 or auto, not 'fp8'"]),
])
def test_invalid_option_values_are_one_sentence(tmp_path, capsys, argv, fragments):
    path = tmp_path / "good.tif"
    _good(path)
    code, line = run(capsys, "train", str(path), "--name", "m", "--model-dir", str(tmp_path / "models"), *TRAIN, *argv)
    assert code == 2
    assert_one_sentence(line, *fragments)
    assert leftovers(tmp_path / "models") == []


def test_api_refuses_unknown_and_mistyped_options(dome_stack, tmp_path):
    with pytest.raises(InputError, match="Unknown option epoch: the options are .*epochs"):
        api.train(dome_stack.noisy, dome_stack.axes, tmp_path / "m", epoch=3)
    with pytest.raises(InputError, match="The option patch_size must be a whole number, not 'big'"):
        api.train(dome_stack.noisy, dome_stack.axes, tmp_path / "m", patch_size="big")
    with pytest.raises(InputError, match="Unknown option frame:"):
        api.denoise(dome_stack.noisy, dome_stack.axes, tmp_path / "m", frame="1")
    assert not (tmp_path / "m").exists()


# --------------------------------------------------------------------------- existing models and outputs


def test_existing_model_is_not_replaced_without_overwrite(tmp_path, capsys):
    path = tmp_path / "good.tif"
    _good(path)
    model = tmp_path / "models" / "m"
    model.mkdir(parents=True)
    (model / "keep.txt").write_text("mine")
    code, line = run(capsys, "train", str(path), "--name", "m", "--model-dir", str(tmp_path / "models"), *TRAIN)
    assert code == 2
    assert_one_sentence(line, str(model), "already exists", "--overwrite")
    assert leftovers(model) == ["keep.txt"] and leftovers(tmp_path / "models") == ["m"]


@pytest.mark.slow
def test_existing_output_is_not_replaced_without_overwrite(tmp_path, capsys, tiny_model):
    path = tmp_path / "good.tif"
    _good(path)
    target = tmp_path / "good_denoised.tif"
    target.write_bytes(b"earlier result")
    code, line = run(capsys, "denoise", str(path), "--model", str(tiny_model))
    assert code == 2
    assert_one_sentence(line, str(target), "already exists", "--overwrite")
    assert target.read_bytes() == b"earlier result"
    assert leftovers(tmp_path) == ["good.tif", "good_denoised.tif"]


# --------------------------------------------------------------------------- models


def _damage(folder: Path, how: str) -> None:
    if how == "no_weights":
        for weights in folder.glob("weights_*.h5"):
            weights.unlink()
        shutil.rmtree(folder / "tf_model", ignore_errors=True)
    elif how == "no_config":
        (folder / "config.json").unlink()
    elif how == "bad_config":
        (folder / "config.json").write_text("{broken")
    elif how == "cut_weights":
        for weights in folder.glob("weights_*.h5"):
            weights.write_bytes(weights.read_bytes()[:5000])
    elif how in ("zyx_model", "two_channels"):
        config = (folder / "config.json").read_text()
        old, new = (('"axes": "YXC"', '"axes": "ZYXC"') if how == "zyx_model" else ('"n_channel_in": 1', '"n_channel_in": 2'))
        assert old in config
        (folder / "config.json").write_text(config.replace(old, new))


@pytest.mark.slow
@pytest.mark.parametrize("how, fragments", [
    ("missing", ["does not exist", "model folder or a bioimage.io zip"]),
    ("no_weights", ["has no weights", "train it again"]),
    ("no_config", ["has no config.json"]),
    ("bad_config", ["config.json cannot be read"]),
    ("cut_weights", ["weights_best.h5 is damaged"]),
    ("zyx_model", ["is not a valid n2v configuration", "train the model again"]),  # ZYX axes in a 2D config
    ("two_channels", ["with 2 channels", "2D single-channel models"]),
    ("not_a_zip", ["is not a valid zip archive"]),
])
def test_unusable_models_are_one_sentence(tmp_path, capsys, tiny_model, how, fragments):
    image = tmp_path / "good.tif"
    _good(image)
    if how == "not_a_zip":
        model = tmp_path / "model.bioimage.io.zip"
        model.write_text("not a zip")
    else:
        model = tmp_path / "model"
        if how != "missing":
            shutil.copytree(tiny_model, model)
            _damage(model, how)
    code, line = run(capsys, "denoise", str(image), "--model", str(model), "--output", str(tmp_path / "out"))
    assert code == 2
    assert_one_sentence(line, str(model), *fragments)
    assert leftovers(tmp_path / "out") == []


# --------------------------------------------------------------------------- lazy checks while denoising


@pytest.mark.slow
@pytest.mark.parametrize("case", ["nan", "all_zero"])
def test_denoise_stops_at_a_bad_plane_and_writes_nothing(tmp_path, capsys, tiny_model, case):
    make, fragments = BROKEN[case]
    path = tmp_path / f"{case}.tif"
    make(path)
    code, line = run(capsys, "denoise", str(path), "--model", str(tiny_model), "--output", str(tmp_path / "out"))
    assert code == 2
    assert_one_sentence(line, str(path), *(fragments if case == "nan" else ["zero everywhere", "nothing to denoise"]))
    assert leftovers(tmp_path / "out") == []


@pytest.mark.slow
def test_api_names_the_plane_with_nan(tiny_model):
    data = np.random.default_rng(0).random((2, 3, 40, 40)).astype(np.float32)
    data[1, 0, 3, 3] = np.nan
    with pytest.raises(InputError, match=r"The image has NaN or infinite values in frame 2, slice 1, channel 1"):
        api.denoise(data, "TZYX", tiny_model)


@pytest.mark.slow
def test_folder_run_skips_bad_files_and_says_some_failed(tmp_path, capsys, tiny_model):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    _good(inputs / "a_good.tif")
    BROKEN["not_a_tiff"][0](inputs / "b_not_a_tiff.tif")
    BROKEN["nan"][0](inputs / "c_nan.tif")
    _good(inputs / "d_good.tif")
    out = tmp_path / "out"
    code = main(["--quiet", "denoise", str(inputs), "--model", str(tiny_model), "--output", str(out)])
    err = capsys.readouterr().err  # the CLI logs each skipped file to stderr
    assert code == 1
    assert leftovers(out) == ["a_good_denoised.tif", "d_good_denoised.tif"]
    assert tifffile.imread(out / "d_good_denoised.tif").shape == (2, 3, 48, 48)
    assert "b_not_a_tiff.tif: " in err and "c_nan.tif: " in err and err.count("(skipped)") == 2
    assert "2 of 4 file(s) failed." in err and "Traceback" not in err


# --------------------------------------------------------------------------- unwritable and full disks


@pytest.fixture
def mount_tmpfs(tmp_path):
    """Mount a tiny tmpfs (``mount_tmpfs(name, "2m", read_only)``); skipped where mounting is not allowed."""
    mounted: list[Path] = []

    def mount(name: str, size: str, read_only: bool = False) -> Path:
        point = tmp_path / name
        point.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"mounting a {size} tmpfs is not permitted here: {done.stderr.strip() or done.returncode}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=False)


def test_unwritable_model_folder(tmp_path, capsys, mount_tmpfs):
    read_only = mount_tmpfs("ro", "1m", read_only=True)
    path = tmp_path / "good.tif"
    _good(path)
    code, line = run(capsys, "train", str(path), "--name", "m", "--model-dir", str(read_only / "models"), *TRAIN)
    assert code == 2
    assert_one_sentence(line, str(read_only), "Read-only file system", "writable folder")


def test_full_disk_while_training_leaves_nothing(tmp_path, capsys, mount_tmpfs):
    small = mount_tmpfs("small", "2m")
    path = tmp_path / "good.tif"
    _good(path)
    code, line = run(capsys, "train", str(path), "--name", "m", "--model-dir", str(small), *TRAIN)
    assert code == 2
    assert_one_sentence(line, str(small / "m"), "No space left on device", "free disk space")
    assert leftovers(small) == []


@pytest.mark.slow
def test_unwritable_output_folder(tmp_path, capsys, mount_tmpfs, tiny_model):
    read_only = mount_tmpfs("ro", "1m", read_only=True)
    path = tmp_path / "good.tif"
    _good(path)
    for output, fragment in ((read_only, "Read-only file system"), (path, "is a file")):
        code, line = run(capsys, "denoise", str(path), "--model", str(tiny_model), "--output", str(output))
        assert code == 2
        assert_one_sentence(line, str(output), fragment)
    assert leftovers(read_only) == []


@pytest.mark.slow
def test_full_disk_while_denoising_leaves_no_partial_file(tmp_path, capsys, mount_tmpfs, tiny_model):
    small = mount_tmpfs("small", "2m")
    path = tmp_path / "big.tif"
    write_image(path, np.random.default_rng(0).integers(1, 1000, (20, 256, 256)).astype(np.uint16), "ZYX")  # 2.6 MB
    code, line = run(capsys, "denoise", str(path), "--model", str(tiny_model), "--output", str(small))
    assert code == 2
    assert_one_sentence(line, str(small / "big_denoised.tif"), "free disk space")
    assert leftovers(small) == []


def _command(tmp_path: Path, tiny_model: Path, command: str, path: Path) -> list[str]:
    """The CLI arguments that make ``command`` read ``path``."""
    if command == "train":
        return ["train", str(path), "--name", "m", "--model-dir", str(tmp_path / "models"), *TRAIN]
    if command == "denoise":
        return ["denoise", str(path), "--model", str(tiny_model), "--output", str(tmp_path / "out")]
    return ["info", str(path)]


@pytest.mark.parametrize("command", ["train", "denoise", "info"])
@pytest.mark.parametrize("suffix", [".czi", ".ND2", ".lif"])
def test_bioformats_file_says_open_it_in_fiji(tmp_path, capsys, tiny_model, command, suffix):
    """Issue 17: a microscope file tifffile cannot read gets the way to use it, not 'not a readable TIFF'."""
    path = tmp_path / f"scan{suffix}"
    path.write_bytes(b"ZISRAWFILE" + bytes(200))
    code, line = run(capsys, *_command(tmp_path, tiny_model, command, path))
    assert code == 2
    assert_one_sentence(line, str(path), "only Bio-Formats reads", "open it in Fiji", "save it as TIFF")
    assert "not a readable TIFF" not in line


def test_folder_skips_bioformats_files_and_names_them(tmp_path, capsys, tiny_model):
    folder = tmp_path / "in"
    folder.mkdir()
    _good(folder / "a.tif")
    for name in ("b.czi", "c.nd2"):
        (folder / name).write_bytes(bytes(100))
    code = main(["--quiet", "denoise", str(folder), "--model", str(tiny_model), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_denoised.tif"]
    assert "skipped b.czi, c.nd2, which only Bio-Formats reads: open them in Fiji" in err
    (folder / "a.tif").unlink()
    code, line = run(capsys, *_command(tmp_path, tiny_model, "train", folder))
    assert code == 2
    assert_one_sentence(line, "contains no TIFF files", "b.czi, c.nd2 only Bio-Formats reads", "open them in Fiji")
