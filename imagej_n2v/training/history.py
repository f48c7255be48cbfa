"""A training's history beside its model: ``history.csv`` (epoch, loss, val_loss, lr, precision) and ``loss.png``.

The plot is drawn on its own ``matplotlib.figure.Figure``, never through pyplot, so importing
or running us never changes the backend of a notebook or an application that uses matplotlib.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .stopping import Ending

COLUMNS = ("loss", "val_loss", "lr")


def write_history(folder: Path, name: str, history: dict[str, list[float]], precision: str,
                  incomplete: str | None = None, ending: Ending | None = None,
                  references: dict[str, float] | None = None) -> None:
    """history.csv and loss.png in ``folder`` (a model's staging folder, renamed into place when whole).

    ``incomplete`` (why training stopped early) becomes a last ``# incomplete: ...`` line of
    the CSV and part of the plot's title, so the history itself says it is unfinished; an
    ``ending`` (time limit, patience) becomes an ``# ended: ...`` line. ``references`` (label ->
    held-out loss: the best blur's, the noisy input's level) become horizontal lines of the plot.
    """
    epochs = range(1, len(history.get("loss", [])) + 1)
    with open(folder / "history.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *COLUMNS, "precision"])
        for i, epoch in enumerate(epochs):
            writer.writerow([epoch] + [history.get(k, [float("nan")] * len(epochs))[i] for k in COLUMNS] + [precision])
        if incomplete:
            handle.write(f"# incomplete: {incomplete}\n")
        if ending:
            handle.write(f"# ended: {ending.text} after epoch {len(epochs)}; the best epoch, {ending.best_epoch}, is kept\n")
    plot_losses(folder / "loss.png", history, f"N2V training: {name} ({precision}{', INCOMPLETE' if incomplete else ''})",
                references)


def plot_losses(path: Path, history: dict[str, list[float]], title: str,
                references: dict[str, float] | None = None) -> None:
    """Training and validation loss per epoch, as a PNG, with ``references`` as dashed horizontal lines."""
    from matplotlib.figure import Figure

    epochs = list(range(1, len(history.get("loss", [])) + 1))
    figure = Figure(figsize=(6, 4))
    axis = figure.add_subplot()
    axis.plot(epochs, history.get("loss", []), label="training loss")
    axis.plot(epochs, history.get("val_loss", []), label="validation loss")
    for (label, value), style in zip((references or {}).items(), ("--", ":", "-.")):
        axis.axhline(value, linestyle=style, color="grey" if style != "-." else "black", linewidth=1, label=label)
    axis.set_xlabel("epoch")
    axis.set_ylabel("loss (MSE on masked pixels)")
    axis.set_title(title)
    axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def read_history(folder: Path) -> dict[str, list[float]]:
    """The per-epoch values of ``history.csv`` (as written by ``write_history``)."""
    history: dict[str, list[float]] = {}
    with open(folder / "history.csv", newline="") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            for key in COLUMNS:
                if row.get(key) not in (None, ""):
                    history.setdefault(key, []).append(float(row[key]))
    return history
