"""Which epoch training keeps, against the truth: every epoch's PSNR beside its validation loss.

    python -m benchmarks.kept_epoch --out benchmarks/kept-epoch-results.md [--seeds 0 1 2] [--epochs 6 --steps 50]

On one real plane with a clean reference (neuron-4Ch's phalloidin at 5 photons, ``quality_data``)
a single plane validates on a band of its rows. Each run trains with ``train_model`` and copies
the weights of every epoch (n2v's ``weights_now.h5``: with ``--average`` the average) to score
them afterwards, so the table shows whether the validation loss follows the result, what the
kept epoch gives, and how much the last epochs swing. Variants: the band through the middle of
the plane (the product) or at its bottom (as before issue 22's fix), and the running average of
the weights on or off. About 2.5 minutes per run on two quiet cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks import quality_methods as methods
from benchmarks.quality_data import subjects
from benchmarks.run import machine

REPO = Path(__file__).resolve().parent.parent
VARIANTS = {"bottom": ("bottom", False), "middle": ("middle", False), "middle+average": ("middle", True)}


def _bottom_band(height: int, size: int, fraction: float):
    """The band as it was before: at the bottom of every plane."""
    band = max(size, int(np.ceil(height * fraction)))
    return None if height - band < size else ([slice(0, height - band)], slice(height - band, height))


def run(subject, place: str, average: bool, seed: int, epochs: int, steps: int) -> dict:
    """One training; every epoch's weights scored against the clean reference."""
    import tensorflow as tf

    import imagej_n2v.training.holdout as holdout
    from imagej_n2v.config import TrainConfig
    from imagej_n2v.data.stack import PlaneStack
    from imagej_n2v.denoising.inference import Denoiser
    from imagej_n2v.models.folder import describe_model
    from imagej_n2v.training.train import train_model

    product = holdout.row_bands
    holdout.row_bands = _bottom_band if place == "bottom" else product
    work = Path(tempfile.mkdtemp())
    try:
        def keep(epoch: int, total: int, logs: dict, seconds: float) -> None:
            shutil.copy2(next(work.glob("*/weights_now.h5")), work / f"epoch{epoch}.h5")

        tf.keras.backend.clear_session()
        config = TrainConfig(epochs=epochs, steps=steps, batch_size=16, patch_size=64, precision="fp32",
                             patience=epochs, seed=seed, average=average)
        result = train_model([PlaneStack(subject.noisy, subject.axes)], work / "model", config, export=False,
                             on_epoch=keep)
        psnrs = []
        for epoch in range(1, len(result.history["val_loss"]) + 1):
            shutil.copy2(work / f"epoch{epoch}.h5", work / "model" / "weights_best.h5")
            denoised = Denoiser(describe_model(work / "model")).denoise(subject.noisy, subject.axes, bit_depth=32)
            psnrs.append(methods.score(subject, denoised))
    finally:
        holdout.row_bands = product
        shutil.rmtree(work, ignore_errors=True)
    losses = result.history["val_loss"]
    return {"psnr": psnrs, "val_loss": losses, "kept": int(np.argmin(losses)) + 1,
            "area": result.patches["validation_area"]}


def report(results: dict) -> str:
    m = results["machine"]
    lines = ["# Which epoch training keeps, against the truth (`python -m benchmarks.kept_epoch`)", "",
             f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores), TensorFlow {m['tensorflow']}, n2v {m['n2v']}; load average {results['load'][0]:.1f} at the start. "
             f"{results['image']}: noisy {results['noisy']:.2f} dB, best Gaussian {results['gaussian']:.2f} dB. "
             f"{results['epochs']} epochs of {results['steps']} steps, batch 16, patch 64, fp32; every epoch runs.", "",
             "| variant | seed | PSNR of each epoch (dB) | validation loss of each epoch | kept epoch | kept PSNR |",
             "|---|---|---|---|---|---|"]
    summary = []
    for name, seeds in results["runs"].items():
        kept, last = [], []
        for seed, r in seeds.items():
            k = r["kept"]
            kept.append(r["psnr"][k - 1])
            last.append(r["psnr"][-1])
            lines.append(f"| {name} | {seed} | {' '.join(f'{p:.2f}' for p in r['psnr'])} | "
                         f"{' '.join(f'{v:.4f}' for v in r['val_loss'])} | {k} | {kept[-1]:.2f} |")
        summary.append(f"- {name}: kept epoch {np.mean(kept):.2f} dB mean (spread {np.ptp(kept):.2f}), last epoch "
                       f"{np.mean(last):.2f} dB mean (spread {np.ptp(last):.2f}) over {len(kept)} seeds")
    return "\n".join(lines + ["", *summary, ""])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "kept-epoch-results.md")
    parser.add_argument("--cache", type=Path, default=REPO / "bench-output" / "quality-data")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args(argv)
    import os

    args.cache.mkdir(parents=True, exist_ok=True)
    subject = subjects(("phalloidin",), (5.0,), args.cache, dome=False)[0]
    results = {"machine": machine(), "load": list(os.getloadavg()), "image": subject.name, "epochs": args.epochs,
               "steps": args.steps, "noisy": methods.score(subject, subject.noisy),
               "gaussian": methods.gaussian_best(subject)["psnr"], "runs": {}}
    for name in args.variants:
        for seed in args.seeds:
            place, average = VARIANTS[name]
            results["runs"].setdefault(name, {})[str(seed)] = run(subject, place, average, seed, args.epochs, args.steps)
            print(f"{name} seed {seed} done", file=sys.stderr)
            args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    args.out.write_text(report(results))


if __name__ == "__main__":
    main()
