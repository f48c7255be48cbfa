"""Starting ImageJ: the jar's plugins.config makes Plugins > N2V; the GUI starts; clear start-up errors."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.imagej.bridge.conftest import unavailable

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


def _imagej_windows() -> set[str]:
    """The ids of the windows named ImageJ on the session's display (``xwininfo`` from x11-utils).

    This test session's own ImageJ shares the display and may have one too, so tests compare sets.
    """
    tree = subprocess.run(["xwininfo", "-root", "-tree"], capture_output=True, text=True, timeout=30).stdout
    return {line.split()[0] for line in tree.splitlines() if '"ImageJ"' in line}


STAYS_UP_S = 3
"""How long the GUI must outlive its start message: a process that ends after it is gone by then."""


def test_gui_starts_and_stays_up(imagej, tmp_path):
    # The session's private Xvfb (DISPLAY) stands in for a screen.
    assert os.environ.get("DISPLAY")
    if not shutil.which("xwininfo"):
        unavailable("xwininfo is not installed (apt-get install x11-utils)")
    before = _imagej_windows()
    gui = subprocess.Popen([sys.executable, "-m", "imagej_n2v.cli", "gui"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, cwd=tmp_path)  # a JVM crash report would land here
    try:
        said = []
        for line in gui.stderr:  # blocks until the process says ImageJ is up, or ends
            said.append(line)
            if line.startswith("ImageJ is open"):
                break
        assert said and said[-1].startswith("ImageJ is open"), "".join(said)
        assert _imagej_windows() - before, "the GUI opened no ImageJ window"
        with pytest.raises(subprocess.TimeoutExpired):  # it stays up while the window is open
            gui.wait(timeout=STAYS_UP_S)
    finally:
        gui.send_signal(signal.SIGTERM)
        gui.communicate(timeout=60)
    # The JVM takes SIGTERM itself (exit status 143); what matters here is that the window is gone
    # and the JVM did not crash on the way out (it writes hs_err_pid*.log into the working folder).
    assert not _imagej_windows() - before and not list(tmp_path.iterdir())


@pytest.mark.parametrize("ci", ["", "true"])
def test_a_missing_plugin_jar_skips_here_and_fails_under_ci(monkeypatch, tmp_path, ci):
    from tests.imagej.bridge import conftest

    monkeypatch.setattr(conftest, "PLUGIN_JAR", tmp_path / "imagej_n2v.jar")
    monkeypatch.setenv("CI", ci)
    reason = conftest.missing_imagej()
    assert reason == f"{tmp_path / 'imagej_n2v.jar'} was not built (pip install -e .)"
    with pytest.raises(pytest.fail.Exception if ci else pytest.skip.Exception, match="was not built"):
        conftest.unavailable(reason)


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
    from imagej_n2v.imagej.bridge import run_macro_file

    script = tmp_path / "arg.ijm"
    script.write_text('print("got " + getArgument());\n')
    result = run_macro_file(script, "input=[a b]")
    assert not result.failed and "got input=[a b]" in result.log


def test_loss_plot_window_grows_with_each_epoch(imagej):
    """The plot a menu run of N2V Train shows (both ways into ImageJ use the jar's N2V_LossPlot)."""
    from jpype import JClass

    plot = JClass("N2V_LossPlot")("N2V Train")
    plot.add(1.0, 0.50, 0.60)
    plot.add(2.0, 0.40, 0.55)
    window = JClass("ij.WindowManager").getWindow("N2V Train: loss")
    try:
        assert window is not None, "no plot window"
        shown = window.getPlot()
        assert list(shown.getDataObjectArrays(0)[1]) == pytest.approx([0.50, 0.40])  # training loss
        assert list(shown.getDataObjectArrays(1)[1]) == pytest.approx([0.60, 0.55])  # validation loss
    finally:
        if window is not None:
            window.close()
