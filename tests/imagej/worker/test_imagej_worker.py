"""ImageJ started the usual way (``java -jar ij.jar -batch``) with the jar put in place by
``imagej-n2v install-plugin``: the N2V commands run in a Python worker process that ImageJ starts."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from imagej_n2v.cli import main
from imagej_n2v.data.tiff_io import read_image
from imagej_n2v.imagej.bridge.runtime import DEFAULT_IJ_JAR

pytestmark = pytest.mark.imagej

MACROS = Path(__file__).resolve().parents[3] / "macros"
EXIT_S = 120  # how long a process may take to end after it was told to


def _args(**values: object) -> str:
    return " ".join(f"{k}=[{v}]" for k, v in values.items())


class ImageJ:
    """An ImageJ folder with the plugin installed, and a private Xvfb display for its batch runs."""

    def __init__(self, folder: Path, display: str):
        self.folder = folder
        self.env = {**os.environ, "DISPLAY": display, "TF_CPP_MIN_LOG_LEVEL": "2"}

    def command(self, macro: Path, argument: str) -> list[str]:
        return ["java", f"-Dplugins.dir={self.folder}", "-jar", str(DEFAULT_IJ_JAR), "-batch", str(macro), argument]

    def batch(self, macro: Path, argument: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(macro, argument), capture_output=True, text=True, timeout=600,
                              env={**self.env, **(env or {})})

    def start(self, macro: Path, argument: str, env: dict) -> subprocess.Popen:
        return subprocess.Popen(self.command(macro, argument), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={**self.env, **env})


@pytest.fixture(scope="module")
def imagej(installed) -> ImageJ:
    return ImageJ(installed.folder, installed.display)


@pytest.fixture
def pid_file(tmp_path) -> tuple[dict, Path]:
    """An IMAGEJ_N2V_PYTHON that writes the worker's process id to a file, then becomes the worker."""
    pid = tmp_path / "worker.pid"
    wrapper = tmp_path / "python-with-pid"
    wrapper.write_text(f'#!/bin/sh\necho $$ > "{pid}"\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    return {"IMAGEJ_N2V_PYTHON": str(wrapper)}, pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _gone(pid: int) -> bool:
    """Wait (up to EXIT_S) for the process to end; a zombie left to its parent counts as gone."""
    deadline = time.monotonic() + EXIT_S
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.2)
    return not _alive(pid)


def _wait_for_line(process: subprocess.Popen, words: str) -> list[str]:
    """ImageJ's output lines up to the first one containing ``words`` (fails if ImageJ ends first)."""
    seen = []
    for line in process.stdout:
        seen.append(line)
        if words in line:
            return seen
    raise AssertionError(f"ImageJ ended without printing {words!r}: {''.join(seen)}{process.stderr.read()}")


def test_install_plugin_puts_jar_and_python_in_place_and_removes_them(tmp_path):
    folder = tmp_path / "Fiji.app"
    folder.mkdir()
    assert main(["--quiet", "install-plugin", str(folder)]) == 0
    assert main(["--quiet", "install-plugin", str(folder)]) == 0  # again: an update
    config = (folder / "plugins" / "imagej_n2v.properties").read_text()
    assert f"python={sys.executable}" in config.splitlines()
    assert (folder / "plugins" / "imagej_n2v.jar").stat().st_size > 0
    assert main(["--quiet", "install-plugin", "--remove", str(folder)]) == 0
    assert list((folder / "plugins").iterdir()) == []
    assert main(["--quiet", "install-plugin", str(tmp_path / "nowhere")]) == 2


@pytest.mark.slow
def test_example_macros_give_the_clis_bytes(imagej, input_files, tmp_path):
    model = tmp_path / "domes"
    trained = imagej.batch(MACROS / "train_dome.ijm",
                           _args(input=input_files.dome, model=model, epochs=1, steps=5, patch_size=32, patches=100))
    assert "N2V Train: epoch 1/1" in trained.stdout, trained.stderr
    assert "N2V Train: Exporting domes as a bioimage.io archive" in trained.stdout  # no silent wait after the last epoch
    assert (model / "config.json").is_file() and (model / "history.csv").is_file()

    ours = tmp_path / "one.tif"
    denoised = imagej.batch(MACROS / "denoise_stack.ijm", _args(input=input_files.dome, model=model, output=ours))
    assert f"Saved {ours}" in denoised.stdout, denoised.stderr
    assert main(["--quiet", "denoise", str(input_files.dome), "--model", str(model), "--output", str(tmp_path / "cli")]) == 0
    cli = tmp_path / "cli" / "dome_denoised.tif"
    assert np.array_equal(tifffile.imread(ours), tifffile.imread(cli)), "ImageJ's worker and the CLI differ"
    assert read_image(ours).axes == read_image(cli).axes == "TZYX"
    assert read_image(ours).calibration.pixel_width == pytest.approx(read_image(cli).calibration.pixel_width)

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(input_files.channels, folder)
    shutil.copy(input_files.dome, folder)
    out = tmp_path / "out"
    several = imagej.batch(MACROS / "denoise_folder.ijm", _args(input=folder, output=out, model=model))
    assert "Denoised 2 stack(s)" in several.stdout, several.stderr
    assert main(["--quiet", "denoise", str(folder), "--model", str(model), "--output", str(tmp_path / "cli2")]) == 0
    for name in ("channels_denoised.tif", "dome_denoised.tif"):
        assert np.array_equal(tifffile.imread(out / name), tifffile.imread(tmp_path / "cli2" / name)), name

    kept = hashlib.sha256(ours.read_bytes()).hexdigest()
    again = imagej.batch(MACROS / "denoise_stack.ijm", _args(input=input_files.dome, model=model, output=ours))
    assert f"The output {ours} already exists" in again.stdout + again.stderr and "Saved" not in again.stdout
    assert hashlib.sha256(ours.read_bytes()).hexdigest() == kept
    replaced = imagej.batch(MACROS / "denoise_stack.ijm",
                            _args(input=input_files.dome, model=model, output=ours) + " overwrite")
    assert f"Saved {ours}" in replaced.stdout, replaced.stderr


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_example_macros_refuse_to_overwrite_and_name_a_missing_input(imagej, tiny_model, input_files, tmp_path):
    """Each refusal comes before any N2V command, so nothing is written and no worker starts."""
    model = tmp_path / "domes"
    shutil.copytree(tiny_model, model)
    result = tmp_path / "out" / "dome_denoised.tif"
    result.parent.mkdir()
    result.write_bytes(b"an earlier result")
    before = {p: _sha(p) for p in (model / "config.json", model / "weights_best.h5", result)}
    refusals = [
        (MACROS / "train_dome.ijm", _args(input=input_files.dome, model=model, epochs=1),
         f"The model {model} already exists: give another model folder, or add overwrite to replace it."),
        (MACROS / "denoise_stack.ijm", _args(input=input_files.dome, model=model, output=result),
         f"The output {result} already exists"),
        (MACROS / "denoise_folder.ijm", _args(input=input_files.dome.parent, output=result.parent, model=model),
         f"The result {result} already exists"),
        (MACROS / "denoise_stack.ijm", _args(input=tmp_path / "nope.tif", model=model),
         f"The stack {tmp_path / 'nope.tif'} does not exist: check the input path."),
        (MACROS / "denoise_folder.ijm", _args(input=tmp_path / "nowhere", output=tmp_path / "o", model=model),
         f"The folder {tmp_path / 'nowhere'} does not exist"),
        (MACROS / "compare.ijm", _args(input=input_files.dome, model=tmp_path / "none"),
         f"The model {tmp_path / 'none'} does not exist"),
        (MACROS / "compare.ijm", "", "Usage: input=[image file] model="),  # batch mode: no dialog waits
    ]
    for macro, argument, sentence in refusals:
        run = imagej.batch(macro, argument)
        assert sentence in run.stdout + run.stderr, (macro.name, run.stdout, run.stderr)
        assert "N2V" not in run.stdout + run.stderr, (macro.name, run.stdout, run.stderr)
    assert {p: _sha(p) for p in before} == before
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_folder_macro_skips_bad_files_and_lists_them(imagej, tiny_model, input_files, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(input_files.dome, folder)
    (folder / "broken.tif").write_bytes(b"not a TIFF at all")  # open() fails
    tifffile.imwrite(folder / "colour.tif", np.zeros((16, 16, 3), np.uint8), photometric="rgb")  # N2V Denoise fails
    out = tmp_path / "out"
    run = imagej.batch(MACROS / "denoise_folder.ijm", _args(input=folder, output=out, model=tiny_model))
    assert "Denoised 1 stack(s)" in run.stdout, run.stdout + run.stderr
    assert "2 file(s) failed:" in run.stdout
    assert "  broken.tif: ImageJ cannot open it" in run.stdout
    assert "  colour.tif: N2V Denoise failed" in run.stdout and "'colour.tif' is 24-bit RGB" in run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["dome_denoised.tif"]


@pytest.mark.slow
def test_compare_macro_in_batch_mode_denoises_and_closes(imagej, tiny_model, input_files):
    run = imagej.batch(MACROS / "compare.ijm", _args(input=input_files.dome, model=tiny_model))
    assert "Compare dome.tif with dome_denoised" in run.stdout, run.stdout + run.stderr
    assert "Synchronize" not in run.stdout + run.stderr


@pytest.mark.slow
def test_the_workers_result_keeps_what_the_image_carries(imagej, tiny_model, tmp_path):
    """A signed 16-bit image with Info, a slice label, a property and an overlay, denoised in 32 bits (issue 13)."""
    from imagej_n2v.data.synthetic import make_stack

    stack = make_stack(frames=2, slices=1, height=32, width=32, seed=6)
    signed = (stack.noisy.astype(np.int32) - 1000).astype(np.int16)
    source, target, macro = tmp_path / "signed.tif", tmp_path / "out.tif", tmp_path / "annotate.ijm"
    tifffile.imwrite(source, signed, metadata={"axes": stack.axes})  # ImageJ: 16-bit, value = raw - 32768
    macro.write_text(f"""
    setBatchMode(true);
    open("{source}");
    setMetadata("Info", "objective 60x");
    setSlice(2);
    setMetadata("Label", "second plane");
    Property.set("stain", "phalloidin");
    makeRectangle(2, 3, 10, 12);
    Overlay.addSelection;
    run("Select None");
    run("N2V Denoise", "model=[{tiny_model}] bit_depth=32");
    saveAs("Tiff", "{target}");
    """)
    run = imagej.batch(macro)
    assert "signed.tif: its value calibration (-32768.0 + 1.0 x raw) is applied" in run.stdout, run.stderr
    with tifffile.TiffFile(target) as tif:
        meta = tif.imagej_metadata
        result = tif.asarray()
    assert result.dtype == np.float32
    assert float(result.mean()) == pytest.approx(float(signed.mean()), abs=0.05 * float(signed.std()))
    assert meta["Info"].startswith("objective 60x\nimagej-n2v") and meta["Labels"][1] == "second plane"
    assert meta["Properties"]["stain"] == "phalloidin" and isinstance(meta["Overlays"], bytes)
    assert "cf" not in meta  # the values are calibrated: no function on them any more


def test_an_error_ends_the_batch_run_with_its_sentence(imagej, tmp_path):
    macro = tmp_path / "bad.ijm"
    macro.write_text('setBatchMode(true); newImage("a", "16-bit ramp", 16, 16, 1);\n'
                     'print("before"); run("N2V Denoise", "model=[/m] colour=red"); print("after");\n')
    run = imagej.batch(macro)  # returns at all: no dialog waits for a click
    assert "before" in run.stdout and "after" not in run.stdout
    assert "N2V Denoise: The N2V Denoise option 'colour' is unknown" in run.stderr
    assert "Traceback" not in run.stdout + run.stderr


def test_training_on_files_has_the_command_lines_checks(imagej, tmp_path):
    """Issue 27, point 6: N2V Train's inputs (files, folders of TIFFs) are read as the command line reads them."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "cells.czi").write_bytes(b"not read here")
    macro = tmp_path / "files.ijm"
    macro.write_text(f'run("N2V Train", "model=[{tmp_path / "m"}] inputs=[{empty}]"); print("after");\n')
    run = imagej.batch(macro)
    assert f"N2V Train: The folder {empty} contains no TIFF files (.tif or .tiff); cells.czi only Bio-Formats reads" \
        in run.stderr, run.stderr
    assert "after" not in run.stdout and not (tmp_path / "m").exists()


def test_a_worker_of_another_version_is_one_sentence(imagej, tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(imagej.folder, folder)
    config = folder / "plugins" / "imagej_n2v.properties"
    config.write_text(config.read_text().replace("version=", "version=0.0.0-"))
    macro = tmp_path / "m.ijm"
    macro.write_text('newImage("a", "16-bit ramp", 16, 16, 1); run("N2V Denoise", "model=[/m]"); print("after");\n')
    run = subprocess.run(ImageJ(folder, imagej.env["DISPLAY"]).command(macro, ""), capture_output=True, text=True,
                         timeout=600, env=imagej.env)
    assert "does not match imagej-n2v" in run.stderr and f"install-plugin {tmp_path / 'old'}" in run.stderr
    assert "after" not in run.stdout


def test_a_python_without_imagej_n2v_is_one_sentence(imagej, tmp_path):
    bare = shutil.which("python3")
    macro = tmp_path / "m.ijm"
    macro.write_text('newImage("a", "16-bit ramp", 16, 16, 1); run("N2V Denoise", "model=[/m]");\n')
    env = {k: v for k, v in imagej.env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run = subprocess.run(imagej.command(macro, ""), capture_output=True, text=True, timeout=600, cwd=tmp_path,
                         env={**env, "IMAGEJ_N2V_PYTHON": bare, "PYTHONNOUSERSITE": "1"})
    assert f"imagej-n2v is not installed in the Python {bare}" in run.stderr, run.stderr


@pytest.mark.slow
def test_the_next_command_starts_a_new_worker_after_one_died(imagej, tiny_model, input_files, pid_file, tmp_path):
    env, pid = pid_file
    macro = tmp_path / "twice.ijm"
    macro.write_text(f"""setBatchMode(true);
open("{input_files.dome}");
run("N2V Denoise", "model=[{tiny_model}]");
first = String.trim(File.openAsString("{pid}"));
exec("sh", "-c", "kill -9 " + first + "; while kill -0 " + first + " 2>/dev/null; do sleep 0.1; done");
selectImage(1);
run("N2V Denoise", "model=[{tiny_model}]");
print("workers " + first + " " + String.trim(File.openAsString("{pid}")) + " " + getTitle());
""")
    run = imagej.batch(macro, env=env)
    line = next((l for l in run.stdout.splitlines() if l.startswith("workers ")), None)
    assert line, run.stdout + run.stderr
    _, first, second, title = line.split()
    assert first != second and title == "dome_denoised"


@pytest.mark.slow
def test_a_worker_killed_mid_command_is_one_sentence_with_its_last_words(imagej, input_files, pid_file, tmp_path):
    env, pid = pid_file
    training = imagej.start(MACROS / "train_dome.ijm",
                            _args(input=input_files.dome, model=tmp_path / "m", epochs=50, steps=4, patch_size=32,
                                  patches=100), env)
    _wait_for_line(training, "N2V Train: epoch 1/50")
    os.kill(int(pid.read_text()), signal.SIGKILL)
    _, stderr = training.communicate(timeout=EXIT_S)  # ImageJ ends: no dialog waits
    assert "N2V Train: the Python worker" in stderr and "stopped unexpectedly" in stderr, stderr
    assert "last words: none" not in stderr


@pytest.mark.slow
def test_killing_imagej_mid_training_stops_the_worker_and_keeps_both_models(imagej, tiny_model, input_files,
                                                                            pid_file, tmp_path):
    env, pid = pid_file
    model = tmp_path / "domes"
    shutil.copytree(tiny_model, model)  # a complete model of that name: overwrite must not lose it
    before = (model / "config.json").read_bytes()
    training = imagej.start(MACROS / "train_dome.ijm",
                            _args(input=input_files.dome, model=model, epochs=50, steps=4, patch_size=32,
                                  patches=100) + " overwrite", env)
    _wait_for_line(training, "N2V Train: epoch 1/50")
    worker = int(pid.read_text())
    training.kill()  # SIGKILL: no shutdown hook runs; only the closed pipe tells the worker
    training.wait(timeout=EXIT_S)
    assert _gone(worker), "the worker kept running after ImageJ was killed"
    assert (model / "config.json").read_bytes() == before
    kept = json.loads((tmp_path / "domes.incomplete" / "imagej_n2v.json").read_text())
    assert kept["incomplete"] and 1 <= kept["epochs_done"] < 50


def test_fiji_headless_runs_the_commands_through_the_worker(tmp_path):
    fiji = os.environ.get("FIJI_DIR")
    if not fiji or not Path(fiji, "jars").is_dir():
        pytest.skip("no Fiji.app here: set FIJI_DIR to a Fiji.app the plugin may be installed into")
    launcher = next((p for p in Path(fiji).iterdir() if p.name.startswith(("ImageJ-linux64", "fiji-linux"))), None)
    if launcher is None:
        pytest.skip(f"no Linux launcher in {fiji}")
    assert main(["--quiet", "install-plugin", fiji]) == 0
    macro = tmp_path / "bad.ijm"
    macro.write_text('newImage("a", "16-bit ramp", 16, 16, 1); run("N2V Denoise", "model=[/m] colour=red"); print("after");\n')
    run = subprocess.run([str(launcher), "--headless", "-batch", str(macro)], capture_output=True, text=True, timeout=600)
    assert "'colour' is unknown" in run.stderr and "after" not in run.stdout
