"""Where this package's log messages go, for the processes that show them: the CLI and the ImageJ worker.

Both write the package's messages to stderr at a level they choose and keep TensorFlow's and
other libraries' chatter out of the way, so both import these two functions from here.
"""

from __future__ import annotations

import logging
import os
import sys


class _StderrHandler(logging.StreamHandler):
    """Writes each message to whatever ``sys.stderr`` is at that moment (it may be replaced)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


_log_handler = _StderrHandler()
_log_handler.setFormatter(logging.Formatter("%(message)s"))


def configure_logging(level: int) -> None:
    """Messages of this package to stderr at ``level``, set anew on every call.

    A handler of our own rather than ``logging.basicConfig``, which only the first call in a
    process would apply (the bridge and tests call the CLI's ``main`` repeatedly).
    """
    package = logging.getLogger("imagej_n2v")
    if _log_handler not in package.handlers:
        package.addHandler(_log_handler)
    package.setLevel(level)
    package.propagate = False  # libraries that call logging.info() give the root a second handler


def quiet_tensorflow() -> None:
    """Only warnings from TensorFlow and the libraries around it; errors from tifffile are ours to word."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("absl").setLevel(logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    logging.getLogger("tifffile").setLevel(logging.ERROR)  # broken files get our own one-sentence error
