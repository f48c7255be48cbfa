"""``make bench-patience``: does the default ``--patience`` end training early at the full run's quality?

    python -m benchmarks.patience --out benchmarks/patience-results.md [--image FILE --channel 2]
                                  [--precision bf16] [--time-limit 2h]

Trains with imagej-n2v's default settings (100 epochs of 400 steps, batch 16, 64x64 patches,
10000 patches), every epoch run (patience off), on the dome example (clean signal known) and,
given ``--image``, on one channel of a real image. Each run keeps a copy of its weights whenever
the validation loss improves; afterwards every copy denoises its image. Since stopping early does
not change the epochs before the stop, one run gives what every patience would have done: the
epoch it stops after, the weights it keeps, their PSNR (the dome: against the clean signal; a real
image: against the result of the run's last kept weights) and the share of the run's time.

At n2v's default settings a run is 40,000 steps: hours on a GPU-less laptop. ``--time-limit``
ends each run cleanly (as the product's own ``--time-limit`` does), and the report says how far
each run got; ``--parallel`` runs the two side by side, each on half of the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
from pathlib import Path

from benchmarks.quality import with_patience
from benchmarks.report import _row
from benchmarks.run import REPO, machine, run_job

PATIENCES = (3, 5, 10, 15, 20, 30)


def run_subject(name: str, args: dict, work: Path) -> dict:
    """One training run on one subject (fresh folder), with what each patience would have done."""
    folder = work / name
    shutil.rmtree(folder, ignore_errors=True)
    result = run_job("quality_ours", {**args, "work": str(folder)}, work)
    epochs = result["epochs"]
    result["patience"] = {str(p): with_patience(epochs, p) for p in PATIENCES if p < len(epochs)}
    result["patience"]["off"] = with_patience(epochs, len(epochs) + 1)
    return result


def report(results: dict) -> list[str]:
    """The markdown: per subject, the run's curve at a few epochs and the patience table."""
    m = results["machine"]
    lines = ["# Patience at imagej-n2v's default settings", "",
             f"Taken {m['date']} on {m['cpu']}, {m['cores']} cores, GPU: {m['gpu']}; TensorFlow {m['tensorflow']}, "
             f"n2v {m['n2v']}. Command: `{results['command']}`.", ""]
    for name, run in results["runs"].items():
        lines += _subject_lines(name, run)
    return lines


def _subject_lines(name: str, run: dict) -> list[str]:
    epochs, settings = run["epochs"], run["settings"]
    dome = run["noisy_psnr"] is not None
    key, label = ("psnr", "PSNR vs clean dB") if dome else ("psnr_vs_last", "PSNR vs last kept result dB")
    last = epochs[-1]
    lines = [f"## {name}", "",
             f"Settings: {settings['epochs']} epochs of {settings['steps']} steps, batch {settings['batch_size']}, "
             f"{settings['patch_size']}x{settings['patch_size']} patches, {settings['patches']} patches, precision "
             f"{settings['precision']}, time limit {settings['time_limit']}. The run ended {run['ended']}: "
             f"{len(epochs)} epochs in {last['wall_s'] / 60:.0f} min ({last['cpu_s'] / 60:.0f} CPU min)."
             + (f" Noisy input: {run['noisy_psnr']:.2f} dB against the clean signal." if dome else ""), "",
             _row(["epoch", "val loss", "learning rate", label, "wall min"]), _row(["---"] * 5)]
    kept = None
    for entry in epochs:
        kept = entry if entry["improved"] else kept
        lines.append(_row([entry["epoch"], f"{entry['val_loss']:.5f}" + ("" if entry["improved"] else " (no gain)"),
                           f"{entry['lr']:.2g}" if entry.get("lr") else "", _score(kept[key]),
                           f"{entry['wall_s'] / 60:.1f}"]))
    full = run["patience"]["off"]
    lines += ["", f"What each `--patience` would have done on this run ({label} of the weights it keeps):", "",
              _row(["patience", "stops after epoch", "keeps epoch", label, "vs whole run dB", "share of wall time",
                    "share of CPU time"]), _row(["---"] * 7)]
    for patience, result in run["patience"].items():
        lines.append(_row([patience, result["stopped_at"] or f"none ({len(epochs)})", result["best_epoch"],
                           _score(result[key]), f"{result[key] - full[key]:+.2f}" if dome else "",
                           f"{result['wall_s'] / last['wall_s']:.2f}", f"{result['cpu_s'] / last['cpu_s']:.2f}"]))
    return lines + [""]


def _score(psnr: float) -> str:
    """A PSNR cell; infinity is the last kept result against itself."""
    return "same weights" if psnr == float("inf") else f"{psnr:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.patience", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "patience-results.md"), help="report (.md; .json beside it)")
    parser.add_argument("--work", default="/tmp/imagej-n2v-bench-patience", help="scratch folder")
    parser.add_argument("--image", help="a real image (TIFF) to train on besides the dome")
    parser.add_argument("--channel", type=int, default=1, help="its channel, 1-based")
    parser.add_argument("--precision", default="fp32", help="training precision (bf16 where the CPU or GPU runs it natively)")
    parser.add_argument("--epochs", type=int, help="epochs per run (default: the product's, 100)")
    parser.add_argument("--steps", type=int, help="steps per epoch (default: the product's, 400)")
    parser.add_argument("--time-limit", help="end each run cleanly after this long, e.g. 2h (default: all 100 epochs)")
    parser.add_argument("--parallel", action="store_true", help="run the subjects side by side, each on half of the cores")
    options = parser.parse_args(argv)

    work = Path(options.work)
    work.mkdir(parents=True, exist_ok=True)
    settings = {"precision": options.precision, "time_limit": options.time_limit,
                **{k: v for k, v in (("epochs", options.epochs), ("steps", options.steps)) if v}}
    subjects = {"Dome example": ("dome", {"settings": settings})}
    if options.image:
        subjects[f"Real image: {Path(options.image).name}, channel {options.channel}"] = ("real", {
            "settings": settings, "image": str(Path(options.image).resolve()), "channel": options.channel})
    if options.parallel:
        threads = str(max(1, (os.cpu_count() or 2) // len(subjects)))
        os.environ.update(TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS="1")
    results = {"machine": machine(), "command": " ".join(["python -m benchmarks.patience", *(argv or sys.argv[1:])]),
               "runs": {}}
    jobs = [threading.Thread(target=lambda n=name, f=folder, a=args: results["runs"].__setitem__(
        n, run_subject(f, a, work))) for name, (folder, args) in subjects.items()]
    for job in jobs:
        job.start()
        if not options.parallel:
            job.join()
    for job in jobs:
        job.join()
    results["runs"] = {name: results["runs"][name] for name in subjects if name in results["runs"]}
    out = Path(options.out)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    out.write_text("\n".join(report(results)))
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
