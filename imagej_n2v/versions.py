"""The tested TensorFlow/n2v stack, checked before anything trains or predicts.

n2v 0.3.3 breaks under Keras 3 (TensorFlow 2.16 and later) with errors deep inside training;
checking the installed versions first turns that into one sentence with the fix.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import metadata

from .errors import DependencyError

# distribution -> (accepted version prefix, what to say, the pip requirement that fixes it)
SUPPORTED = {
    "n2v": ("0.3.3", "n2v 0.3.3", "n2v==0.3.3"),
    "keras": ("2.15.", "Keras 2.15", "keras==2.15.*"),
    "csbdeep": ("0.7.", "CSBDeep 0.7", "csbdeep==0.7.4"),
    "numpy": ("1.", "NumPy 1.x (below 2)", "numpy==1.26.*"),
}
TENSORFLOW_DISTRIBUTIONS = ("tensorflow-cpu", "tensorflow", "tensorflow-gpu", "tensorflow-intel")


def _installed(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def check_environment() -> dict[str, str]:
    """Return the installed versions of the tested stack, or raise DependencyError naming the fix."""
    found: dict[str, str] = {}
    problems: list[str] = []
    fixes: list[str] = []
    tf_versions = {d: v for d in TENSORFLOW_DISTRIBUTIONS if (v := _installed(d))}
    if not tf_versions:
        problems.append("TensorFlow is not installed")
        fixes.append("tensorflow-cpu==2.15.1")
    for dist, version in tf_versions.items():
        found[dist] = version
        if not version.startswith("2.15."):
            problems.append(f"{dist} {version} is installed but n2v needs TensorFlow 2.15")
            fixes.append(f"{'tensorflow' if dist == 'tensorflow' else 'tensorflow-cpu'}==2.15.1")
    for dist, (prefix, wanted, requirement) in SUPPORTED.items():
        version = _installed(dist)
        if version is None:
            problems.append(f"{dist} is not installed ({wanted} is needed)")
            fixes.append(requirement)
        elif not version.startswith(prefix):
            problems.append(f"{dist} {version} is installed but {wanted} is needed")
            fixes.append(requirement)
        else:
            found[dist] = version
    if problems:
        command = "pip install " + " ".join(f"'{f}'" for f in dict.fromkeys(fixes))
        raise DependencyError(f"{'; '.join(problems)}: run {command}")
    return found
