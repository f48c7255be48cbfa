"""A real ImageJ (Debian's ij.jar, a real JVM, a private Xvfb display) for the bridge tests.

The JVM starts once per process, so one headless ImageJ serves the whole session; tests that
need another kind of start (Fiji, a failing start) run ``imagej-n2v`` in a subprocess.
Where Java, Xvfb, ij.jar or the plugin jar is missing these tests are skipped with the reason,
except under CI (``CI`` set), where a missing piece is a broken setup and fails them.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

from imagej_n2v.imagej.bridge.runtime import DEFAULT_IJ_JAR, PLUGIN_JAR


def missing_imagej() -> str | None:
    """Why ImageJ cannot start here, or None."""
    for tool, package in (("java", "default-jre-headless"), ("Xvfb", "xvfb")):
        if not shutil.which(tool):
            return f"{tool} is not installed (apt-get install {package})"
    if not DEFAULT_IJ_JAR.is_file():
        return f"{DEFAULT_IJ_JAR} is missing (apt-get install libij-java)"
    if not PLUGIN_JAR.is_file():
        return f"{PLUGIN_JAR} was not built (pip install -e .)"
    return None


def unavailable(reason: str) -> NoReturn:
    """Skip the test for ``reason``; under CI fail it instead, so a broken setup cannot pass."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI is set, so the ImageJ tests must run here, not be skipped")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def imagej():
    """The headless ImageJ session of this test process."""
    reason = missing_imagej()
    if reason:
        unavailable(reason)
    from imagej_n2v.imagej.bridge import start_imagej

    return start_imagej(headless=True)


@pytest.fixture
def macro(imagej):
    """Run macro code in the session's ImageJ; closes all images afterwards."""
    from imagej_n2v.imagej.bridge import run_macro

    yield lambda code, argument="": run_macro(code, argument)
    run_macro('setBatchMode(false); close("*");')
