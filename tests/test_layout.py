"""The package's parts import one way: settings and data at the bottom, the front doors at the top.

Every ``import`` in ``imagej_n2v/`` (function-local ones included) is read with ``ast`` and checked
against the layers the sub-packages' ``__init__`` docstrings name, so an import that runs back up
fails here rather than in a newcomer's head.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import imagej_n2v

PACKAGE = Path(imagej_n2v.__file__).parent
LAYERS = {
    "errors": 0,
    "config": 1, "atomic": 1, "interrupt": 1, "logs": 1, "versions": 1,
    "data": 2,
    "models": 3,
    "quality": 4,
    "training": 5, "denoising": 5,
    "imagej": 6, "cluster": 6,
    "api": 7, "info": 7,
    "cli": 8,
    "demo": 9, "reference": 9,
}
"""Each part's layer: a part imports only parts of lower layers, or itself."""


def _part(module: str) -> str:
    """``imagej_n2v.training.train`` -> ``training``; the package root is ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(absolute module, imported names) of each ``from ... import`` and ``import`` in ``path``."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    package = list(rel.parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names = [a.name for a in node.names]
            submodules = [n for n in names if (PACKAGE.parent / module.replace(".", "/") / n).with_suffix(".py").exists()
                          or (PACKAGE.parent / module.replace(".", "/") / n).is_dir()]
            found.extend((f"{module}.{n}", []) for n in submodules)  # "from . import info" imports a module
            if len(submodules) < len(names):
                found.append((module, [n for n in names if n not in submodules]))
        elif isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names)
    return [(m, names) for m, names in found if m == "imagej_n2v" or m.startswith("imagej_n2v.")]


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_part_has_a_layer():
    parts = {_part(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)) for p in MODULES}
    assert parts - {"", "__init__", "__main__"} <= set(LAYERS), parts - set(LAYERS)


def _violations(here: str, imports: list[tuple[str, list[str]]]) -> list[str]:
    """The imports of a module in part ``here`` that run upward or sideways."""
    wrong = []
    for module, names in imports:
        there = _part(module)
        if there == "":  # the root: only its version may be taken from below
            if set(names) != {"__version__"}:
                wrong.append(f"{module} {names}")
        elif there != here and LAYERS[there] >= LAYERS[here]:
            wrong.append(f"{module} (layer {LAYERS[there]}; {here} is layer {LAYERS[here]})")
    return wrong


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path):
    here = _part(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
    if here in ("", "__init__"):
        return  # the package root re-exports the API
    wrong = _violations(here, _imports(path))
    assert not wrong, f"{path.relative_to(PACKAGE)} imports upward or sideways: {wrong}"


def test_a_wrong_import_is_caught():
    """The check can fail: training importing denoising, data importing models, config importing data."""
    assert _violations("training", [("imagej_n2v.denoising.inference", ["load_denoiser"])])
    assert _violations("data", [("imagej_n2v.models.folder", ["describe_model"])])
    assert _violations("config", [("imagej_n2v.data.axes", ["choose"])])
    assert _violations("models", [("imagej_n2v", ["api"])])
    assert not _violations("denoising", [("imagej_n2v.models.folder", []), ("imagej_n2v", ["__version__"])])
