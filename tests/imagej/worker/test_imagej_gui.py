"""ImageJ started the usual way, with its windows, used as a Fiji user uses it (issue 27).

Each test starts its own ImageJ (``java -jar ij.jar -port0 -macro``: no batch mode, no hand-over
to another running ImageJ) on a private Xvfb display, with its own preferences folder, and
drives the dialogs with xdotool: a click gives a window the keyboard, then keys are typed.
A macro outside batch mode plays the user's other steps and writes what it saw to a file.
Every wait is for an event (a window appearing, a file written), bounded only for a broken run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from imagej_n2v.imagej.bridge.runtime import DEFAULT_IJ_JAR
from tests.imagej.bridge.conftest import unavailable

pytestmark = [pytest.mark.imagej, pytest.mark.slow]

BROKEN_RUN_S = 900  # bounds a wait only when something is broken (a training under a load of 25 took over 300 s)


class Desktop:
    """One ImageJ with its windows on a private display, and the user's hands (xdotool)."""

    def __init__(self, folder: Path, display: str, home: Path):
        self.folder, self.home = folder, home
        self.env = {**os.environ, "DISPLAY": display, "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.process: subprocess.Popen | None = None

    def remember(self, **values: str) -> None:
        """Values an earlier session's dialogs left in IJ_Prefs.txt (keys such as n2v.train.epochs)."""
        prefs = self.home / ".imagej" / "IJ_Prefs.txt"
        prefs.parent.mkdir(parents=True, exist_ok=True)
        prefs.write_text("".join(f".{key.replace('__', '.')}={value}\n" for key, value in values.items()))

    def start(self, macro: str) -> None:
        script = self.home / "session.ijm"
        script.write_text(macro)
        self.process = subprocess.Popen(
            ["java", f"-Duser.home={self.home}", f"-Dplugins.dir={self.folder}", "-jar", str(DEFAULT_IJ_JAR),
             "-port0", "-macro", str(script)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env)

    def xdotool(self, *args: str) -> str:
        run = subprocess.run(["xdotool", *args], capture_output=True, text=True, env=self.env, timeout=BROKEN_RUN_S)
        return run.stdout.strip()

    def window(self, title: str) -> str:
        """The window called ``title``, waited for (xdotool --sync returns once it is mapped)."""
        found = self.xdotool("search", "--sync", "--name", f"^{title}$").split()
        assert found, f"no window {title!r} appeared"
        return found[0]

    def windows(self, title: str) -> list[str]:
        return self.xdotool("search", "--name", f"^{title}$").split()

    def size(self, window: str) -> tuple[int, int]:
        """The window's width and height: a window is mapped 1x1 first, then sized and laid out."""
        geometry = self.xdotool("getwindowgeometry", window).split("Geometry:")[1].split()[0]
        width, height = (int(n) for n in geometry.split("x"))
        return width, height

    def click(self, window: str, x: int, y: int) -> None:
        """Click at (x, y) in the window once it is sized (before, the click lands on the window under it),
        raised first as a window manager raises a clicked window: no other window is over it."""
        deadline = time.monotonic() + BROKEN_RUN_S
        while (size := self.size(window))[0] <= x or size[1] <= y:
            assert time.monotonic() < deadline, f"window {window} was not sized within {BROKEN_RUN_S} s"
            time.sleep(0.2)
        self.xdotool("windowraise", window)
        self.xdotool("mousemove", "--window", window, str(x), str(y), "click", "1")

    def type_into(self, window: str, *keys: str) -> None:
        """Click the window (it takes the keyboard, its first field focused), then type: ``@Key`` presses a key."""
        self.click(window, 20, 20)
        for key in keys:
            if key.startswith("@"):
                self.xdotool("key", *key[1:].split())
            else:
                self.xdotool("type", "--delay", "10", key)

    def click_until_closed(self, title: str, left: int, up: int) -> None:
        """Click the button ``left`` pixels left of and ``up`` pixels above the bottom right corner of the
        window ``title`` until the window closes (a window is mapped before its buttons are laid out)."""
        deadline = time.monotonic() + BROKEN_RUN_S
        while (found := self.windows(title)) and time.monotonic() < deadline:
            width, height = self.size(found[0])
            if width > left and height > up:  # sized (else: the next round)
                self.click(found[0], width - left, height - up)
            time.sleep(0.5)
        assert not self.windows(title), f"clicking did not close {title!r}"

    def wait_until_closed(self, title: str) -> None:
        """Poll until no window is called ``title`` (bounded only for a broken run)."""
        deadline = time.monotonic() + BROKEN_RUN_S
        while self.windows(title):
            assert time.monotonic() < deadline, f"{title!r} did not close within {BROKEN_RUN_S} s"
            time.sleep(0.2)

    def menu_command(self, name: str) -> None:
        """Run a command as from the menus: Ctrl+L in ImageJ's window opens the Command Finder."""
        main = self.window("ImageJ")
        self.click(main, 300, 70)
        self.xdotool("key", "ctrl+l")
        self.window("Command Finder")
        self.xdotool("type", "--delay", "20", name)
        self.xdotool("key", "Return")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=60)


def wait_for_file(path: Path, desktop: Desktop) -> str:
    """The text of ``path`` once the session's macro wrote it (fails at once if ImageJ ended)."""
    deadline = time.monotonic() + BROKEN_RUN_S
    while not path.is_file():
        assert desktop.process.poll() is None, f"ImageJ ended before writing {path.name}"
        assert time.monotonic() < deadline, f"ImageJ did not write {path.name} within {BROKEN_RUN_S} s"
        time.sleep(0.2)
    return path.read_text()


def warns(log: str, command: str) -> bool:
    """Whether the Log holds a quality warning of ``command`` ("Warning:", or "WARNING:" when worse than the input)."""
    return f"{command}: warning: ".lower() in log.lower()


@pytest.fixture
def desktop(installed, tmp_path):
    if not shutil.which("xdotool"):
        unavailable("xdotool is not installed (apt-get install xdotool)")
    home = tmp_path / "home"
    home.mkdir()
    session = Desktop(installed.folder, installed.display, home)
    yield session
    session.stop()


def test_train_then_denoise_from_the_menu_on_the_users_image(desktop, input_files, tmp_path):
    """Issue 27, points 1 and 2: after N2V Train (its loss plot shown), N2V Denoise from the menu
    takes the user's image, not the plot, and offers the model just trained; dialogs offer what an
    earlier session's dialogs used (IJ_Prefs.txt), while a macro line without a key gets the default.
    Issue 22, point 2: so short a training warns in a window that stays open while the menus work
    (a modal one would keep the Command Finder from opening), and only menu runs show one."""
    model, trained, seen = tmp_path / "domes", tmp_path / "trained.txt", tmp_path / "seen.txt"
    desktop.remember(n2v__train__patch_size="32", n2v__train__patches="64", n2v__train__epochs="2",
                     n2v__train__steps="2", n2v__train__batch_size="4", n2v__denoise__bit_depth="32")
    desktop.start(f"""
open("{input_files.dome}");
run("N2V Train");
File.saveString("trained " + getTitle() + "\\n" + getInfo("log"), "{trained}");
while (!isOpen("dome_denoised")) wait(100);
selectImage("dome_denoised");
menu = bitDepth();
close();
selectImage("dome.tif");
run("N2V Denoise", "model=[{model}]");
File.saveString("menu " + menu + " macro " + bitDepth() + "\\n" + getInfo("log"), "{seen}");
""")
    desktop.type_into(desktop.window("N2V Train"), "@ctrl+a", str(model), "@Return")
    text = wait_for_file(trained, desktop)
    assert text.startswith("trained dome.tif\n"), text
    assert desktop.windows("N2V Train: loss"), "the loss plot was not shown"
    assert warns(text, "N2V Train"), text  # 4 steps: no better than a blur
    desktop.window("N2V Train: quality warning")  # left open: the menus must work beside it
    desktop.menu_command("N2V Denoise")
    desktop.type_into(desktop.window("N2V Denoise"), "@Return")  # the model field already holds the new model
    text = wait_for_file(seen, desktop)
    assert text.startswith("menu 32 macro 16"), text  # the dialog remembered bit_depth=32; the macro got auto
    assert f"N2V Train: model written to {model}" in text
    assert "N2V Denoise: dome_denoised: " in text and "denoised with domes" in text
    assert "24-bit RGB" not in text
    desktop.click_until_closed("N2V Train: quality warning", 40, 20)  # its OK button


def test_a_command_refuses_an_image_it_cannot_take_before_its_dialog(desktop):
    """Issue 27, point 1: an RGB image is refused with the sentence at once; no dialog waits to be filled in first."""
    desktop.start('newImage("colour", "RGB ramp", 32, 32, 1);\nrun("N2V Denoise");\n')
    desktop.window("Macro Error")  # the macro stopped with the sentence (it would wait on a dialog otherwise)
    assert desktop.windows("N2V Denoise") == []


def test_process_batch_macro_denoises_a_folder_with_the_model_loaded_once(desktop, installed, tiny_model, dome_stack,
                                                                          tmp_path):
    """Issue 27, point 7: ImageJ's own Process > Batch > Macro, its dialog filled as a user left it
    (folders in IJ_Prefs.txt, the code in macros/BatchMacro.ijm) and Process clicked."""
    from imagej_n2v.api import denoise
    from imagej_n2v.data.tiff_io import write_image

    inputs, outputs, seen = tmp_path / "in", tmp_path / "out", tmp_path / "seen.txt"
    outputs.mkdir()
    names = ["a.tif", "b.tif", "c.tif"]
    for seed, name in enumerate(names):
        write_image(inputs / name, dome_stack.noisy[seed % 2:seed % 2 + 1], dome_stack.axes)
    (installed.folder / "macros").mkdir(exist_ok=True)
    (installed.folder / "macros" / "BatchMacro.ijm").write_text(f'run("N2V Denoise", "model=[{tiny_model}]");\n')
    desktop.remember(batch__input=f"{inputs}/", batch__output=f"{outputs}/", batch__format="TIFF")
    desktop.start(f'run("Macro... ");\nFile.saveString(getInfo("log"), "{seen}");\n')  # Process > Batch > Macro...
    desktop.window("Batch Process")
    desktop.click_until_closed("Batch Process", 47, 22)  # its Process button
    log = wait_for_file(seen, desktop)
    assert log.count("N2V Denoise: loaded the model") == 1, log
    assert [line.split(":")[1].strip() for line in log.splitlines() if "denoised with" in line] == [
        "a_denoised", "b_denoised", "c_denoised"]
    for seed, name in enumerate(names):
        frame = dome_stack.noisy[seed % 2:seed % 2 + 1]
        saved, expected = tifffile.imread(outputs / name), denoise(frame, dome_stack.axes, tiny_model)
        assert saved.dtype == expected.dtype and np.array_equal(saved.ravel(), expected.ravel()), name


def test_train_from_the_dialog_on_a_folder_of_tiffs_with_no_image_open(desktop, dome_stack, tmp_path):
    """Issue 27, point 6: the Train dialog's inputs field names a folder; every TIFF there is trained on."""
    from imagej_n2v.data.tiff_io import write_image

    inputs, model, seen = tmp_path / "in", tmp_path / "folder-model", tmp_path / "seen.txt"
    for name in ("a.tif", "b.tiff"):
        write_image(inputs / name, dome_stack.noisy, dome_stack.axes)
    (inputs / "notes.txt").write_text("not an image")
    desktop.remember(n2v__train__patch_size="32", n2v__train__patches="64", n2v__train__epochs="1",
                     n2v__train__steps="2", n2v__train__batch_size="4")
    desktop.start(f'run("N2V Train");\nFile.saveString(getInfo("log"), "{seen}");\n')
    # model, its Browse button, then inputs
    desktop.type_into(desktop.window("N2V Train"), "@ctrl+a", str(model), "@Tab Tab ctrl+a", str(inputs), "@Return")
    log = wait_for_file(seen, desktop)
    assert f"N2V Train: training {model} on a.tif, b.tiff (12 planes)" in log, log
    assert f"N2V Train: model written to {model}" in log and (model / "config.json").is_file()
    # Issue 22, point 2: the warning's window, with no image open, left the macro to go on; the keyboard closes it.
    assert warns(log, "N2V Train"), log
    desktop.type_into(desktop.window("N2V Train: quality warning"), "@Return")
    desktop.wait_until_closed("N2V Train: quality warning")
