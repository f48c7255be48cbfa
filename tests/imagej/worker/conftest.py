"""ImageJ started the usual way (``java -jar ij.jar``) needs the plugin in its plugins folder and a screen.

One fixture gives both to the worker's tests (batch runs) and the GUI tests (a user's session):
an ImageJ folder that ``imagej-n2v install-plugin`` filled, and a private Xvfb display.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.imagej.bridge.conftest import missing_imagej, unavailable


@dataclass(frozen=True)
class Installed:
    """An ImageJ folder with the plugin put in place by ``imagej-n2v install-plugin``, and a display."""

    folder: Path  # ImageJ's -Dplugins.dir
    display: str  # DISPLAY of a private Xvfb server


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    """One per test module, so that what a module writes into the folder (macros/) stays its own."""
    reason = missing_imagej()
    if reason:
        unavailable(reason)
    from imagej_n2v.imagej.bridge.runtime import VirtualDisplay

    folder = tmp_path_factory.mktemp("ImageJ")
    done = subprocess.run([sys.executable, "-m", "imagej_n2v.cli", "install-plugin", str(folder)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    display = VirtualDisplay()
    yield Installed(folder, display.name)
    display.stop()
