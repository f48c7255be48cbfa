"""Time to quality: PSNR against the clock while training on the dome example, ours and n2v's.

Each trainer keeps a copy of its weights whenever the validation loss improves (those are the
weights a stop at that moment keeps) with the wall and CPU seconds since the job began; after
training every copy denoises the dome stack and is scored against its clean signal. The same
curve gives what patience P would have done: the epoch it stops at and the best weights it
keeps, since stopping early does not change the epochs before the stop.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from imagej_n2v.data.synthetic import SyntheticStack, make_stack, psnr

STRIP = 10


def dome() -> SyntheticStack:
    """The demo's dome example (``make demo``): 3 frames x 6 slices of 128x128, zero strips of 10 columns."""
    return make_stack(frames=3, slices=6, height=128, width=128, strip=STRIP, brightness=(3000.0,), seed=7)


class Marks:
    """Seconds since the job began (wall and CPU) at each epoch, and the improving epochs' weights."""

    def __init__(self, snapshots: Path):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        self.snapshots = snapshots
        snapshots.mkdir(parents=True, exist_ok=True)
        self.epochs: list[dict] = []

    def epoch(self, val_loss: float, weights: Path, lr: float | None = None) -> None:
        best = min((e["val_loss"] for e in self.epochs), default=np.inf)
        number = len(self.epochs) + 1
        if val_loss < best:
            shutil.copy2(weights, self.snapshots / f"epoch_{number:04d}.h5")
        self.epochs.append({"epoch": number, "val_loss": float(val_loss), "wall_s": time.perf_counter() - self.wall,
                            "cpu_s": time.process_time() - self.cpu, "improved": bool(val_loss < best),
                            "lr": None if lr is None else float(lr)})


def _score(marks: Marks, denoise, clean: np.ndarray | None, kept: tuple) -> None:
    """PSNR of every kept snapshot's result, written into its epoch: against the clean signal where
    it is known (the dome), else against the result of the run's last kept weights, the nearest to
    a full run that the run has (``psnr_vs_last``; the last one scores infinity)."""
    results = {entry["epoch"]: denoise(marks.snapshots / f"epoch_{entry['epoch']:04d}.h5")
               for entry in marks.epochs if entry["improved"]}
    reference = clean if clean is not None else results[max(results)]
    for epoch, result in results.items():
        key = "psnr" if clean is not None else "psnr_vs_last"
        marks.epochs[epoch - 1][key] = psnr(reference[kept], result[kept]) if epoch != max(results) or clean is not None \
            else float("inf")


def _subject(args: dict) -> tuple[np.ndarray, str, np.ndarray | None, tuple]:
    """What a quality run trains on: the dome with its clean signal and kept columns, or one
    channel of a real image (``args["image"]``, ``args["channel"]`` 1-based), whose clean signal
    nobody knows."""
    if not args.get("image"):
        stack = dome()
        return stack.noisy, stack.axes, stack.clean, (Ellipsis, slice(STRIP, -STRIP))
    from imagej_n2v.data.tiff_io import read_image

    image = read_image(args["image"])
    data = np.asarray(image.stack.data)
    if "C" in image.axes:
        data = np.take(data, args.get("channel", 1) - 1, axis=image.axes.index("C"))
    return data, image.axes.replace("C", ""), None, (Ellipsis,)


def quality_ours(args: dict) -> dict:
    """``train_model`` on the dome or a real image, every epoch (patience off), snapshots scored by
    our Denoiser; ``args["time_limit"]`` ends a long run cleanly, as ``--time-limit`` does."""
    from imagej_n2v.config import TrainConfig
    from imagej_n2v.data.stack import PlaneStack
    from imagej_n2v.denoising.inference import Denoiser
    from imagej_n2v.models.folder import describe_model
    from imagej_n2v.training.train import train_model

    work = Path(args["work"])
    marks = Marks(work / "snapshots_ours")
    noisy, axes, clean, kept = _subject(args)
    settings = {"patience": args["settings"].get("epochs", TrainConfig().epochs), **args["settings"]}
    config = TrainConfig(**settings)  # every epoch runs unless the settings name a patience
    target = work / "ours"

    def on_epoch(epoch, epochs, logs, seconds):
        (staging,) = target.parent.glob(f".{target.name}.partial-*")
        marks.epoch(logs["val_loss"], staging / "weights_best.h5", lr=logs.get("lr"))
        print(f"epoch {epoch}/{epochs}: val_loss {logs['val_loss']:.5f} after {seconds:.0f} s", file=sys.stderr)  # stdout is silenced

    run = train_model([PlaneStack(noisy, axes)], target, config, overwrite=True, export=False, on_epoch=on_epoch)

    def denoise(weights: Path) -> np.ndarray:
        shutil.copy2(weights, target / "weights_best.h5")
        return Denoiser(describe_model(target)).denoise(noisy, axes, bit_depth=32)

    _score(marks, denoise, clean, kept)
    return {"epochs": marks.epochs, "settings": config.to_dict(),
            "ended": run.ending.text if run.ending else "after its last epoch",
            "noisy_psnr": psnr(clean[kept], noisy[kept]) if clean is not None else None}


def quality_n2v(args: dict) -> dict:
    """n2v's own loop (N2V_DataGenerator patches of the kept columns, N2V.train), scored by n2v's predict."""
    import tensorflow as tf
    from n2v.internals.N2V_DataGenerator import N2V_DataGenerator
    from n2v.models import N2V, N2VConfig

    from imagej_n2v.config import TrainConfig
    from imagej_n2v.training.train import n2v_settings

    work = Path(args["work"])
    marks = Marks(work / "snapshots_n2v")
    stack = dome()
    config = TrainConfig(**args["settings"], patience=args["settings"]["epochs"])  # every epoch runs
    planes = stack.noisy.reshape(-1, *stack.noisy.shape[-2:])[..., STRIP:-STRIP].astype(np.float32)
    with contextlib.redirect_stdout(io.StringIO()):
        patches = N2V_DataGenerator().generate_patches_from_list([p[np.newaxis, ..., np.newaxis] for p in planes],
                                                                  shape=(config.patch_size,) * 2)
    n_val = max(1, int(round(len(patches) * config.val_fraction)))
    folder = work / "n2v_own"

    class Snapshot(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            marks.epoch(logs["val_loss"], folder / "weights_best.h5")

    tf.keras.utils.set_random_seed(config.seed)
    tf.keras.utils.disable_interactive_logging()
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.redirect_stdout(io.StringIO()):
        model = N2V(N2VConfig(patches[n_val:], **n2v_settings(config)), name=folder.name, basedir=str(work))
        model.prepare_for_training()
        model.callbacks.append(Snapshot())
        model.train(patches[n_val:], patches[:n_val])

    def denoise(weights: Path) -> np.ndarray:
        model.keras_model.load_weights(str(weights))
        planes = stack.noisy.reshape(-1, *stack.noisy.shape[-2:]).astype(np.float32)
        with contextlib.redirect_stdout(io.StringIO()):
            return np.stack([model.predict(p, axes="YX") for p in planes]).reshape(stack.noisy.shape)

    _score(marks, denoise, stack.clean, (Ellipsis, slice(STRIP, -STRIP)))
    return {"epochs": marks.epochs, "patches": int(len(patches)), "noisy_psnr": _noisy_psnr(stack)}


def _noisy_psnr(stack: SyntheticStack) -> float:
    kept = (Ellipsis, slice(STRIP, -STRIP))
    return psnr(stack.clean[kept], stack.noisy[kept])


def with_patience(epochs: list[dict], patience: int) -> dict:
    """What ``--patience`` would have done on this curve: its last epoch and the best one it keeps."""
    best, best_epoch = np.inf, None
    for entry in epochs:
        if entry["val_loss"] < best:
            best, best_epoch = entry["val_loss"], entry
        elif entry["epoch"] - best_epoch["epoch"] >= patience:
            return {"stopped_at": entry["epoch"], "wall_s": entry["wall_s"], "cpu_s": entry["cpu_s"],
                    **_kept(best_epoch)}
    last = epochs[-1]
    return {"stopped_at": None, "wall_s": last["wall_s"], "cpu_s": last["cpu_s"], **_kept(best_epoch)}


def _kept(entry: dict) -> dict:
    """The figures of the epoch whose weights a stop keeps."""
    return {"best_epoch": entry["epoch"], "val_loss": entry["val_loss"], "psnr": entry.get("psnr"),
            "psnr_vs_last": entry.get("psnr_vs_last")}
