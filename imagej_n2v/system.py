"""What this machine offers: the installed stack, GPUs and the precisions it runs natively."""

from __future__ import annotations

import platform

from .errors import DependencyError


def system_lines() -> list[str]:
    """Lines for ``imagej-n2v info --system``."""
    from .versions import check_environment

    lines = [f"python {platform.python_version()} on {platform.machine()} ({platform.platform()})"]
    try:
        versions = check_environment()
        lines.append("tested stack: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    except DependencyError as exc:
        lines.append(f"tested stack: NOT OK: {exc}")
        return lines
    import tensorflow as tf

    from .precision import cpu_flags, native_precisions

    gpus = tf.config.list_physical_devices("GPU")
    lines.append(f"GPUs seen by TensorFlow: {', '.join(g.name for g in gpus) if gpus else 'none (the CPU is used)'}")
    bf16_flags = sorted({"avx512_bf16", "amx_bf16"} & cpu_flags())
    lines.append(f"CPU bf16 instructions: {', '.join(bf16_flags) if bf16_flags else 'none'}")
    native = native_precisions()
    lines.append(f"native precisions: {', '.join(native)}; --precision auto takes {native[0]}")
    return lines
