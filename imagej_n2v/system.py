"""What this machine offers: the installed stack, GPUs and the precisions it runs natively."""

from __future__ import annotations

import os
import platform
from pathlib import Path

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
    from .precision import CPU_BF16_FLAGS, cpu_flags, gpu_capabilities, native_precisions

    gpus = gpu_capabilities()
    lines.append("GPUs seen by TensorFlow: " + (
        ", ".join(f"{name} (compute capability {major}.{minor})" for name, (major, minor) in gpus)
        if gpus else "none (the CPU is used)"))
    bf16_flags = sorted(set(CPU_BF16_FLAGS) & cpu_flags())
    lines.append(f"CPU bf16 instructions: {', '.join(bf16_flags) if bf16_flags else 'none'}")
    native = native_precisions()
    lines.append(f"native precisions: {', '.join(native)}; --precision auto takes {native[0]}"
                 + ("" if native[0] != "fp32" else " (reduced precision would only be emulated here, slower)"))
    return lines


def _umask() -> int:
    try:
        for line in open("/proc/self/status"):
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it
    os.umask(mask)
    return mask


def share_like_plain_files(path: Path) -> None:
    """Give a finished temporary file or folder the permissions ``open``/``mkdir`` would have.

    Temporary names come from ``tempfile``, which makes them private (0600/0700) for safety;
    an output image or a model renamed from one would otherwise be unreadable to colleagues.
    """
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~_umask())
