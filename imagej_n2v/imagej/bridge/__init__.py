"""The ImageJ bridge: N2V Denoise and N2V Train as ImageJ commands.

``tasks`` runs the commands without Java (an options string and planes in), for both ways into
ImageJ: a JVM this Python process started (``runtime`` starts ImageJ, a jar or Fiji; ``pixels``
moves planes between ``ImagePlus`` and numpy; ``commands`` is the handler the Java plugins
call; ``macro`` runs macros and the ImageJ window; ``dialogs`` closes dialogs in headless runs),
and an ImageJ started as usual, whose jar talks to ``imagej_n2v.imagej.worker``. ``options`` parses
the commands' macro options into the core's settings and describes their dialogs.
Nothing here is imported by the core.
"""

from .macro import MacroResult, run_macro, run_macro_file
from .runtime import Session, start_imagej

__all__ = ["MacroResult", "Session", "run_macro", "run_macro_file", "start_imagej"]
