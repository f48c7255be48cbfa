"""The ImageJ bridge: N2V Denoise and N2V Train as ImageJ commands, run by this Python process.

``runtime`` starts ImageJ (a jar or Fiji) in-process, ``pixels`` moves planes between
``ImagePlus`` and numpy, ``commands`` is the handler the Java plugins call, ``options`` parses
their macro options into the core's settings, and ``macro`` runs macros and the ImageJ window.
Nothing here is imported by the core.
"""

from .macro import MacroResult, run_macro, run_macro_file
from .runtime import Session, start_imagej

__all__ = ["MacroResult", "Session", "run_macro", "run_macro_file", "start_imagej"]
