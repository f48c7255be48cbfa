"""Starting ImageJ inside this Python process, with the N2V commands installed.

Python owns the JVM (through scyjava/JPype), so images move between ImageJ and the N2V core in
memory. Two kinds of ImageJ are supported:

- ImageJ 1.x from a jar (Debian's ``libij-java`` by default): our plugin jar sits in the
  ``plugins.dir`` folder so ImageJ reads its ``plugins.config`` and lists Plugins > N2V.
  Without a screen, a private Xvfb display is started, because ImageJ 1.x builds its command
  table and runs many built-ins only with a display.
- A local Fiji.app through pyimagej (imported only on this path: it asks Maven for ImageJ2
  otherwise); Fiji's own headless mode needs no display.

The JVM can start only once per process, so the first ``start_imagej`` decides its settings.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import DependencyError, InputError

log = logging.getLogger(__name__)

DEFAULT_IJ_JAR = Path("/usr/share/java/ij.jar")
PLUGIN_JAR = Path(__file__).resolve().parent.parent / "java" / "imagej_n2v.jar"
COMMANDS = {"N2V Denoise": "N2V_Denoise", "N2V Train": "N2V_Train"}
DISPLAY_TIMEOUT_S = 20


@dataclass
class Session:
    """The running ImageJ: which kind, whether it has a screen, and pyimagej's gateway for Fiji."""

    kind: str  # "ij" (ImageJ 1.x jar) or "fiji"
    headless: bool
    ij_jar: Path | None = None
    fiji: Path | None = None
    gateway: Any = None  # pyimagej's ImageJ2 gateway (Fiji only)
    display: "VirtualDisplay | None" = None


_session: Session | None = None


def _end_with_parent() -> None:
    """In the Xvfb child: ask Linux to stop it when this process dies, even when killed (no atexit)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the atexit handler still stops it on a normal exit


class VirtualDisplay:
    """A private Xvfb server for a run without a screen; stopped when Python exits."""

    def __init__(self) -> None:
        xvfb = shutil.which("Xvfb")
        if not xvfb:
            raise DependencyError("Xvfb was not found, and headless ImageJ needs it: run apt-get install xvfb.")
        read_end, write_end = os.pipe()
        # -displayfd: Xvfb picks a free display number and writes it to us once it is ready.
        self.process = subprocess.Popen(
            [xvfb, "-displayfd", str(write_end), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
            pass_fds=(write_end,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_end_with_parent,
        )
        os.close(write_end)
        try:
            number = self._read_display(read_end)
        finally:
            os.close(read_end)
        self.name = f":{number}"
        atexit.register(self.stop)
        log.debug("Started Xvfb on display %s (pid %d).", self.name, self.process.pid)

    def _read_display(self, fd: int) -> str:
        import select

        text = b""
        while not text.endswith(b"\n"):
            ready, _, _ = select.select([fd], [], [], DISPLAY_TIMEOUT_S)
            chunk = os.read(fd, 16) if ready else b""
            if not chunk:
                self.stop()
                raise DependencyError(
                    f"Xvfb did not start within {DISPLAY_TIMEOUT_S} s: check that 'Xvfb -displayfd 1' runs on this machine."
                )
            text += chunk
        return text.decode().strip()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def find_ij_jar(ij_jar: str | os.PathLike | None = None) -> Path:
    """ImageJ's jar: the one given, else ``IMAGEJ_N2V_IJ_JAR``, else Debian's libij-java."""
    chosen = ij_jar or os.environ.get("IMAGEJ_N2V_IJ_JAR")
    path = Path(chosen) if chosen else DEFAULT_IJ_JAR
    if not path.is_file():
        if chosen:
            raise InputError(f"The ImageJ jar {path} does not exist: give the path of an ij.jar.")
        raise DependencyError(
            f"ImageJ's jar {DEFAULT_IJ_JAR} was not found: run apt-get install libij-java, "
            f"or give another ij.jar with --ij-jar or IMAGEJ_N2V_IJ_JAR."
        )
    return path


def plugin_jar() -> Path:
    """The N2V commands' jar, built by the package install."""
    if not PLUGIN_JAR.is_file():
        raise DependencyError(
            f"The N2V plugin jar {PLUGIN_JAR} is missing: reinstall imagej-n2v with pip "
            f"(the build needs a JDK and libij-java)."
        )
    return PLUGIN_JAR


def _check_java() -> None:
    home = os.environ.get("JAVA_HOME")
    if not (home and Path(home, "bin", "java").exists()) and not shutil.which("java"):
        raise DependencyError("Java was not found: run apt-get install default-jre-headless, or set JAVA_HOME.")


def _configure_jvm(classpath: list[Path], options: list[str]) -> None:
    import jpype
    import scyjava

    if jpype.isJVMStarted():
        raise InputError("A JVM is already running in this Python process without ImageJ: start ImageJ first.")
    scyjava.config.set_java_constraints(fetch="never")  # use the system Java; never download one
    scyjava.config.add_classpath(*[str(p) for p in classpath])
    for option in options:
        scyjava.config.add_option(option)


def _start_jar(ij_jar: Path, headless: bool, gui: bool) -> Session:
    _check_java()
    display = None
    if headless:
        display = VirtualDisplay()
        os.environ["DISPLAY"] = display.name  # read by the JVM's X11 toolkit when AWT starts
    elif not os.environ.get("DISPLAY"):
        if gui:
            raise InputError("The ImageJ window needs a screen (DISPLAY is not set): run imagej-n2v gui on a desktop, "
                             "or batch work with imagej-n2v macro --headless.")
        raise InputError("No display is available (DISPLAY is not set): add --headless to use a virtual one.")
    jar = plugin_jar()
    _configure_jvm([ij_jar, jar], [f"-Dplugins.dir={jar.parent}", "-Djava.awt.headless=false"])
    import scyjava
    from jpype import JClass

    scyjava.start_jvm()
    image_j = JClass("ij.ImageJ")
    image_j(image_j.STANDALONE if gui else image_j.NO_SHOW)  # builds the menus and the command table
    return Session("ij", headless, ij_jar=ij_jar, display=display)


def _start_fiji(fiji: Path, headless: bool, gui: bool) -> Session:
    if not (fiji / "jars").is_dir():
        raise InputError(f"The Fiji folder {fiji} has no jars folder: give the path of a Fiji.app.")
    _check_java()
    _configure_jvm([plugin_jar()], [])
    try:
        import imagej
    except ImportError:
        raise DependencyError("pyimagej is not installed, and Fiji needs it: run pip install pyimagej.") from None
    mode = "headless" if headless else "interactive"
    gateway = imagej.init(str(fiji), mode=mode)
    if gui:
        gateway.ui().showUI()
    return Session("fiji", headless, fiji=fiji, gateway=gateway)


def _register_commands() -> None:
    """Make sure ImageJ's command table knows our commands (Fiji reads plugins.config only from its own folder)."""
    from jpype import JClass

    table = JClass("ij.Menus").getCommands()
    if table is None:
        raise DependencyError("ImageJ built no command table: start it with a display, or with --headless.")
    for command, class_name in COMMANDS.items():
        if not table.containsKey(command):
            log.debug("Adding %s to ImageJ's command table.", command)
            table.put(command, class_name)


def _close_images() -> None:
    """Close ImageJ's image windows, unsaved: each has a thread that would keep the JVM from exiting."""
    from jpype import JClass

    manager = JClass("ij.WindowManager")
    for image_id in manager.getIDList() or []:
        image = manager.getImage(image_id)
        if image is not None:
            image.changes = False
            image.close()


def start_imagej(
    ij_jar: str | os.PathLike | None = None,
    fiji: str | os.PathLike | None = None,
    headless: bool = False,
    gui: bool = False,
    debug: bool = False,
) -> Session:
    """Start ImageJ (once per process) with the N2V commands handled by this Python process.

    Parameters
    ----------
    ij_jar
        An ImageJ 1.x jar; default ``IMAGEJ_N2V_IJ_JAR`` or Debian's ``/usr/share/java/ij.jar``.
    fiji
        A local Fiji.app (default ``FIJI_DIR`` when set); used instead of the jar.
    headless
        No screen: ImageJ 1.x runs on a private Xvfb display, Fiji in its headless mode.
    gui
        Show ImageJ's main window (``imagej-n2v gui``).
    debug
        Write Python tracebacks of failed commands to ImageJ's Log.
    """
    global _session
    fiji = fiji or os.environ.get("FIJI_DIR") or None
    if _session is not None:
        wanted = ("fiji" if fiji else "ij", headless)
        if (_session.kind, _session.headless) != wanted:
            raise InputError(
                f"ImageJ is already running here as {_session.kind} (headless {_session.headless}): "
                f"the JVM starts once per process, so run this in a new process."
            )
        return _session
    if not debug:  # scyjava announces a JDK "fetch" even when told never to fetch
        for name in ("scyjava", "jgo"):
            logging.getLogger(name).setLevel(logging.WARNING)
    if fiji:
        session = _start_fiji(Path(fiji), headless, gui)
    else:
        session = _start_jar(find_ij_jar(ij_jar), headless, gui)
    _register_commands()
    atexit.register(_close_images)  # runs before JPype's own exit handler, which waits for them
    from .commands import install_handler

    install_handler(debug=debug, dialogs=not headless, gateway=session.gateway)
    _session = session
    log.debug("ImageJ %s started (%s, headless %s).", imagej_version(), session.kind, headless)
    return session


def imagej_version() -> str:
    """The running ImageJ's version, e.g. 1.53t."""
    from jpype import JClass

    return str(JClass("ij.IJ").getVersion())
