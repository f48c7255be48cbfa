"""``make bench``: imagej-n2v against the seed's way and against the network alone.

    python -m benchmarks.run --out benchmarks/results.md [--large-gb 6]

Every measured method runs in a fresh process (``benchmarks.workers``): the parent takes its
wall time, the process reports its own peak RSS (VmHWM). The methods on one stack run one
after the other in the same run, so their ratios compare like with like on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
import tifffile

from benchmarks import cluster, tiling
from benchmarks.report import write_report
from imagej_n2v.data.synthetic import make_stack
from imagej_n2v.data.tiff_io import Calibration, write_image, write_planes
from imagej_n2v.denoising.inference import BATCH_PIXELS, TILE_PIXELS

REPO = Path(__file__).resolve().parent.parent
SIDE_BY_SIDE = ("seed_way", "cli_denoise", "network_alone")
PARTS = ("denoise", "warm", "imagej", "training", "large", "cluster", "quality", "precisions", "tiling")
PATIENCES = (3, 5, 10, 15, 20, 30)
TINY_NETWORK = {"depth": 1, "kernel": 3, "n_first": 2}
"""For runs that measure memory or overhead, not the network."""


def machine() -> dict:
    """What the figures were taken on."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    import importlib.metadata as md

    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(memory, 1), "os": platform.platform(),
            "python": platform.python_version(),
            "tensorflow": next((md.version(p) for p in ("tensorflow-cpu", "tensorflow") if _installed(p)), "?"),
            "n2v": md.version("n2v"), "gpu": "none visible to TensorFlow" if not _gpus() else ", ".join(_gpus()),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def _installed(package: str) -> bool:
    import importlib.metadata as md

    try:
        md.version(package)
        return True
    except md.PackageNotFoundError:
        return False


def _gpus() -> list[str]:
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
        return [line for line in out.stdout.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError):
        return []


def run_job(job: str, args: dict, work: Path) -> dict:
    """Run one worker job in a fresh process; its figures plus wall time and peak RSS."""
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    stamp = f"{job}-{time.monotonic_ns()}"
    args_file, result_file, log_file = logs / f"{stamp}.args.json", logs / f"{stamp}.json", logs / f"{stamp}.log"
    args_file.write_text(json.dumps(args))
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with open(log_file, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "benchmarks.workers", job, str(args_file), str(result_file)],
                                   cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        tail = log_file.read_text()[-3000:]
        raise SystemExit(f"benchmark job {job} failed (exit {process.returncode}); log {log_file}:\n{tail}")
    result = json.loads(result_file.read_text())
    result.update(process_wall_s=wall, peak_rss_mb=result.pop("peak_rss_self_mb", usage.ru_maxrss / 1024), load_before=load)
    print(f"  {job}: work {result.get('work_s', float('nan')):.1f} s, process {wall:.1f} s, "
          f"peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
    return result


def max_difference(seed_output: Path, ours: Path) -> dict:
    """Largest |ours - seed| in grey levels, plane by plane (never both stacks in memory)."""
    a = tifffile.memmap(seed_output, mode="r")
    b = tifffile.memmap(ours, mode="r")
    a, b = a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:])
    worst = worst_rounded = 0.0
    for plane_a, plane_b in zip(a, b):
        plane_b = plane_b.astype(np.float64)
        worst = max(worst, float(np.abs(plane_b - plane_a).max()))
        worst_rounded = max(worst_rounded, float(np.abs(plane_b - np.clip(np.rint(plane_a), 0, 65535)).max()))
    return {"max_abs_diff": worst, "max_abs_diff_vs_rounded_seed": worst_rounded, "planes": len(a)}


def side_by_side(name: str, stack_file: Path, plane_shape: tuple[int, int], model: dict, options: argparse.Namespace,
                 work: Path) -> dict:
    """(a) seed's way, (b) imagej-n2v denoise, (c) network alone on one stack, ``repeats`` rounds."""
    out = work / f"out_{name}"
    out.mkdir(exist_ok=True)
    common = {"model": model["folder"], "input": str(stack_file)}
    planes = int(np.prod(tifffile.TiffFile(stack_file).series[0].shape[:-2]))
    jobs = {
        "seed_way": {**common, "output": str(out / "seed.tif"), "tzyx": [options.frames, -1, *plane_shape]},
        "cli_denoise": {**common, "output_dir": str(out), "cli_options": ["--batch-planes", str(options.batch_planes)]},
        "network_alone": {**common, "mean": model["mean"], "std": model["std"], "plane_shape": list(plane_shape),
                          "depth": model["depth"],
                          "batch": max(1, min(options.batch_planes, BATCH_PIXELS // (plane_shape[0] * plane_shape[1])))},
    }
    rounds: dict[str, list[dict]] = {job: [] for job in SIDE_BY_SIDE}
    for number in range(options.repeats):
        print(f"{name}: round {number + 1} of {options.repeats}", flush=True)
        for job in SIDE_BY_SIDE:
            rounds[job].append(run_job(job, jobs[job], work))
    megapixels = planes * plane_shape[0] * plane_shape[1] / 1e6
    summary = {"stack": stack_file.name, "plane_shape": list(plane_shape), "planes": planes,
               "size_mb": stack_file.stat().st_size / 1024**2, "megapixels": megapixels, "rounds": rounds}
    for job, results in rounds.items():
        median = {key: float(np.median([r[key] for r in results])) for key in ("work_s", "work_cpu_s", "process_wall_s")}
        summary[job] = {**median, "megapixels_per_s": megapixels / median["work_s"],
                        "megapixels_per_cpu_s": megapixels / median["work_cpu_s"],
                        "peak_rss_mb": float(max(r["peak_rss_mb"] for r in results))}

    def ratio(first: str, second: str, key: str) -> float:
        """The median over rounds of first/second, each round's pair taken side by side."""
        return float(np.median([a[key] / b[key] for a, b in zip(rounds[first], rounds[second])]))

    summary["speedup_vs_seed"] = ratio("seed_way", "cli_denoise", "work_s")
    summary["time_vs_network"] = ratio("cli_denoise", "network_alone", "work_s")
    summary["cpu_speedup_vs_seed"] = ratio("seed_way", "cli_denoise", "work_cpu_s")
    summary["cpu_vs_network"] = ratio("cli_denoise", "network_alone", "work_cpu_s")
    summary["process_speedup_vs_seed"] = ratio("seed_way", "cli_denoise", "process_wall_s")
    summary["difference"] = max_difference(out / "seed.tif", out / f"{stack_file.stem}_denoised.tif")
    shutil.rmtree(out, ignore_errors=True)
    return summary


def n2v_model(folder: Path, architecture: dict, stack_file: Path, work: Path) -> dict:
    """An n2v-native model with ``architecture`` (made once, reused by later runs): its mean and std."""
    config = folder / "config.json"
    if config.exists() and (folder / "weights_best.h5").exists():
        settings = json.loads(config.read_text())
        if [settings["unet_n_depth"], settings["unet_kern_size"], settings["unet_n_first"]] == list(architecture.values()):
            return {"mean": float(settings["means"][0]), "std": float(settings["stds"][0])}
        shutil.rmtree(folder)
    shape = tifffile.TiffFile(stack_file).series[0].shape[-2:]
    return run_job("make_model", {"input": str(stack_file), "model": str(folder), "plane_shape": list(shape), "steps": 5,
                                  **architecture}, work)


def _noisy_planes(count: int, shape: tuple[int, int]) -> Iterator[np.ndarray]:
    """``count`` noisy planes for a large stack: 32 distinct synthetic planes, rolled as they repeat."""
    base = make_stack(frames=1, slices=32, height=shape[0], width=shape[1], seed=5).noisy
    for number in range(count):
        yield np.roll(base[number % 32], number // 32, axis=1)


def large_stack(gigabytes: float, channels: int, shape: tuple[int, int], folder: Path) -> Path:
    """A TZ(C)YX ImageJ hyperstack of about ``gigabytes``, streamed to disk (uncompressed)."""
    plane_bytes = shape[0] * shape[1] * 2
    slices = 64
    frames = max(1, int(np.ceil(gigabytes * 1024**3 / plane_bytes / slices / channels)))
    target = folder / f"large_{gigabytes:g}gb_{channels}c.tif"
    axes, dims = ("TZCYX", (frames, slices, channels, *shape)) if channels > 1 else ("TZYX", (frames, slices, *shape))
    if not target.exists():
        print(f"writing {target} ({axes} {dims})", flush=True)
        write_planes(target, _noisy_planes(int(np.prod(dims[:-2])), shape), axes, dims, np.uint16, Calibration(),
                     overwrite=True)
    return target


def warm_session(files: int, model: str, work: Path) -> dict:
    """One CLI call over a folder of small stacks: model loads and network traces."""
    print("warm session", flush=True)
    small = work / "small"
    small.mkdir(exist_ok=True)
    for number in range(files):
        stack = make_stack(frames=2, slices=3, height=64, width=64, seed=100 + number)
        write_image(small / f"small_{number:02d}.tif", stack.noisy, stack.axes, overwrite=True)
    result = run_job("warm_session", {"input_dir": str(small), "model": model, "output_dir": str(work / "small_out")},
                     work)
    return {**result, "stacks": files}


def training_rates(steps: int, stack_file: Path, work: Path) -> dict:
    """Training steps per second of imagej-n2v and of n2v's own training, same settings."""
    print("training steps per second", flush=True)
    settings = {"patch_size": 64, "patches": 2000, "epochs": 3, "steps": steps, "batch_size": 16}
    training: dict = {"settings": settings}
    for job in ("train_ours", "train_n2v"):
        training[job] = run_job(job, {"input": str(stack_file), "plane_shape": [256, 256], "settings": settings,
                                      "model_dir": str(work / "models" / job)}, work)
    training["ours_vs_n2v"] = training["train_ours"]["steps_per_s"] / training["train_n2v"]["steps_per_s"]
    training["ours_vs_n2v_cpu"] = training["train_ours"]["steps_per_cpu_s"] / training["train_n2v"]["steps_per_cpu_s"]
    return training


def time_to_quality(epochs: int, steps: int, patches: int, work: Path) -> dict:
    """PSNR against time on the dome example: our training and n2v's own loop, n2v's default settings but
    ``epochs`` x ``steps`` and ``patches``, every epoch run (patience off); what each patience would have done."""
    from benchmarks.quality import with_patience

    print("time to quality", flush=True)
    settings = {"epochs": epochs, "steps": steps, "patches": patches}
    result: dict = {"settings": settings}
    for job in ("quality_ours", "quality_n2v"):
        folder = work / job
        shutil.rmtree(folder, ignore_errors=True)
        result[job] = run_job(job, {"work": str(folder), "settings": settings}, work)
        result[job]["patience"] = {str(p): with_patience(result[job]["epochs"], p) for p in PATIENCES if p < epochs}
        result[job]["patience"]["off"] = with_patience(result[job]["epochs"], epochs)
    return result


def precision_rates(steps: int, stack_file: Path, work: Path) -> dict:
    """Training steps per second of ``train_model`` in each precision this machine runs natively."""
    from imagej_n2v.models.precision import native_precisions

    print("training steps per second by precision", flush=True)
    rates: dict = {}
    for precision in native_precisions():
        settings = {"patch_size": 64, "patches": 2000, "epochs": 3, "steps": steps, "batch_size": 16,
                    "precision": precision}
        rates[precision] = {"settings": settings, **run_job(
            "train_ours", {"input": str(stack_file), "plane_shape": [256, 256], "settings": settings,
                           "model_dir": str(work / "models" / f"precision_{precision}")}, work)}
    return rates


def large_run(gigabytes: float, channels: int, model_stack: Path, work: Path) -> dict:
    """Peak RSS of ``imagej-n2v denoise`` and of training-data preparation on a large stack."""
    print("large stack", flush=True)
    large = large_stack(gigabytes, channels, (512, 512), work)
    tiny = TINY_NETWORK
    tiny_model = str(work / "models" / "tiny")
    n2v_model(Path(tiny_model), tiny, model_stack, work)
    denoised = run_job("cli_denoise", {"model": tiny_model, "input": str(large), "output_dir": str(work / "large_out"),
                                       "cli_options": ["--channels", "1"]}, work)
    output = work / "large_out" / f"{large.stem}_denoised.tif"
    output_ok = tifffile.TiffFile(output).series[0].shape == tifffile.TiffFile(large).series[0].shape
    output.unlink(missing_ok=True)
    patches = run_job("prepare_patches", {"input": str(large), "patch_size": 64, "patches": 10000}, work)
    return {"file": large.name, "size_gb": large.stat().st_size / 1024**3, "model": tiny,
            "shape": list(tifffile.TiffFile(large).series[0].shape),
            "denoise": denoised, "output_shape_matches": output_ok, "prepare_patches": patches}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results.md"), help="results file (.md; .json beside it)")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "imagej-n2v-bench"),
                        help="scratch folder for stacks, models and outputs (needs about 2x --large-gb free)")
    parser.add_argument("--frames", type=int, default=2, help="frames of the side-by-side stacks")
    parser.add_argument("--slices-512", type=int, default=3, help="slices per frame of the 512x512 stack")
    parser.add_argument("--slices-256", type=int, default=8, help="slices per frame of the 256x256 stack")
    parser.add_argument("--repeats", type=int, default=1, help="side-by-side rounds (the median is reported)")
    parser.add_argument("--batch-planes", type=int, default=4, help="planes per network call for (b) and (c), at most BATCH_PIXELS")
    parser.add_argument("--worker-rounds", type=int, default=3, help="warm N2V Denoise commands in ImageJ's worker mode")
    parser.add_argument("--worker-slices", type=int, default=10, help="slices per frame of the worker mode's 512x512 stack")
    parser.add_argument("--train-steps", type=int, default=10, help="training steps per epoch (3 epochs)")
    parser.add_argument("--quality-epochs", type=int, default=60, help="epochs of the time-to-quality runs")
    parser.add_argument("--quality-steps", type=int, default=10, help="steps per epoch of the time-to-quality runs")
    parser.add_argument("--quality-patches", type=int, default=2000,
                        help="patches of the time-to-quality runs (a tenth validates: validation costs each epoch)")
    parser.add_argument("--warm-files", type=int, default=20, help="small stacks in the warm-session check")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help="parts to run, of %(default)s; the others are kept from an earlier results .json")
    parser.add_argument("--large-gb", type=float, default=1.0, help="size of the large-stack run in GB (0: skip)")
    parser.add_argument("--large-channels", type=int, default=4,
                        help="channels of the large stack; only channel 1 is denoised, the others pass through "
                             "the same read-queue-write stream (a CPU takes hours to denoise every plane of 6 GB)")
    parser.add_argument("--tiling-side", type=int, default=4096, help="side of the plane denoised whole and in tiles")
    parser.add_argument("--tiling-tile", type=int, default=math.isqrt(TILE_PIXELS),
                        help="--tile-size of its tiled run (default: the largest automatic tile)")
    parser.add_argument("--large-side", type=int, default=20000,
                        help="side of the large plane of the tiling part (0: skip; 20000 needs 1.6 GB of disk)")
    options = parser.parse_args(argv)

    parts = [p.strip() for p in options.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown --parts {', '.join(sorted(unknown))}: choose from {', '.join(PARTS)}")
    work = Path(options.work)
    work.mkdir(parents=True, exist_ok=True)
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    earlier = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else {}
    results: dict = {**earlier, "machine": machine(), "load_at_start": os.getloadavg()}
    results.setdefault("settings", {}).update({part: vars(options).copy() for part in parts})
    results.setdefault("dates", {}).update({part: results["machine"]["date"] for part in parts})
    results.setdefault("cpus", {}).update({part: results["machine"]["cpu"] for part in parts})  # machines change
    print(f"machine: {results['machine']}", flush=True)

    stacks = {}
    for size, slices in ((512, options.slices_512), (256, options.slices_256)):
        stack = make_stack(frames=options.frames, slices=slices, height=size, width=size, seed=size)
        stacks[size] = write_image(work / f"bench_{size}.tif", stack.noisy, stack.axes, overwrite=True)
    architecture = {"depth": 2, "kernel": 5, "n_first": 32}  # n2v's defaults, as the seed trained
    model = {"folder": str(work / "models" / "n2v_native"), **architecture}
    model.update(n2v_model(Path(model["folder"]), architecture, stacks[256], work))
    results["model"] = {k: model[k] for k in ("depth", "kernel", "n_first", "mean", "std")}

    if "denoise" in parts:
        results["side_by_side"] = {f"{size}x{size}": side_by_side(f"{size}", stacks[size], (size, size), model, options,
                                                                  work) for size in (512, 256)}
    if "warm" in parts:
        results["warm_session"] = warm_session(options.warm_files, model["folder"], work)
    if "imagej" in parts:
        from benchmarks.imagej_worker import imagej_worker

        results["imagej_worker"] = imagej_worker(model, options.worker_rounds, options.batch_planes, options.frames,
                                                 options.worker_slices, work, run_job)
    if "training" in parts:
        results["training"] = training_rates(options.train_steps, stacks[256], work)
    if "quality" in parts:
        results["quality"] = {**time_to_quality(options.quality_epochs, options.quality_steps, options.quality_patches,
                                                work), "cpu": results["machine"]["cpu"]}
    if "precisions" in parts:
        results["precisions"] = {"rates": precision_rates(options.train_steps, stacks[256], work),
                                 "cpu": results["machine"]["cpu"]}
    if "large" in parts and options.large_gb > 0:
        results["large_stack"] = large_run(options.large_gb, options.large_channels, stacks[256], work)
    if "cluster" in parts:
        tiny = work / "models" / "tiny"
        n2v_model(tiny, TINY_NETWORK, stacks[256], work)
        results["cluster"] = cluster.run_part(model["folder"], str(tiny), work, options.repeats)
    if "tiling" in parts:
        tiny = work / "models" / "tiny"
        n2v_model(tiny, TINY_NETWORK, stacks[256], work)
        results["tiling"] = tiling.run_part(model["folder"], str(tiny), TINY_NETWORK, options.tiling_side, options.tiling_tile,
                                            options.large_side, options.repeats, work, run_job)
    results["load_at_end"] = os.getloadavg()

    out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    write_report(results, out)
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
