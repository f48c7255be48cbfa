"""fp32 against bf16, side by side in one run: denoising and training speed, PSNR, exactness.

    .venv/bin/python benchmarks/bench_precision.py [--out benchmarks/precision-results.md]

What it measures (issue #8), on synthetic dome-like stacks with known clean signal:

* denoising time per plane (512x512 and 256x256) with our Denoiser in fp32 and bf16, and the
  seed's way (n2v's ``predict`` one slice at a time, fp32);
* training steps per second in fp32 and bf16 (the second epoch, so tracing is not counted);
* PSNR after equal training steps, mean over seeds;
* the difference of bf16 from fp32 on the same weights, in grey levels and relative to the
  image's noise standard deviation.

Where the machine has no native bf16 (no avx512_bf16 or AMX, no GPU), TensorFlow emulates it:
the numbers are then reported as emulated, and only the exactness and PSNR columns say anything
about the hardware the targets are meant for.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imagej_n2v.config import TrainConfig
from imagej_n2v.data.stack import PlaneStack
from imagej_n2v.data.synthetic import SyntheticStack, make_stack, psnr
from imagej_n2v.denoising.inference import Denoiser
from imagej_n2v.models.folder import describe_model
from imagej_n2v.models.precision import hardware_summary, native_precisions
from imagej_n2v.training.train import train_model

PRECISIONS = ("fp32", "bf16")
SEED_WAY = "seed's way (n2v predict per slice, fp32)"
DEFAULT_N_FIRST = TrainConfig().unet_n_first
TARGETS = {
    "denoise": "bf16 at least 1.8x faster per plane than fp32, 2.5x faster than the seed's way",
    "train": "bf16 at least 1.4x more steps per second than fp32",
    "psnr": "bf16 within 0.5 dB of fp32 (mean of the seeds)",
    "exactness": "99th percentile of the difference from fp32 below 10% of the noise sd",
}


@dataclass
class Settings:
    seeds: int
    steps: int
    batch_size: int
    patch_size: int
    unet_n_first: int
    planes: int
    repeats: int
    sizes: tuple[int, ...]


def cpu_model() -> str:
    """The CPU's model name (Linux), else the machine type."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


def label(precision: str) -> str:
    """The precision's column title: emulated precisions say so."""
    return precision if precision in native_precisions() else f"{precision} (emulated)"


def training_stack() -> SyntheticStack:
    """8 noisy slices of 128x128: the data every seed trains on and is scored on."""
    return make_stack(frames=1, slices=8, height=128, width=128, seed=0)


def train(stack: SyntheticStack, folder: Path, precision: str, seed: int, steps: int, s: Settings,
          unet_n_first: int) -> tuple[Path, float]:
    """Train ``steps`` steps (two epochs); return the model and the second epoch's steps per second."""
    config = TrainConfig(patch_size=s.patch_size, patches=1000, epochs=2, steps=max(1, steps // 2),
                         batch_size=s.batch_size, unet_n_first=unet_n_first, seed=seed, precision=precision)
    seconds: list[float] = []
    train_model([PlaneStack(stack.noisy, stack.axes)], folder, config, overwrite=True, export=False,
                on_epoch=lambda epoch, epochs, logs, took: seconds.append(took), allow_emulated=True)
    return folder, config.steps / seconds[-1]


def seconds_per_plane(denoise, planes: np.ndarray, repeats: int) -> float:
    """Median over ``repeats`` of the time to denoise ``planes`` (ZYX), per plane, after a warm-up."""
    denoise(planes[:1])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        denoise(planes)
        times.append((time.perf_counter() - started) / len(planes))
    return statistics.median(times)


def seed_way(model: Path):
    """The seed notebook's loop: n2v's own model and ``predict`` one slice at a time."""
    from n2v.models import N2V

    with contextlib.redirect_stdout(io.StringIO()):
        n2v_model = N2V(config=None, name=model.name, basedir=str(model.parent))

    def denoise(planes: np.ndarray) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            for plane in planes:
                n2v_model.predict(plane.astype(np.float32), axes="YX")

    return denoise


def bench_denoise(model: Path, s: Settings) -> dict[int, dict[str, float]]:
    description = describe_model(model)
    ways = {label(p): Denoiser(description, p, allow_emulated=True) for p in PRECISIONS}
    results: dict[int, dict[str, float]] = {}
    for size in s.sizes:
        planes = make_stack(frames=1, slices=s.planes, height=size, width=size, seed=size).noisy.reshape(-1, size, size)
        row = {name: seconds_per_plane(lambda p, d=d: d.denoise(p, "ZYX"), planes, s.repeats) for name, d in ways.items()}
        row[SEED_WAY] = seconds_per_plane(seed_way(model), planes, s.repeats)
        results[size] = row
        logging.info("denoise %dx%d: %s", size, size, row)
    return results


def exactness(model: Path, stack: SyntheticStack) -> dict[str, float]:
    """|bf16 - fp32| in grey levels (16-bit outputs, same weights), and the noise sd."""
    description = describe_model(model)
    exact = Denoiser(description, "fp32").denoise(stack.noisy, stack.axes).astype(np.float64)
    reduced = Denoiser(description, "bf16", allow_emulated=True).denoise(stack.noisy, stack.axes)
    difference = np.abs(reduced - exact)
    return {
        "noise_sd": float(np.std(stack.noisy.astype(np.float64) - stack.clean)),
        "signal_max": float(stack.clean.max()),
        "mean": float(difference.mean()),
        "p99": float(np.percentile(difference, 99)),
        "max": float(difference.max()),
    }


def report(s: Settings, denoise: dict, steps_per_s: dict, scores: dict, exact: dict, noisy_psnr: float, wall: float) -> str:
    emulated = [p for p in PRECISIONS if p not in native_precisions()]
    bf16, fp32 = label("bf16"), label("fp32")
    lines = [
        "# fp32 against bf16 (issue #8)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `python benchmarks/bench_precision.py` "
        f"in {wall / 60:.1f} min on {cpu_model()} ({os.cpu_count()} cores, shared), {hardware_summary()}.",
        "",
    ]
    if emulated:
        lines += [
            f"**{', '.join(emulated)} is emulated on this machine, not native**: TensorFlow runs it without "
            "bf16 instructions, so its speed says nothing about the targets, which need a CPU with avx512_bf16 "
            "or AMX, or a GPU (compute capability 8 or more). The exactness and PSNR rows are valid: emulation "
            "rounds exactly as native bf16 does.",
            "",
        ]
    lines += ["## Denoising, seconds per plane (median of "
              f"{s.repeats} runs of {s.planes} planes, after a warm-up)", "",
              f"n2v's default network (U-Net depth 2, kernel 5, {DEFAULT_N_FIRST} first filters); the weights "
              "(2 training steps) do not change the time.", ""]
    names = list(next(iter(denoise.values())))
    lines += ["| plane | " + " | ".join(names) + f" | {bf16} speed-up over fp32 | over the seed's way |",
              "|---" * (len(names) + 3) + "|"]
    for size, row in denoise.items():
        lines.append(f"| {size}x{size} | " + " | ".join(f"{row[n]:.3f}" for n in names)
                     + f" | {row[fp32] / row[bf16]:.2f}x | {row[SEED_WAY] / row[bf16]:.2f}x |")
    lines += [
        "",
        f"## Training: {s.steps} steps of batch {s.batch_size} on {s.patch_size}x{s.patch_size} patches, "
        f"{s.seeds} seeds, U-Net with {s.unet_n_first} first filters",
        "",
        "Steps per second are from the second epoch (no tracing); PSNR is of the denoised training stack "
        f"(8 slices of 128x128) against its clean signal; the noisy input has {noisy_psnr:.2f} dB. "
        f"{s.steps} steps and a narrow U-Net keep the emulated runs short: this compares the precisions at "
        "equal steps, not finished models.",
        "",
        f"| | {fp32} | {bf16} | difference |",
        "|---|---|---|---|",
    ]
    rate = {p: statistics.mean(steps_per_s[p]) for p in PRECISIONS}
    mean_psnr = {p: statistics.mean(scores[p]) for p in PRECISIONS}
    lines.append(f"| steps per second (mean) | {rate['fp32']:.2f} | {rate['bf16']:.2f} | {rate['bf16'] / rate['fp32']:.2f}x |")
    lines.append(f"| PSNR, mean of seeds (dB) | {mean_psnr['fp32']:.2f} | {mean_psnr['bf16']:.2f} | "
                 f"{mean_psnr['bf16'] - mean_psnr['fp32']:+.2f} dB |")
    lines.append("| PSNR per seed (dB) | " + ", ".join(f"{v:.2f}" for v in scores["fp32"]) + " | "
                 + ", ".join(f"{v:.2f}" for v in scores["bf16"]) + " | |")
    spread = {p: max(scores[p]) - min(scores[p]) for p in PRECISIONS}
    lines.append(f"| PSNR spread across seeds (dB) | {spread['fp32']:.2f} | {spread['bf16']:.2f} | |")
    lines += [
        "",
        "## bf16 against fp32 on the same weights (16-bit outputs, the seed-0 fp32 model)",
        "",
        f"Signal up to {exact['signal_max']:.0f} grey levels, noise sd {exact['noise_sd']:.1f}.",
        "",
        "| | grey levels | / noise sd |",
        "|---|---|---|",
    ]
    for key, name in (("mean", "mean absolute difference"), ("p99", "99th percentile"), ("max", "largest")):
        lines.append(f"| {name} | {exact[key]:.1f} | {exact[key] / exact['noise_sd']:.3f} |")
    verdict = {
        "denoise": "emulated here: not measurable" if "bf16" in emulated else "see the denoising table",
        "train": "emulated here: not measurable" if "bf16" in emulated else f"{rate['bf16'] / rate['fp32']:.2f}x",
        "psnr": f"{mean_psnr['bf16'] - mean_psnr['fp32']:+.2f} dB: "
                + ("met" if abs(mean_psnr["bf16"] - mean_psnr["fp32"]) <= 0.5 else "NOT met"),
        "exactness": f"{exact['p99'] / exact['noise_sd']:.3f} of the noise sd: "
                     + ("met" if exact["p99"] < 0.1 * exact["noise_sd"] else "NOT met"),
    }
    lines += ["", "## Targets", "", "| target | here |", "|---|---|"]
    lines += [f"| {TARGETS[key]} | {verdict[key]} |" for key in TARGETS]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("precision-results.md"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200, help="training steps per run (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--patch-size", type=int, default=32)
    parser.add_argument("--unet-n-first", type=int, default=16, help="first-layer filters of the trained U-Nets "
                        "(default: %(default)s; n2v's default is 32)")
    parser.add_argument("--planes", type=int, default=2, help="planes per denoising run (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed denoising runs (default: %(default)s)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 256])
    args = parser.parse_args(argv)
    s = Settings(args.seeds, args.steps, args.batch_size, args.patch_size, args.unet_n_first, args.planes,
                 args.repeats, tuple(args.sizes))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for noisy in ("tensorflow", "absl", "imagej_n2v", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.ERROR)  # tf.function's retracing hint: one per Denoiser

    started = time.monotonic()
    stack = training_stack()
    steps_per_s: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    scores: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    with tempfile.TemporaryDirectory(prefix="bench-precision-") as folder:
        models: dict[tuple[str, int], Path] = {}
        for seed in range(s.seeds):
            for precision in PRECISIONS:  # alternating, so background load hits both alike
                model, rate = train(stack, Path(folder) / f"{precision}-{seed}", precision, seed, s.steps, s,
                                    s.unet_n_first)
                models[precision, seed] = model
                denoised = Denoiser(describe_model(model), precision, allow_emulated=True).denoise(stack.noisy, stack.axes)
                steps_per_s[precision].append(rate)
                scores[precision].append(psnr(stack.clean, denoised))
                logging.info("seed %d %s: %.2f steps/s, %.2f dB", seed, precision, rate, scores[precision][-1])
        exact = exactness(models["fp32", 0], stack)
        timing_model, _ = train(stack, Path(folder) / "timing", "fp32", 0, 2, s, DEFAULT_N_FIRST)
        denoise = bench_denoise(timing_model, s)
    text = report(s, denoise, steps_per_s, scores, exact, psnr(stack.clean, stack.noisy), time.monotonic() - started)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
