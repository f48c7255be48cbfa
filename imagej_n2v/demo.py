"""``make demo``: the main job on an embedded example, start to finish.

Generates a small noisy TZYX dome-like stack with zero-valued column strips, trains a model
on it with the command line, denoises the stack with it, and writes a before/after picture.
Run as ``python -m imagej_n2v.demo OUTPUT_FOLDER``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from . import cli
from .data.synthetic import make_stack, psnr
from .data.tiff_io import Calibration, read_image, write_image

STRIP = 10


def before_after(noisy: np.ndarray, denoised: np.ndarray, clean: np.ndarray, target: Path) -> Path:
    """A PNG with one plane noisy, denoised and clean side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    low, high = np.percentile(clean, (0.5, 99.5))
    for axis, image, title in zip(axes, (noisy, denoised, clean), ("noisy input", "N2V denoised", "clean signal")):
        axis.imshow(image, cmap="gray", vmin=low, vmax=high)
        axis.set_title(title)
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(target, dpi=90)
    plt.close(figure)
    return target


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "demo-output").absolute()
    out.mkdir(parents=True, exist_ok=True)
    example = make_stack(frames=3, slices=6, height=128, width=128, strip=STRIP, brightness=(3000.0,), seed=7)
    raw = write_image(out / "dome.tif", example.noisy, example.axes,
                      Calibration(0.2, 0.2, "micron", 0.5, 60.0), overwrite=True)
    print(f"example stack: {raw} ({example.axes} {example.noisy.shape}, zero strips of {STRIP} columns)")
    status = cli.main(["train", str(raw), "--name", "dome-demo", "--model-dir", str(out / "models"), "--overwrite",
                       "--patch-size", "32", "--patches", "4000", "--epochs", "8", "--steps", "100"])
    if status:
        return status
    status = cli.main(["denoise", str(raw), "--model", str(out / "models" / "dome-demo"), "--output", str(out),
                       "--overwrite"])
    if status:
        return status
    denoised = read_image(out / "dome_denoised.tif")
    result = np.asarray(denoised.stack.data)
    kept = (Ellipsis, slice(STRIP, -STRIP))
    picture = before_after(example.noisy[1, 3], result[1, 3], example.clean[1, 3], out / "before_after.png")
    print(f"denoised stack: {denoised.path} ({denoised.axes} {result.shape} {result.dtype}; strips still zero: "
          f"{bool((result[..., :STRIP] == 0).all() and (result[..., -STRIP:] == 0).all())})")
    print(f"PSNR against the clean signal: noisy {psnr(example.clean[kept], example.noisy[kept]):.1f} dB, "
          f"denoised {psnr(example.clean[kept], result[kept]):.1f} dB")
    print(f"training loss plot: {out / 'models' / 'dome-demo' / 'loss.png'}")
    print(f"before/after picture: {picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
