"""history.csv and loss.png beside a model."""

from __future__ import annotations

import matplotlib

from imagej_n2v.training.history import read_history, write_history

HISTORY = {"loss": [0.9, 0.5], "val_loss": [1.0, 0.6], "lr": [4e-4, 2e-4]}


def test_history_round_trips_and_says_when_incomplete(tmp_path):
    write_history(tmp_path, "dome", HISTORY, "bf16", incomplete="stopped after 2 of 5 epochs")
    assert read_history(tmp_path) == HISTORY
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert lines[0] == "epoch,loss,val_loss,lr,precision" and lines[1].endswith(",bf16")
    assert lines[-1] == "# incomplete: stopped after 2 of 5 epochs"
    assert (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG")


def test_the_plot_leaves_matplotlibs_backend_alone(tmp_path):
    """A notebook or application that imports us keeps its own backend."""
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        write_history(tmp_path, "dome", HISTORY, "fp32")
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
