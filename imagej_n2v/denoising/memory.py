"""How much memory one network call may take, and how much a call of so many pixels needs.

Whether a plane goes through the network whole or in tiles is decided from these two figures:
the network's activations grow with the pixels of a call (``network_bytes``), and the machine
has so much free (``memory_budget``): free RAM on a CPU, free memory of the first GPU where
TensorFlow sees one. Only part of it is taken, since the planes themselves, the output being
written and other programs need the rest.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass

log = logging.getLogger(__name__)

BYTES_PER_PIXEL_PER_FILTER = 24
"""Peak memory of one call of n2v's U-Net per input pixel and per filter of its first layer
(``unet_n_first``), float32 on a CPU. Measured with TensorFlow 2.15: 745, 743 and 737 bytes per
pixel for 512x512, 1024x1024 and 2048x2048 planes with the default 32 filters (23.3 per
filter); the 6000x6000 plane of issue 25 died at 17.5 GB, 490 per pixel, before its peak."""

BUDGET_SHARE = 0.5
"""Share of the free memory one network call may use."""


@dataclass(frozen=True)
class Budget:
    """Bytes one network call may use, and what was seen (for messages)."""

    bytes: int
    seen: str  # e.g. "9.8 GB of free RAM"


def size_text(count: float) -> str:
    """Bytes as a user reads them: 9.8 GB, 190 MB."""
    return f"{count / 1e9:.1f} GB" if count >= 1e8 else f"{count / 1e6:.0f} MB"


def network_bytes(pixels: int, first_filters: int) -> int:
    """Peak memory of one network call on ``pixels`` input pixels (see ``BYTES_PER_PIXEL_PER_FILTER``)."""
    return pixels * first_filters * BYTES_PER_PIXEL_PER_FILTER


def _free_ram() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def _free_gpu_memory() -> int | None:
    """Bytes of the first GPU TensorFlow sees that it does not hold yet, or None without a GPU.

    TensorFlow reserves most of a GPU when it first uses it and reports only its own use, so the
    device's total comes from ``nvidia-smi`` and TensorFlow's use is taken from it. Not run
    where TensorFlow sees no GPU (as in the test suite, on CPU-only machines).
    """
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        answer = subprocess.run([smi, "--query-gpu=memory.total", "--format=csv,noheader,nounits", "-i", "0"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
        total = int(float(answer.split()[0]) * 2**20)
        used = int(tf.config.experimental.get_memory_info("GPU:0")["current"])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError) as exc:
        log.debug("The GPU's memory could not be read (%s): the RAM budget is used.", exc)
        return None
    return max(total - used, 0)


def memory_budget() -> Budget:
    """What one network call may use now: a share of the free GPU memory, else of the free RAM."""
    gpu = _free_gpu_memory()
    if gpu is not None:
        return Budget(int(gpu * BUDGET_SHARE), f"{size_text(gpu)} of free GPU memory")
    ram = _free_ram()
    return Budget(int(ram * BUDGET_SHARE), f"{size_text(ram)} of free RAM")
