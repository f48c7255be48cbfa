"""The tested TensorFlow/n2v stack: a wrong or missing version is one sentence with the pip fix.

The installed versions are faked (``versions._installed`` is the one place they are looked up),
so every wrong stack can be checked on a machine that has the right one.
"""

from __future__ import annotations

import pytest

from imagej_n2v import versions
from imagej_n2v.errors import DependencyError
from imagej_n2v.versions import check_environment

TESTED = {"tensorflow-cpu": "2.15.1", "n2v": "0.3.3", "keras": "2.15.0", "csbdeep": "0.7.4", "numpy": "1.26.4"}


@pytest.fixture
def installed(monkeypatch):
    """``installed(**versions)``: pretend exactly these distributions are installed."""

    def fake(found: dict[str, str]) -> None:
        monkeypatch.setattr(versions, "_installed", found.get)
        check_environment.cache_clear()

    yield fake
    check_environment.cache_clear()


def test_the_tested_stack_passes(installed):
    installed(TESTED)
    assert check_environment() == TESTED


@pytest.mark.parametrize(("changed", "problem", "fix"), [
    ({"tensorflow-cpu": "2.16.1", "keras": "3.3.3"},
     "tensorflow-cpu 2.16.1 is installed but n2v needs TensorFlow 2.15; keras 3.3.3 is installed but Keras 2.15 is needed",
     "pip install 'tensorflow-cpu==2.15.1' 'keras==2.15.*'"),
    ({"tensorflow-cpu": None, "tensorflow": "2.14.0"},
     "tensorflow 2.14.0 is installed but n2v needs TensorFlow 2.15", "pip install 'tensorflow==2.15.1'"),
    ({"tensorflow-cpu": None}, "TensorFlow is not installed", "pip install 'tensorflow-cpu==2.15.1'"),
    ({"numpy": "2.0.1", "n2v": None},
     "n2v is not installed (n2v 0.3.3 is needed); numpy 2.0.1 is installed but NumPy 1.x (below 2) is needed",
     "pip install 'n2v==0.3.3' 'numpy==1.26.*'"),
], ids=["keras-3", "tensorflow-2.14", "no-tensorflow", "numpy-2"])
def test_a_wrong_stack_is_one_sentence_with_the_fix(installed, changed, problem, fix):
    installed({k: v for k, v in {**TESTED, **changed}.items() if v is not None})
    with pytest.raises(DependencyError) as caught:
        check_environment()
    assert str(caught.value) == f"{problem}: run {fix}"


def test_the_cli_stops_before_any_work(installed, tmp_path, capsys):
    import numpy as np
    import tifffile

    from imagej_n2v.cli import main

    image = tmp_path / "plane.tif"
    tifffile.imwrite(image, np.ones((64, 64), np.uint16))
    installed({**TESTED, "tensorflow-cpu": "2.16.1"})
    assert main(["train", str(image), "--name", "m", "--model-dir", str(tmp_path)]) == 2
    assert main(["denoise", str(image), "--model", str(tmp_path / "m")]) == 2
    assert main(["info", "--system"]) == 0
    captured = capsys.readouterr()
    wrong = "tensorflow-cpu 2.16.1 is installed but n2v needs TensorFlow 2.15"
    assert captured.err.splitlines() == [f"imagej-n2v: error: {wrong}: run pip install 'tensorflow-cpu==2.15.1'"] * 2
    assert f"tested stack: NOT OK: {wrong}" in captured.out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plane.tif"]
