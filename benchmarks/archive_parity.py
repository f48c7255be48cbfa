"""Issue 26: does bioimageio.core, on our exported archive, give what ``imagej-n2v denoise`` gives?

    python -m benchmarks.archive_parity --out benchmarks/archive-parity-results.json

Trains a plain, an N2V2 and a structN2V model on the dome (800 steps of batch 16 on 32x32
patches, as the quality tests), exports each archive, and denoises three dome planes as they
are, 10x dimmer and with +500 on their data area, once with bioimageio.core's own prediction
pipeline on the archive and once with imagej-n2v (16-bit). Reports per kind and plane the median
PSNR against the clean signal (noisy, ours, archive), the largest difference (float and after
rounding to 16 bits) and the archive's mean over the clean mean.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np

KINDS = {"plain": {}, "n2v2": {"n2v2": True}, "struct": {"struct_mask": "rows"}}
TRAINING = dict(patch_size=32, patches=2000, epochs=4, steps=200, batch_size=16, seed=0)
STRIP = 6
VARIANTS = {"bright": lambda a: a, "dim": lambda a: a / 10, "offset": lambda a: np.where(a > 0, a + 500, 0)}


def measure(kind: str, work: Path) -> dict:
    import xarray as xr
    from bioimageio.core import load_resource_description
    from bioimageio.core.prediction_pipeline import create_prediction_pipeline

    from imagej_n2v.config import TrainConfig
    from imagej_n2v.data.stack import PlaneStack
    from imagej_n2v.data.synthetic import make_stack
    from imagej_n2v.denoising.inference import load_denoiser
    from imagej_n2v.training.train import train_model

    stack = make_stack(frames=2, slices=3, height=64, width=64, strip=STRIP, seed=1)
    archive = train_model([PlaneStack(stack.noisy, stack.axes)], work / kind,
                          TrainConfig(**TRAINING, **KINDS[kind])).archive
    denoiser = load_denoiser(archive)
    kept = slice(STRIP, -STRIP)
    rows: dict[str, dict[str, list[float]]] = {}
    with create_prediction_pipeline(load_resource_description(archive)) as pipeline:
        for z in range(3):
            noisy, clean = stack.noisy[1, z].astype(np.float64), stack.clean[1, z].astype(np.float64)
            for name, change in VARIANTS.items():
                plane, truth = np.rint(change(noisy)).astype(np.uint16), change(clean)
                theirs = pipeline.forward(xr.DataArray(plane[None, ..., None].astype(np.float32),
                                                       dims=("b", "y", "x", "c")))[0].values[0, ..., 0]
                ours = denoiser.denoise(plane[None], "ZYX")[0].astype(np.float64)
                peak = np.ptp(truth[:, kept])

                def psnr(result):
                    return float(10 * np.log10(peak**2 / np.mean((result[:, kept] - truth[:, kept]) ** 2)))

                row = rows.setdefault(name, {k: [] for k in ("noisy", "ours", "archive", "max_diff",
                                                             "max_diff_rounded", "mean_ratio")})
                row["noisy"].append(psnr(plane.astype(np.float64)))
                row["ours"].append(psnr(ours))
                row["archive"].append(psnr(theirs))
                row["max_diff"].append(float(np.abs(theirs - ours).max()))
                row["max_diff_rounded"].append(float(np.abs(np.clip(np.rint(theirs), 0, 65535) - ours).max()))
                row["mean_ratio"].append(float(theirs[:, kept].mean() / truth[:, kept].mean()))
    return {name: {k: max(v) if k.startswith("max") else round(float(np.median(v)), 4) for k, v in row.items()}
            for name, row in rows.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as work:
        results = {kind: measure(kind, Path(work)) for kind in KINDS}
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
