"""The jar's worker mode inside the test session's JVM (its Python handler taken away for the test):
what a batch run cannot show, Esc and a second command while one runs."""

from __future__ import annotations

import json
import sys
import threading
import time

import pytest

from tests.imagej.bridge.conftest import imagej  # noqa: F401  # the session's headless ImageJ

pytestmark = pytest.mark.imagej

WAIT_S = 300


def _wait_for_log(words: str) -> None:
    """Until ImageJ's Log holds ``words`` (fails after WAIT_S)."""
    from jpype import JClass

    IJ = JClass("ij.IJ")
    deadline = time.monotonic() + WAIT_S
    while words not in str(IJ.getLog() or ""):
        assert time.monotonic() < deadline, f"the Log never showed {words!r}: {IJ.getLog()}"
        time.sleep(0.2)


@pytest.mark.slow
def test_escape_stops_the_workers_training_and_a_second_command_is_refused(imagej, input_files, tmp_path):  # noqa: F811
    from jpype import JClass

    from imagej_n2v.imagej.bridge import commands, run_macro

    IJ, bridge = JClass("ij.IJ"), JClass("N2V_Bridge")
    JClass("java.lang.System").setProperty("imagej_n2v.python", sys.executable)
    model = tmp_path / "escaped"
    results = []
    code = (f'setBatchMode(true); open("{input_files.dome}"); '
            f'run("N2V Train", "model=[{model}] epochs=50 steps=4 patch_size=32 patches=100"); print("macro went on");')
    bridge.setHandler(None)  # as in an ImageJ that Python did not start
    try:
        training = threading.Thread(target=lambda: results.append(run_macro(code)))
        training.start()
        _wait_for_log("N2V Train: epoch 1/50")
        second = run_macro('newImage("b", "16-bit ramp", 16, 16, 1); run("N2V Denoise", "model=[/m]");')
        IJ.setKeyDown(JClass("java.awt.event.KeyEvent").VK_ESCAPE)
        training.join(timeout=WAIT_S)
    finally:
        bridge.setHandler(commands._handler)
        IJ.resetEscape()
    assert second.failed and "another N2V command is still running" in second.error
    [trained] = results
    assert trained.failed and "--resume" in trained.error and "macro went on" not in trained.log
    kept = json.loads((model / "imagej_n2v.json").read_text())
    assert kept["incomplete"] and 1 <= kept["epochs_done"] < 50
