"""Compute precision: what the hardware runs natively, and building networks in it.

float32 is the default because it is exact and reproducible (equal to n2v's own results).
Reduced precision is a choice the user makes: Keras' mixed policies compute in bf16 or fp16
while the weights stay float32, so a model trained in any precision loads in any other.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from .errors import InputError

POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


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


@lru_cache(maxsize=1)
def native_precisions() -> tuple[str, ...]:
    """Precisions this machine runs natively, fastest first, always ending with fp32."""
    import tensorflow as tf

    found: list[str] = []
    for gpu in tf.config.list_physical_devices("GPU"):
        major, _minor = tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
        if major >= 8:
            found += ["bf16", "fp16"]
        elif major >= 7:
            found += ["fp16"]
        break
    if not found and ({"avx512_bf16", "amx_bf16"} & cpu_flags()):
        found.append("bf16")
    return tuple(dict.fromkeys(found + ["fp32"]))


def resolve_precision(requested: str) -> str:
    """Turn "auto" into the fastest native precision; refuse one the hardware lacks."""
    if requested not in (*POLICIES, "auto"):
        raise InputError(f"The precision '{requested}' is unknown: use fp32, bf16, fp16 or auto.")
    native = native_precisions()
    if requested == "auto":
        return native[0]
    if requested not in native:
        raise InputError(
            f"This machine cannot run {requested} natively (it supports {', '.join(native)}): "
            f"use --precision fp32 or auto."
        )
    return requested


@contextlib.contextmanager
def network_precision(precision: str) -> Iterator[None]:
    """Build networks under the Keras policy for ``precision``; restore the old policy after."""
    import tensorflow as tf

    mixed = tf.keras.mixed_precision
    previous = mixed.global_policy()
    mixed.set_global_policy(POLICIES[resolve_precision(precision)])
    try:
        yield
    finally:
        mixed.set_global_policy(previous)
