"""N2V Denoise and N2V Train run from macros in a real headless ImageJ, compared with the CLI."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from imagej_n2v.cli import main
from imagej_n2v.data.synthetic import make_stack
from imagej_n2v.data.tiff_io import Calibration, read_image, write_image

pytestmark = pytest.mark.imagej

ROOT = Path(__file__).resolve().parents[3]
MACROS = ROOT / "macros"
CAL = Calibration(pixel_width=0.4, pixel_height=0.4, unit="micron", z_spacing=1.25, frame_interval=12.0)

DENOISE_AND_SAVE = """
setBatchMode(true);
args = getArgument();
open(call("ij.Macro.getValue", args, "input", ""));
run("N2V Denoise", call("ij.Macro.getValue", args, "options", ""));
getDimensions(w, h, c, z, t);
print("result " + getTitle() + " " + w + " " + h + " " + c + " " + z + " " + t + " " + bitDepth());
saveAs("Tiff", call("ij.Macro.getValue", args, "output", ""));
"""


def _args(**values: object) -> str:
    return " ".join(f"{k}=[{v}]" for k, v in values.items())


def _same_calibration(image, expected: Calibration) -> None:
    """Pixel size and unit always; z spacing and frame interval where the image has slices, frames."""
    found = image.calibration
    assert (found.pixel_width, found.pixel_height, found.unit) == pytest.approx(
        (expected.pixel_width, expected.pixel_height, expected.unit))
    if image.stack.slices > 1:  # ImageJ itself saves no z spacing for a single slice
        assert found.z_spacing == pytest.approx(expected.z_spacing)
    if image.stack.frames > 1:
        assert found.frame_interval == pytest.approx(expected.frame_interval)


@pytest.mark.slow
def test_macro_denoise_gives_the_clis_result(macro, tiny_model, input_files, tmp_path):
    assert main(["--quiet", "denoise", str(input_files.dome), "--model", str(tiny_model),
                 "--output", str(tmp_path / "cli")]) == 0
    cli = read_image(tmp_path / "cli" / "dome_denoised.tif")

    target = tmp_path / "macro" / "dome_denoised.tif"
    target.parent.mkdir()
    result = macro(DENOISE_AND_SAVE, _args(input=input_files.dome, options=f"model=[{tiny_model}]", output=target))
    assert not result.failed, result.error
    original = read_image(input_files.dome)
    t, z, c = original.stack.tzc
    assert f"result dome_denoised {original.stack.width} {original.stack.height} {c} {z} {t} 16" in result.log

    ours = read_image(target)
    assert ours.axes == cli.axes == original.axes == "TZYX"
    assert ours.stack.dtype.str[1:] == "u2"  # ImageJ writes big-endian
    _same_calibration(ours, original.calibration)
    difference = np.abs(tifffile.imread(target).astype(np.int32) - tifffile.imread(cli.path).astype(np.int32))
    assert difference.max() <= 1, f"macro and CLI differ by up to {difference.max()} grey levels"
    assert not np.array_equal(tifffile.imread(target), tifffile.imread(input_files.dome)), "nothing was denoised"
    assert f"denoised with {tiny_model.name}, precision fp32" in result.log
    with tifffile.TiffFile(target) as saved:
        assert "precision fp32" in saved.imagej_metadata.get("Info", ""), "the Info property was not saved"


@pytest.mark.slow
@pytest.mark.parametrize("frames, slices, channels", [(1, 1, 1), (6, 1, 1), (2, 2, 2)])
def test_macro_denoise_keeps_every_hyperstack_shape(macro, tiny_model, tmp_path, frames, slices, channels):
    stack = make_stack(frames=frames, slices=slices, channels=channels, height=32, width=40, seed=3)
    source = write_image(tmp_path / "in.tif", stack.noisy, stack.axes, CAL)
    target = tmp_path / "out.tif"
    result = macro(DENOISE_AND_SAVE, _args(input=source, options=f"model=[{tiny_model}]", output=target))
    assert not result.failed, result.error
    back = read_image(target)
    assert back.axes == stack.axes and back.stack.shape == stack.noisy.shape
    assert back.stack.dtype.str[1:] == "u2"
    _same_calibration(back, CAL)


@pytest.mark.slow
def test_macro_denoise_chosen_frames_in_32_bit(macro, tiny_model, tmp_path):
    stack = make_stack(frames=4, slices=2, height=32, width=32, seed=4)
    source = write_image(tmp_path / "in.tif", stack.noisy, stack.axes, CAL)
    options = f"model=[{tiny_model}] bit_depth=32 frames=[2,4]"
    result = macro(DENOISE_AND_SAVE, _args(input=source, options=options, output=tmp_path / "out.tif"))
    assert not result.failed, result.error
    back = tifffile.imread(tmp_path / "out.tif")
    assert back.dtype.str[1:] == "f4" and back.shape == (2, 2, 32, 32)


@pytest.mark.slow
def test_macro_train_writes_a_model_the_cli_uses(macro, input_files, tmp_path):
    model = tmp_path / "models" / "from macro"
    code = f"""
    setBatchMode(true);
    open("{input_files.dome}");
    run("N2V Train", "model=[{model}] patch_size=32 patches=200 validation=0.2 epochs=2 steps=5 batch_size=8 unet_kernel=3 seed=1 time_limit=1h patience=5 struct_mask=rows");
    """
    result = macro(code)
    assert not result.failed, result.error
    assert "epoch 1/2" in result.log and "epoch 2/2" in result.log
    assert "left, ends about" in result.log.split("epoch 2/2")[0]  # the estimate, also on the status bar
    with open(model / "history.csv") as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1", "2"]
    assert (model / "loss.png").is_file()
    recorded = json.loads((model / "imagej_n2v.json").read_text())["training"]
    assert (recorded["epochs"], recorded["steps"], recorded["val_fraction"]) == (2, 5, 0.2)
    assert (recorded["time_limit"], recorded["patience"], recorded["struct_mask"]) == ("1h", 5, "rows")
    assert json.loads((model / "config.json").read_text())["structN2Vmask"] == [[1] * 9]
    assert "N2V Train: Warning: this model is no better than a blur" in result.log or "N2V Train: WARNING" in result.log
    assert main(["--quiet", "denoise", str(input_files.dome), "--model", str(model),
                 "--output", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "dome_denoised.tif").is_file()


@pytest.mark.slow
def test_macro_check_only_logs_the_verdict_and_makes_no_image(macro, tiny_model, input_files):
    result = macro(f"""
    setBatchMode(true);
    open("{input_files.dome}");
    run("N2V Denoise", "model=[{tiny_model}] check=only");
    print("images " + nImages + " " + getTitle());
    """)
    assert not result.failed, result.error
    assert "N2V Denoise: " in result.log and "blur" in result.log.split("N2V Denoise: ", 1)[1]
    assert "images 1 dome.tif" in result.log


@pytest.mark.parametrize("code, sentence", [
    ('newImage("a", "16-bit ramp", 32, 32, 1); run("N2V Denoise", "model=[/m] colour=red");',
     "The N2V Denoise option 'colour' is unknown"),
    ('newImage("a", "16-bit ramp", 32, 32, 1); run("N2V Denoise", "model=[/nowhere/model]");',
     "The model /nowhere/model does not exist"),
    ('close("*"); run("N2V Denoise", "model=[/m]");', "No image is open"),
    ('newImage("a", "16-bit ramp", 32, 32, 1); run("N2V Train", "model=[/m] epochs=0");', "epochs must be at least 1"),
    ('newImage("photo", "RGB white", 32, 32, 1); run("N2V Denoise", "model=[/m]");', "RGB"),
])
def test_errors_abort_the_macro_with_one_sentence(macro, code, sentence):
    result = macro(code + ' print("after the error");')
    assert result.failed
    assert sentence in result.error and "Traceback" not in result.log
    assert "after the error" not in result.log
    assert sentence in result.log
    again = macro('newImage("b", "8-bit ramp", 8, 8, 1); print("next macro " + getTitle());')
    assert not again.failed and "next macro b" in again.log


@pytest.mark.slow
def test_the_next_command_works_after_a_failed_one(macro, tiny_model, input_files, tmp_path):
    failed = macro(f'open("{input_files.dome}"); run("N2V Denoise", "model=[{tiny_model}] frames=[9]");')
    assert failed.failed and "frame" in failed.error
    result = macro(DENOISE_AND_SAVE, _args(input=input_files.dome, options=f"model=[{tiny_model}]",
                                           output=tmp_path / "ok.tif"))
    assert not result.failed, result.error
    assert tifffile.imread(tmp_path / "ok.tif").shape == tifffile.imread(input_files.dome).shape


def _cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "imagej_n2v.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.slow
def test_example_macros_train_then_denoise(macro, input_files, tmp_path):
    from imagej_n2v.imagej.bridge import run_macro_file

    model = tmp_path / "domes"
    trained = _cli("macro", "--headless", str(MACROS / "train_dome.ijm"),
                   "--arg", _args(input=input_files.dome, model=model, epochs=1, steps=5, patch_size=32, patches=100))
    assert trained.returncode == 0, trained.stderr
    assert "N2V Train: epoch 1/1" in trained.stdout  # the Log streams to stdout, even while n2v trains
    assert (model / "config.json").is_file() and (model / "history.csv").is_file()

    output = tmp_path / "one.tif"
    denoised = run_macro_file(MACROS / "denoise_stack.ijm", _args(input=input_files.dome, model=model, output=output))
    assert not denoised.failed, denoised.error
    assert main(["--quiet", "denoise", str(input_files.dome), "--model", str(model), "--output", str(tmp_path / "cli")]) == 0
    assert np.array_equal(tifffile.imread(output), tifffile.imread(tmp_path / "cli" / "dome_denoised.tif")), \
        "the example macro and the CLI differ (tests/worker compares ImageJ's worker mode the same way)"

    kept = hashlib.sha256(output.read_bytes()).hexdigest()
    again = run_macro_file(MACROS / "denoise_stack.ijm", _args(input=input_files.dome, model=model, output=output))
    assert again.failed and f"The output {output} already exists" in again.error, again
    assert hashlib.sha256(output.read_bytes()).hexdigest() == kept
    retrained = _cli("macro", "--headless", str(MACROS / "train_dome.ijm"), "--arg", _args(input=input_files.dome, model=model))
    assert retrained.returncode == 2 and f"The model {model} already exists" in retrained.stderr
    missing = _cli("macro", "--headless", str(MACROS / "denoise_stack.ijm"),
                   "--arg", _args(input=tmp_path / "nope.tif", model=model))
    assert missing.returncode == 2 and f"The stack {tmp_path / 'nope.tif'} does not exist" in missing.stderr


@pytest.mark.slow
def test_compare_macro_shows_both_images_tiled_and_opens_synchronize_windows(macro, tiny_model, input_files):
    """Outside batch mode (the Python-started ImageJ runs macros so), on the private display."""
    from jpype import JClass

    from imagej_n2v.imagej.bridge import run_macro_file

    result = run_macro_file(MACROS / "compare.ijm", _args(input=input_files.dome, model=tiny_model))
    assert not result.failed, result.error
    assert "Compare dome.tif with dome_denoised" in result.log
    manager = JClass("ij.WindowManager")
    shown = {manager.getImage(i).getTitle(): manager.getImage(i).getWindow() for i in manager.getIDList()}
    assert set(shown) == {"dome.tif", "dome_denoised"} and None not in shown.values()
    sync = JClass("ij.plugin.frame.SyncWindows").getInstance()
    assert sync is not None and sync.isVisible()
    sync.close()


@pytest.mark.slow
def test_folder_macro_from_the_command_line(imagej, tiny_model, input_files, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    stack = make_stack(frames=3, slices=1, height=32, width=32, seed=5)
    write_image(folder / "a.tif", stack.noisy, stack.axes, CAL)
    (folder / "b.tiff").write_bytes(input_files.dome.read_bytes())
    (folder / "notes.txt").write_text("not an image")
    (folder / "c.tif").write_bytes(b"not a TIFF either")
    out = tmp_path / "out"
    run = _cli("macro", "--headless", str(MACROS / "denoise_folder.ijm"),
               "--arg", _args(input=folder, output=out, model=tiny_model))
    assert run.returncode == 0, run.stderr
    assert "Denoised 2 stack(s)" in run.stdout
    assert "1 file(s) failed:\n  c.tif: ImageJ cannot open it" in run.stdout
    assert sorted(p.name for p in out.iterdir()) == ["a_denoised.tif", "b_denoised.tif"]
    assert read_image(out / "a_denoised.tif").axes == "TYX"

    # A file N2V Denoise refuses is skipped too: the macro goes on to its end, and the exit status
    # says that something failed (as `imagej-n2v denoise` does for one bad file of several).
    tifffile.imwrite(folder / "d.tif", np.zeros((16, 16, 3), np.uint8), photometric="rgb")
    run = _cli("macro", "--headless", str(MACROS / "denoise_folder.ijm"),
               "--arg", _args(input=folder, output=out, model=tiny_model) + " overwrite")
    assert run.returncode == 1, run.stderr
    assert "Denoised 2 stack(s)" in run.stdout and "stopped" not in run.stderr
    assert "  d.tif: N2V Denoise failed" in run.stdout and "'d.tif' is 24-bit RGB" in run.stdout + run.stderr
    assert "ran to its end, but a command in it failed" in run.stderr


def test_failing_macro_exits_non_zero_with_the_sentence(imagej, tmp_path):
    script = tmp_path / "bad.ijm"
    script.write_text('setBatchMode(true); newImage("a", "16-bit ramp", 16, 16, 1);\n'
                      'print("before"); run("N2V Denoise", "model=[/m] colour=red"); print("after");\n')
    run = _cli("macro", "--headless", str(script))
    assert run.returncode == 2
    assert "before" in run.stdout and "after" not in run.stdout
    assert "The N2V Denoise option 'colour' is unknown" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout


def test_fiji_runs_the_commands(imagej, tmp_path):
    fiji = os.environ.get("FIJI_DIR")
    if not fiji or not Path(fiji, "jars").is_dir():
        pytest.skip("no Fiji.app here: set FIJI_DIR to a local Fiji.app to run the Fiji path")
    script = tmp_path / "fiji.ijm"
    script.write_text('newImage("a", "16-bit ramp", 16, 16, 1); run("N2V Denoise", "model=[/m] colour=red");\n')
    run = _cli("macro", "--headless", "--fiji", fiji, str(script))
    assert run.returncode == 2 and "'colour' is unknown" in run.stderr


@pytest.mark.slow
def test_menu_use_records_a_run_line_that_replays(macro, tiny_model):
    """Plugins > N2V > N2V Denoise with the Recorder on: the dialog (closed unanswered here, so it
    keeps the values an earlier dialog left in ImageJ's Prefs) is recorded as a run(...) line with
    every value, and that line works in a macro."""
    import time

    from jpype import JClass

    Prefs = JClass("ij.Prefs")
    remembered = {"n2v.denoise.model": str(tiny_model), "n2v.denoise.bit_depth": "32"}
    for key, value in remembered.items():
        Prefs.set(key, value)
    image = JClass("ij.IJ").createImage("menu", "16-bit ramp", 32, 32, 1)
    image.show()
    Recorder = JClass("ij.plugin.frame.Recorder")
    recorder = Recorder()
    bridge = JClass("N2V_Bridge")
    bridge.setDialogs(True)
    try:
        JClass("ij.Executer")("N2V Denoise", image)  # what a menu click does, on its own thread
        deadline = time.monotonic() + 300  # the event ends the wait; the deadline only bounds a broken run
        while "N2V Denoise" not in str(recorder.getText()) and time.monotonic() < deadline:
            time.sleep(0.2)
        recorded = next(line for line in str(recorder.getText()).splitlines() if "N2V Denoise" in line)
    finally:
        bridge.setDialogs(False)
        recorder.close()
        for key in remembered:
            Prefs.set(key, None)
    assert recorded.startswith('run("N2V Denoise", "model=') and str(tiny_model) in recorded
    assert "bit_depth=32" in recorded and "frames=[]" in recorded and "precision=auto" in recorded
    replay = macro(f'setBatchMode(true); newImage("again", "16-bit ramp", 32, 32, 1); {recorded} print(getTitle() + " " + bitDepth());')
    assert not replay.failed, replay.error
    assert "again_denoised 32" in replay.log


def test_escape_in_imagej_asks_training_to_stop(imagej):
    from jpype import JClass

    from imagej_n2v.imagej.bridge.commands import escape_stops

    IJ = JClass("ij.IJ")
    with escape_stops(poll_seconds=0.05) as stop:
        assert not stop.wait(0.2), "the stop request must not be set before Esc"
        IJ.setKeyDown(JClass("java.awt.event.KeyEvent").VK_ESCAPE)
        assert stop.wait(5), "Esc in ImageJ did not reach the training's stop event"
    IJ.resetEscape()
