"""``imagej-n2v install-plugin``: the N2V commands in an ImageJ or Fiji that is started the usual way.

The plugin jar goes into the ImageJ folder's ``plugins/``, and beside it ``imagej_n2v.properties``
names this environment's Python (the jar starts it as a worker process: ``imagej_n2v.imagej.worker``)
and the version of imagej-n2v that wrote both, which the jar checks when the worker starts.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from .. import __version__
from ..errors import InputError, OutputError

JAR_NAME = "imagej_n2v.jar"  # ImageJ only looks into plugin jars whose name has an underscore
CONFIG_NAME = "imagej_n2v.properties"  # read by java/src/N2V_Worker.java


def plugins_folder(imagej_folder: str | os.PathLike) -> Path:
    """``FOLDER/plugins`` of an ImageJ or Fiji folder; a one-sentence error if that is not one."""
    folder = Path(imagej_folder).expanduser().absolute()
    if folder.name == "plugins" and not (folder / "plugins").is_dir():
        raise InputError(f"{folder} is a plugins folder: give the folder that holds it, {folder.parent}.")
    if not folder.is_dir():
        raise InputError(f"The folder {folder} does not exist: give the ImageJ or Fiji folder (the one holding plugins/).")
    return folder / "plugins"


def _properties_value(text: str) -> str:
    """``text`` as a java.util.Properties value (ISO-8859-1 with \\uXXXX escapes)."""
    out = []
    for char in text.replace("\\", "\\\\"):
        out.append(char if 32 <= ord(char) < 127 else f"\\u{ord(char):04x}")
    return "".join(out)


def _write_atomically(target: Path, write) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def install_plugin(imagej_folder: str | os.PathLike, python: str | None = None) -> Path:
    """Copy the plugin jar into ``FOLDER/plugins`` and record ``python`` (default: this one); returns the jar."""
    from .bridge.runtime import plugin_jar

    plugins = plugins_folder(imagej_folder)
    jar = plugin_jar()
    python = python or sys.executable
    config = "\n".join([
        "# Written by imagej-n2v install-plugin: the Python that ImageJ starts for N2V Denoise and N2V Train.",
        f"python={_properties_value(python)}",
        f"version={__version__}",
        "",
    ])
    try:
        plugins.mkdir(exist_ok=True)
        _write_atomically(plugins / JAR_NAME, lambda path: shutil.copyfile(jar, path))
        _write_atomically(plugins / CONFIG_NAME, lambda path: path.write_text(config, encoding="latin-1"))
    except OSError as exc:
        raise OutputError(f"Cannot write into {plugins} ({exc.strerror}): choose a folder you may write to, "
                          f"or run this as its owner.") from None
    return plugins / JAR_NAME


def remove_plugin(imagej_folder: str | os.PathLike) -> list[Path]:
    """Remove what ``install_plugin`` wrote into ``FOLDER/plugins``; returns the files removed."""
    plugins = plugins_folder(imagej_folder)
    removed = []
    for name in (JAR_NAME, CONFIG_NAME):
        path = plugins / name
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed
