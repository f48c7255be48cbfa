"""Headless runs of a Python-started ImageJ: any dialog is closed at once, its text written to the Log.

No one can click OK in ``imagej-n2v macro --headless``, and a modal dialog (``exit("usage")``, an
error from a built-in command) would wait forever. A Java AWT listener, implemented here, closes
each dialog as it opens; the macro runner counts those as failures (``closed()``, ``last()``).
ImageJ's message dialogs keep their text in a ``MultiLineLabel`` with no public getter, so that
one field is read by reflection; failing that, the title alone is reported.
"""

from __future__ import annotations

from typing import Any

_state = {"closed": 0, "last": None}
_listener: Any = None  # referenced here so that the JPype proxy outlives install()


def closed() -> int:
    """How many dialogs were closed since ImageJ started."""
    return int(_state["closed"])


def last() -> str | None:
    """The title and text of the last dialog closed."""
    return _state["last"]


def _texts(component: Any) -> list[str]:
    from jpype import JClass

    found = None
    if isinstance(component, (JClass("java.awt.Label"))):
        found = str(component.getText())
    elif isinstance(component, JClass("java.awt.TextComponent")):
        found = str(component.getText())
    elif isinstance(component, JClass("ij.gui.MultiLineLabel")):
        try:
            field = JClass("ij.gui.MultiLineLabel").class_.getDeclaredField("lines")
            field.setAccessible(True)
            found = " ".join(str(line) for line in field.get(component))
        except Exception:  # another ImageJ version: the title is still reported
            found = None
    texts = [" ".join(found.split())] if found and found.strip() else []
    if isinstance(component, JClass("java.awt.Container")):
        for child in component.getComponents():
            texts += _texts(child)
    return texts


def install() -> None:
    """Close every dialog as soon as it opens (once per JVM), writing its title and text to the Log."""
    global _listener
    if _listener is not None:
        return
    from jpype import JClass, JImplements, JOverride

    WindowEvent = JClass("java.awt.event.WindowEvent")
    Dialog = JClass("java.awt.Dialog")
    IJ = JClass("ij.IJ")

    @JImplements("java.awt.event.AWTEventListener")
    class Closer:
        @JOverride
        def eventDispatched(self, event):
            source = event.getSource()
            if event.getID() != WindowEvent.WINDOW_OPENED or not isinstance(source, Dialog):
                return
            text = f"[{source.getTitle()}] {' '.join(_texts(source))}".strip()
            _state["closed"] += 1
            _state["last"] = text
            IJ.log(text)
            source.dispose()

    _listener = Closer()
    JClass("java.awt.Toolkit").getDefaultToolkit().addAWTEventListener(_listener, JClass("java.awt.AWTEvent").WINDOW_EVENT_MASK)
