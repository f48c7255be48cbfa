"""``make bench-quality``: imagej-n2v against n2v's own loop and the classical filters, on real images.

    python -m benchmarks.quality_real --out benchmarks/quality-results.md [--seeds 0 1 2] [--time-limits 2m,10m,30m]

Every image (``quality_data``: real channels with a clean reference at two photon levels, and
the dome) is denoised by: a Gaussian blur, BM3D and GAT + BM3D, each at its best strength;
n2v's own loop and imagej-n2v at equal steps (the same network, patch, batch and steps); and
imagej-n2v at its defaults under each time limit. Each N2V runs once per seed; the table gives
the mean and half the range over seeds, and how many images each loop wins. Results
are written to the JSON file as they come, so an interrupted run keeps what it measured and a
rerun with ``--resume`` skips it. The default plan (9 images, 3 seeds at equal steps, one
seed at a 2-minute limit) is about an hour on two quiet cores; every time limit adds itself
times images times ``--limit-seeds`` (the start prints it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import quality_methods as methods
from benchmarks.quality_data import SETS, Subject, subjects
from benchmarks.run import machine

REPO = Path(__file__).resolve().parent.parent
EQUAL = {"epochs": 4, "steps": 30, "batch_size": 16, "patch_size": 64, "precision": "fp32"}
"""Equal training for both loops: 120 steps of 16 patches (about 50 s on two quiet cores), in few
epochs, as imagej-n2v's validation pass (1,000 patches) costs a share of each epoch."""
CLASSICAL = {"gaussian": methods.gaussian_best, "bm3d": methods.bm3d_best, "gat_bm3d": methods.gat_bm3d}


def plan(args: argparse.Namespace) -> list[tuple[str, dict]]:
    """The N2V runs per image and seed: (column, settings) with the method in settings['method']."""
    equal = {**EQUAL, "epochs": args.epochs, "steps": args.steps, "patience": args.epochs}  # every epoch runs
    runs = [("n2v_own", {"method": "n2v_own", **equal}), ("ours", {"method": "ours", **equal})]
    runs += [(f"ours_{name}", {"method": "ours", **json.loads(settings), "patience": args.epochs, **equal})
             for name, settings in args.variant]
    runs += [(f"ours_default_{limit}", {"method": "ours", "time_limit": limit, "precision": "auto", "seeds": args.limit_seeds})
             for limit in args.time_limits]
    return [(column, settings) for column, settings in runs if not args.skip or column not in args.skip]


def measure(args: argparse.Namespace) -> dict:
    """Run the plan, appending to the JSON file after every result."""
    results = json.loads(args.json.read_text()) if args.resume and args.json.is_file() else {"machine": machine(), "images": {}}
    results["equal_steps"] = {**EQUAL, "epochs": args.epochs, "steps": args.steps}
    results["load_at_start"] = list(os.getloadavg())
    chosen = subjects(tuple(args.sets), tuple(args.photons), args.cache, dome=not args.no_dome)
    runs = plan(args)
    limits = sum(_seconds(limit) for limit in args.time_limits) * len(chosen) * len(args.limit_seeds)
    print(f"{len(chosen)} images x {len(args.seeds)} seeds x {len(runs)} N2V runs; the time limits alone take "
          f"{limits / 60:.0f} min", file=sys.stderr)
    for subject in chosen:
        image = results["images"].setdefault(subject.name, {"noisy": methods.score(subject, subject.noisy)})
        for name, method in CLASSICAL.items():
            if name in args.classical and name not in image:
                started = time.perf_counter()
                image[name] = {**method(subject), "seconds": time.perf_counter() - started}
                _save(args.json, results, f"{subject.name} {name}: {image[name]['psnr']:.2f} dB")
        for column, settings in runs:
            for seed in settings.get("seeds", args.seeds):
                done = image.setdefault(column, {})
                if str(seed) not in done:
                    done[str(seed)] = _train(subject, settings, seed)
                    if "psnr_tta" in done[str(seed)]:  # the same model with --tta: a column of its own
                        run = done[str(seed)]
                        image.setdefault(f"{column}_tta", {})[str(seed)] = {
                            "psnr": run["psnr_tta"], "train_s": run["train_s"], "denoise_s": run["denoise_tta_s"]}
                    run = done[str(seed)]
                    _save(args.json, results, f"{subject.name} {column} seed {seed}: " + (
                        f"refused: {run['refused']}" if "refused" in run else
                        f"{run['psnr']:.2f} dB after {run['train_s']:.0f} s"))
    results["load_at_end"] = list(os.getloadavg())
    _save(args.json, results, "done")
    return results


def _train(subject: Subject, settings: dict, seed: int) -> dict:
    """One N2V run; a run the product refuses (a time limit shorter than one epoch here) is kept as its sentence."""
    from imagej_n2v.errors import N2VError

    settings = dict(settings)
    settings.pop("seeds", None)
    method = getattr(methods, settings.pop("method"))
    try:
        return {**method(subject, settings, seed), "settings": settings}
    except N2VError as exc:
        return {"refused": str(exc), "settings": settings}


def _seconds(limit: str) -> float:
    from imagej_n2v.config.durations import parse_duration

    return parse_duration(limit)


def _save(path: Path, results: dict, line: str) -> None:
    path.write_text(json.dumps(results, indent=1))
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "quality-results.md")
    parser.add_argument("--json", type=Path, default=None, help="default: beside --out, .json")
    parser.add_argument("--cache", type=Path, default=REPO / "bench-output" / "quality-data",
                        help="where the sample wheels are downloaded (ignored by git)")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--photons", nargs="+", type=float, default=[5.0, 20.0])
    parser.add_argument("--no-dome", action="store_true")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=EQUAL["epochs"])
    parser.add_argument("--steps", type=int, default=EQUAL["steps"])
    parser.add_argument("--time-limits", type=lambda text: [t for t in text.split(",") if t], default=["2m"],
                        help="comma-separated, e.g. 2m,10m,30m (empty: none)")
    parser.add_argument("--limit-seeds", nargs="+", type=int, default=[0],
                        help="seeds of the time-limited runs (default: the first only, to fit the hour)")
    parser.add_argument("--classical", nargs="*", default=list(CLASSICAL), choices=list(CLASSICAL))
    parser.add_argument("--variant", nargs=2, action="append", default=[], metavar=("NAME", "SETTINGS_JSON"),
                        help="another imagej-n2v column at equal steps, e.g. aug '{\"augment\": true}'")
    parser.add_argument("--skip", nargs="*", default=[], help="N2V columns not to run, e.g. n2v_own")
    parser.add_argument("--resume", action="store_true", help="keep the JSON file's results and run only what is missing")
    args = parser.parse_args(argv)
    args.json = args.json or args.out.with_suffix(".json")
    args.cache.mkdir(parents=True, exist_ok=True)
    results = measure(args)
    from benchmarks.quality_report import write_report

    write_report(results, args.out)


if __name__ == "__main__":
    main()
