"""The Python API: the same verbs as the command line, on arrays instead of files.

The exception is ``denoise_files``: on a cluster the workers read the files themselves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .config import DenoiseConfig, TrainConfig
from .data.stack import PlaneStack, gather

if TYPE_CHECKING:
    from .training.train import EpochCallback


def denoise(
    array: np.ndarray,
    axes: str,
    model: str | os.PathLike,
    config: DenoiseConfig | None = None,
    **options,
) -> np.ndarray:
    """Denoise every plane of ``array`` with an N2V model; the result has the same axes.

    Parameters
    ----------
    array
        The image, any of YX, ZYX, TZYX, ... with or without C, in any order.
    axes
        One letter per dimension of ``array``.
    model
        An n2v model folder or a bioimage.io zip exported by n2v.
    config, options
        A ``DenoiseConfig``, or its fields as keywords (``bit_depth=32``, ``frames="1-3"``).
        Frames not chosen are left out; channels not chosen are copied unchanged.
    """
    from .denoising.commands import denoise_stack
    from .denoising.inference import load_denoiser

    config = config or DenoiseConfig(**options)
    stack = PlaneStack(array, axes)
    result = denoise_stack(load_denoiser(model, config.precision), stack, config)
    return gather(result.planes, stack, result.frames, result.dtype)


def denoise_files(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    model: str | os.PathLike,
    cluster,
    output: str | os.PathLike | None = None,
    axes: str | None = None,
    overwrite: bool = False,
    config: DenoiseConfig | None = None,
    task_planes: int | None = None,
    **options,
) -> list[Path]:
    """Denoise TIFF files, or folders of them, on a Dask cluster; returns the output files.

    The outputs are those of ``imagej-n2v denoise``: ``<stem>_denoised.tif`` beside each input
    or in ``output``, byte for byte as a single process writes them.

    Parameters
    ----------
    cluster
        A ``dask.distributed.Client``, a scheduler address (``"tcp://host:8786"``), or a number
        of worker processes to start on this machine. Workers must see the inputs and the
        model at the same paths (a shared file system) and run the same imagej-n2v.
    task_planes
        Planes per unit of work (default: 64 MB of float32 planes); small files go whole.
    config, options
        A ``DenoiseConfig``, or its fields as keywords, as for ``denoise``.
    """
    from .cluster.distributed import denoise_files as on_cluster

    config = config or DenoiseConfig(**options)
    inputs = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    return on_cluster(inputs, model, cluster, config, axes, output, overwrite, task_planes)


def train(
    arrays: np.ndarray | Sequence[np.ndarray],
    axes: str | Sequence[str],
    model_folder: str | os.PathLike,
    config: TrainConfig | None = None,
    overwrite: bool = False,
    resume: bool = False,
    on_epoch: EpochCallback | None = None,
    **options,
) -> Path:
    """Train a 2D N2V model on every plane of one or more arrays (with ``three_d=True`` a 3D model on
    every ZYX volume); returns the model folder.

    ``axes`` is one string for all arrays or one per array. ``config`` or keyword options
    (``epochs=10``, ``patch_size=32``, ``time_limit="30m"``, ``patience=10``,
    ``struct_mask="rows"``, ...) set the training; see ``TrainConfig``.
    ``resume=True`` continues an interrupted training of ``model_folder`` (with the same
    arrays); Ctrl-C raises ``errors.Interrupted`` after keeping the model so far.
    ``on_epoch(epoch, epochs, logs, seconds)`` is called after every epoch; its ``logs`` carry
    the losses and the estimate of the rest (``stopping.describe_remaining`` puts it in words).
    """
    from .training.train import train_model

    config = config or TrainConfig(**options)
    if isinstance(arrays, np.ndarray):
        arrays = [arrays]
    axes_list = [axes] * len(arrays) if isinstance(axes, str) else list(axes)
    stacks = [PlaneStack(a, ax) for a, ax in zip(arrays, axes_list)]
    return train_model(stacks, model_folder, config, overwrite=overwrite, resume=resume, on_epoch=on_epoch).model_folder
