"""The measured jobs, one per fresh process, so each peak RSS belongs to one method alone.

``python -m benchmarks.workers JOB ARGS.json RESULT.json`` runs one job and writes its
figures as JSON. ``work_s`` is the time from a loaded model to the finished output (the part
the methods differ in); the parent adds the process's wall time and peak RSS.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM where Linux has it, as ``ru_maxrss`` would
    report the parent's size at fork when that was larger."""
    try:
        status = Path("/proc/self/status").read_text()
        return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    """Wall and CPU seconds (all threads of this process) since creation.

    On a shared machine wall time depends on what else runs; CPU time is the work a method
    itself costs, so ratios of CPU times are the steadier comparison."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> dict:
        return {"work_s": time.perf_counter() - self.wall, "work_cpu_s": time.process_time() - self.cpu}


def _n2v_model(folder: str):
    """The model loaded as the seed loads it: ``N2V(config=None, name, basedir)``."""
    from n2v.models import N2V

    path = Path(folder)
    with contextlib.redirect_stdout(io.StringIO()):
        return N2V(config=None, name=path.name, basedir=str(path.parent))


def seed_way(args: dict) -> dict:
    """(a) The seed notebook: whole stack in memory, ``predict`` per 2D slice, 32-bit TIFF out."""
    import tifffile

    model = _n2v_model(args["model"])
    clock = Clock()
    image = tifffile.imread(args["input"]).reshape(args["tzyx"])
    denoised = []
    with contextlib.redirect_stdout(io.StringIO()):  # predict prints a cast notice per slice
        for frame in image:
            denoised.append([model.predict(plane, axes="YX") for plane in frame])
    result = np.array(denoised, dtype=np.float32)
    tifffile.imwrite(args["output"], result, imagej=True, metadata={"axes": "TZYX"})
    return clock.read()


def cli_denoise(args: dict) -> dict:
    """(b) ``imagej-n2v denoise`` through the CLI's own code path; the model is loaded first."""
    from imagej_n2v.cli import main
    from imagej_n2v.denoising.inference import load_denoiser

    load_denoiser(args["model"])  # the CLI call below finds it warm, so work_s excludes loading
    clock = Clock()
    code = main(["--quiet", "denoise", args["input"], "--model", args["model"], "--output", args["output_dir"],
                 "--overwrite", *args.get("cli_options", [])])
    if code != 0:
        raise SystemExit(f"imagej-n2v denoise failed with exit status {code}")
    return clock.read()


def network_alone(args: dict) -> dict:
    """(c) The limit: the network on pre-normalised, pre-padded batches, nothing around it."""
    import tensorflow as tf
    import tifffile

    model = _n2v_model(args["model"]).keras_model
    mean, std = args["mean"], args["std"]
    planes = tifffile.imread(args["input"]).reshape(-1, *args["plane_shape"])
    div = 2 ** args["depth"]
    pad = [(0, 0)] + [((-s) % div // 2, (-s) % div - (-s) % div // 2) for s in planes.shape[1:]] + [(0, 0)]
    batches = [np.pad((planes[i : i + args["batch"], ..., np.newaxis].astype(np.float32) - mean) / std, pad, mode="reflect")
               for i in range(0, len(planes), args["batch"])]
    network = tf.function(lambda x: model(x, training=False),
                          input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32)])
    clock = Clock()
    for batch in batches:
        network(batch).numpy()
    return clock.read()


def prepare_patches(args: dict) -> dict:
    """Training-data preparation only: survey every plane, draw and cut the patches."""
    from imagej_n2v.data.tiff_io import read_image
    from imagej_n2v.training.patches import sample_patches

    stack = read_image(args["input"]).stack
    before = _peak_rss_mb()
    clock = Clock()
    patches = sample_patches([stack], args["patch_size"], args["patches"], 0.1, seed=0)
    return {**clock.read(), "rss_before_mb": before,
            "patches": int(len(patches.train) + len(patches.validation)), "planes": patches.planes_used,
            "patch_mb": (patches.train.nbytes + patches.validation.nbytes) / 1024**2}


def _epoch_rate(seconds: list[float], cpu_marks: list[float], steps: int) -> dict:
    """Steps per second (wall and CPU) from the epochs after the first (the first includes tracing).

    ``cpu_marks`` holds the process's CPU time at the start and at the end of every epoch."""
    steady = seconds[1:] or seconds
    cpu = list(np.diff(cpu_marks))
    steady_cpu = cpu[1:] or cpu
    return {"epoch_s": seconds, "epoch_cpu_s": cpu, "steps_per_s": steps / float(np.median(steady)),
            "steps_per_cpu_s": steps / float(np.median(steady_cpu))}


def train_ours(args: dict) -> dict:
    """Training steps per second of ``imagej_n2v.training.train_model``."""
    from imagej_n2v.config import TrainConfig
    from imagej_n2v.data.tiff_io import read_image
    from imagej_n2v.training.train import train_model

    seconds: list[float] = []
    cpu_marks: list[float] = []
    config = TrainConfig(**args["settings"])

    def on_epoch(epoch, epochs, logs, s):
        seconds.append(s)
        cpu_marks.append(time.process_time())

    def on_survey(done, total):  # the last survey call comes just before training starts
        cpu_marks[:] = [time.process_time()]

    train_model([read_image(args["input"]).stack], args["model_dir"], config, overwrite=True, export=False,
                on_epoch=on_epoch, on_survey=on_survey)
    return _epoch_rate(seconds, cpu_marks, config.steps)


def train_n2v(args: dict) -> dict:
    """n2v's own training with the same settings: N2V_DataGenerator patches, N2VConfig, N2V.train."""
    import tensorflow as tf
    import tifffile
    from n2v.internals.N2V_DataGenerator import N2V_DataGenerator
    from n2v.models import N2V, N2VConfig

    from imagej_n2v.config import TrainConfig
    from imagej_n2v.training.train import n2v_settings

    config = TrainConfig(**args["settings"])
    planes = tifffile.imread(args["input"]).reshape(-1, *args["plane_shape"]).astype(np.float32)
    with contextlib.redirect_stdout(io.StringIO()):
        patches = N2V_DataGenerator().generate_patches_from_list(
            [p[np.newaxis, ..., np.newaxis] for p in planes], shape=(config.patch_size,) * 2, augment=False)
    rng = np.random.default_rng(config.seed)
    patches = patches[rng.permutation(len(patches))[: config.patches]]
    n_val = int(round(len(patches) * config.val_fraction))
    seconds: list[float] = []
    cpu_marks: list[float] = []

    class Timer(tf.keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            cpu_marks.append(time.process_time())

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.monotonic() - self.started)
            cpu_marks.append(time.process_time())

    tf.keras.utils.set_random_seed(config.seed)
    tf.keras.utils.disable_interactive_logging()
    with contextlib.redirect_stdout(io.StringIO()):
        model = N2V(N2VConfig(patches[n_val:], **n2v_settings(config)), name="n2v_own", basedir=args["model_dir"])
        model.prepare_for_training()
        model.callbacks.append(Timer())
        model.train(patches[n_val:], patches[:n_val])
    return _epoch_rate(seconds, cpu_marks, config.steps)


def warm_session(args: dict) -> dict:
    """One CLI call over a folder of stacks: how often the model is loaded and traced."""
    from imagej_n2v.cli import main
    from imagej_n2v.denoising import inference

    clock = Clock()
    code = main(["--quiet", "denoise", args["input_dir"], "--model", args["model"], "--output", args["output_dir"],
                 "--overwrite"])
    elapsed = clock.read()
    denoiser = inference.load_denoiser(args["model"])
    return {"exit_status": code, **elapsed, "files": len(list(Path(args["output_dir"]).glob("*.tif"))),
            "model_loads": inference._cached_denoiser.cache_info().misses,
            "network_traces": int(denoiser._network.experimental_get_tracing_count())}


def make_model(args: dict) -> dict:
    """Not measured: a model written by n2v itself (global mean/std), as the seed would have one.

    A few training steps only: speed depends on the architecture, not on how well it is trained.
    """
    import tensorflow as tf
    import tifffile
    from n2v.internals.N2V_DataGenerator import N2V_DataGenerator
    from n2v.models import N2V, N2VConfig

    tf.keras.utils.set_random_seed(0)
    planes = tifffile.imread(args["input"]).reshape(-1, *args["plane_shape"]).astype(np.float32)
    folder = Path(args["model"])
    with contextlib.redirect_stdout(io.StringIO()):
        patches = N2V_DataGenerator().generate_patches_from_list(
            [p[np.newaxis, ..., np.newaxis] for p in planes[:4]], shape=(64, 64), augment=False)
        config = N2VConfig(patches, unet_n_depth=args["depth"], unet_kern_size=args["kernel"],
                           unet_n_first=args["n_first"], train_steps_per_epoch=args["steps"], train_epochs=1,
                           train_batch_size=16, n2v_patch_shape=(64, 64), train_tensorboard=False)
        N2V(config, folder.name, basedir=str(folder.parent)).train(patches[8:], patches[:8])
    return {"mean": float(config.means[0]), "std": float(config.stds[0])}


from benchmarks.quality import quality_n2v, quality_ours  # noqa: E402  (jobs of their own module)

JOBS = {f.__name__: f for f in (seed_way, cli_denoise, network_alone, prepare_patches, train_ours, train_n2v,
                                warm_session, make_model, quality_ours, quality_n2v)}

if __name__ == "__main__":
    job, args_file, result_file = sys.argv[1:4]
    result = JOBS[job](json.loads(Path(args_file).read_text()))
    result["peak_rss_self_mb"] = _peak_rss_mb()
    Path(result_file).write_text(json.dumps(result))
