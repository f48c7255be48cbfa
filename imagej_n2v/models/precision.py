"""Compute precision: what the hardware runs natively, and building networks in it.

float32 is the default because it is exact and reproducible (equal to n2v's own results).
Reduced precision is a choice the user makes: Keras' mixed policies compute in bf16 or fp16
while the weights stay float32, so a model trained in any precision loads in any other (and
in n2v itself). The network's first and last convolutions stay in float32, so neither the
input nor the output (nor the training loss) is rounded to 8 or 11 significant bits;
normalisation and de-normalisation happen outside the network, in float32, anyway.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from ..errors import InputError

POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""CPU flags (Linux /proc/cpuinfo) of instructions that run bf16 matrix products natively."""


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux), empty where they cannot be read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def gpu_capabilities() -> list[tuple[str, tuple[int, int]]]:
    """(name, CUDA compute capability) of each GPU TensorFlow sees; (0, 0) where unknown."""
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        found.append((details.get("device_name", gpu.name), tuple(details.get("compute_capability", (0, 0)))))
    return found


@lru_cache(maxsize=1)
def native_precisions() -> tuple[str, ...]:
    """Precisions this machine runs natively, fastest first, always ending with fp32.

    TensorFlow uses the first GPU when there is one: bf16 and fp16 from compute capability 8
    (Ampere), fp16 from 7 (Volta). Without a GPU, bf16 needs avx512_bf16 or AMX on the CPU;
    elsewhere TensorFlow emulates bf16, slower than float32.
    """
    gpus = gpu_capabilities()
    if gpus:
        major = gpus[0][1][0]
        found = ["bf16", "fp16"] if major >= 8 else ["fp16"] if major >= 7 else []
    else:
        found = ["bf16"] if set(CPU_BF16_FLAGS) & cpu_flags() else []
    return (*found, "fp32")


def hardware_summary() -> str:
    """What the compute device offers for reduced precision, in words (errors, benchmark reports)."""
    gpus = gpu_capabilities()
    if gpus:
        name, (major, minor) = gpus[0]
        return f"GPU {name} with compute capability {major}.{minor}"
    flags = sorted(set(CPU_BF16_FLAGS) & cpu_flags())
    return f"a CPU with {' and '.join(flags)}, and no GPU" if flags else "a CPU without avx512_bf16 or AMX, and no GPU"


def resolve_precision(requested: str, allow_emulated: bool = False) -> str:
    """Turn "auto" into the fastest native precision; refuse one the hardware lacks.

    ``allow_emulated`` is for tests and benchmarks only (never a user option): it lets a
    reduced precision run where TensorFlow emulates it, to check its numbers, not its speed.
    """
    if requested not in (*POLICIES, "auto"):
        raise InputError(f"The precision '{requested}' is unknown: use fp32, bf16, fp16 or auto.")
    native = native_precisions()
    if requested == "auto":
        return native[0]
    if requested not in native and not allow_emulated:
        raise InputError(
            f"This machine cannot run {requested} natively ({hardware_summary()}; native: {', '.join(native)}): "
            f"choose precision {', '.join(native)} or auto."
        )
    return requested


def keep_ends_float32(network) -> None:
    """Compute the network's first and last convolutions (and what precedes or follows them) in float32.

    n2v builds its U-Net under the global Keras policy, so the output layer would compute and
    round its result in the reduced precision (and the training loss would round its targets to
    match), and the first layer would round the input. Both ends are a few percent of the work
    at most. Keras 2 sets a layer's policy at construction and has no public setter, hence the
    private one (Keras is pinned to 2.15). Weights are float32 under every mixed policy, so
    nothing changes on disk.
    """
    import tensorflow as tf

    convolutions = [i for i, layer in enumerate(network.layers) if isinstance(layer, (tf.keras.layers.Conv2D, tf.keras.layers.Conv3D))]
    for layer in network.layers[: convolutions[0] + 1] + network.layers[convolutions[-1]:]:
        layer._set_dtype_policy("float32")


@contextlib.contextmanager
def network_precision(precision: str, allow_emulated: bool = False) -> Iterator[str]:
    """Build networks under the Keras policy for ``precision``; restore the old policy after.

    Yields the resolved precision. Pass networks built inside through ``keep_ends_float32``
    (harmless in float32, so callers need not ask which precision they got).
    """
    import tensorflow as tf

    resolved = resolve_precision(precision, allow_emulated)
    mixed = tf.keras.mixed_precision
    previous = mixed.global_policy()
    mixed.set_global_policy(POLICIES[resolved])
    try:
        yield resolved
    finally:
        mixed.set_global_policy(previous)
