"""Starting ImageJ: the jar's plugins.config makes Plugins > N2V; the GUI starts; clear start-up errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.imagej


def _menu_labels(menu) -> dict:
    """{label: submenu labels or None} for an AWT menu."""
    from jpype import JClass

    Menu = JClass("java.awt.Menu")
    items = {}
    for i in range(menu.getItemCount()):
        item = menu.getItem(i)
        items[str(item.getLabel())] = _menu_labels(item) if isinstance(item, Menu) else None
    return items


def test_plugins_menu_lists_the_n2v_commands(imagej):
    from jpype import JClass

    Menus = JClass("ij.Menus")
    assert str(Menus.getCommands().get("N2V Denoise")) == "N2V_Denoise"
    assert str(Menus.getCommands().get("N2V Train")) == "N2V_Train"
    bar = Menus.getMenuBar()
    plugins = next(bar.getMenu(i) for i in range(bar.getMenuCount()) if str(bar.getMenu(i).getLabel()) == "Plugins")
    assert _menu_labels(plugins)["N2V"] == {"N2V Denoise": None, "N2V Train": None}


def test_gui_starts_and_stays_up(imagej):
    # The session's private Xvfb (DISPLAY) stands in for a screen.
    assert os.environ.get("DISPLAY")
    gui = subprocess.Popen([sys.executable, "-m", "imagej_n2v.cli", "gui"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(15)
        assert gui.poll() is None, gui.communicate()[1]
    finally:
        gui.send_signal(signal.SIGTERM)
        gui.wait(timeout=30)


def test_no_display_without_headless_is_one_sentence(tmp_path):
    script = tmp_path / "m.ijm"
    script.write_text('print("hi");\n')
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    run = subprocess.run([sys.executable, "-m", "imagej_n2v.cli", "macro", str(script)], capture_output=True,
                         text=True, env=env, timeout=120)
    assert run.returncode == 2 and "add --headless" in run.stderr


def test_missing_ij_jar_is_one_sentence(tmp_path):
    script = tmp_path / "m.ijm"
    script.write_text('print("hi");\n')
    run = subprocess.run([sys.executable, "-m", "imagej_n2v.cli", "macro", "--headless", "--ij-jar",
                          str(tmp_path / "nope.jar"), str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "nope.jar does not exist" in run.stderr


def test_macro_argument_reaches_get_argument(imagej, tmp_path):
    from imagej_n2v.bridge import run_macro_file

    script = tmp_path / "arg.ijm"
    script.write_text('print("got " + getArgument());\n')
    result = run_macro_file(script, "input=[a b]")
    assert not result.failed and "got input=[a b]" in result.log
