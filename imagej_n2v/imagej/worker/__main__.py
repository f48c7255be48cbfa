"""``python -m imagej_n2v.imagej.worker``: the Python side of an ImageJ that was started the usual way.

The plugin jar starts this once per ImageJ session and talks to it through stdin/stdout (see
``protocol``). Stdout belongs to the protocol alone: before anything else is imported, file
descriptor 1 is pointed at stderr, so a stray print (ours, TensorFlow's C++ logging, n2v's
progress output) lands in stderr, whose last lines ImageJ shows if the worker dies.
"""

import os
import sys


def _protocol_stdout():
    """The real stdout for messages; fd 1 and ``sys.stdout`` are stderr from here on."""
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol


if __name__ == "__main__":
    _out = _protocol_stdout()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from .serve import serve

    # Unbuffered: a reader blocked in a buffered read would hold its lock while Python shuts down.
    sys.exit(serve(open(0, "rb", buffering=0, closefd=False), _out))
