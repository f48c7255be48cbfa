"""Build step for the ImageJ commands: compile ``java/src`` against ImageJ's jar into a jar.

The jar is package data (``imagej_n2v/imagej/java/imagej_n2v.jar``), built at install time rather than
kept in git. It targets Java 8 (``--release 8``) so that the older Java bundled with Fiji runs it.
ImageJ's jar comes from ``IMAGEJ_N2V_IJ_JAR`` or Debian's ``libij-java``.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
JAVA_DIR = ROOT / "java"
JAR = ROOT / "imagej_n2v" / "imagej" / "java" / "imagej_n2v.jar"  # ImageJ only scans plugin jars with "_" in the name
DEFAULT_IJ_JAR = "/usr/share/java/ij.jar"


def _tool(name: str) -> str:
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home, "bin", name) if home else None
    found = str(candidate) if candidate and candidate.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"imagej-n2v: '{name}' was not found: install a JDK (apt-get install default-jdk-headless) or set JAVA_HOME.")
    return found


def build_jar() -> Path:
    """Compile the plugin classes and jar them with plugins.config into the source tree."""
    ij_jar = os.environ.get("IMAGEJ_N2V_IJ_JAR") or DEFAULT_IJ_JAR
    if not Path(ij_jar).is_file():
        raise SystemExit(
            f"imagej-n2v: ImageJ's jar {ij_jar} was not found: run apt-get install libij-java, "
            f"or set IMAGEJ_N2V_IJ_JAR to an ij.jar."
        )
    sources = sorted(str(p) for p in (JAVA_DIR / "src").rglob("*.java"))
    JAR.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as classes:
        subprocess.run([_tool("javac"), "--release", "8", "-nowarn", "-encoding", "UTF-8",
                        "-cp", ij_jar, "-d", classes, *sources], check=True)
        shutil.copy(JAVA_DIR / "plugins.config", classes)
        partial = JAR.with_suffix(".jar.partial")
        subprocess.run([_tool("jar"), "cf", str(partial), "-C", classes, "."], check=True)
        os.replace(partial, JAR)
    return JAR


class BuildWithJar(build_py):
    """build_py that first builds the jar, so wheels and editable installs both carry it."""

    def run(self):
        build_jar()
        super().run()


setup(cmdclass={"build_py": BuildWithJar})
