"""What ``imagej-n2v info`` says: lines of text about a model, an image, or this machine.

The text is made here, from what the model, TIFF and system modules find, so those modules
hold data and no wording for the terminal.
"""

from __future__ import annotations

import platform

from .data.output_types import output_dtype
from .data.tiff_io import TiffImage, carried
from .errors import DependencyError
from .models.folder import PER_PLANE, ModelDescription


def model_lines(description: ModelDescription) -> list[str]:
    """What a model folder or archive says about itself: kind, normalisation, network, training, data, losses."""
    config, meta = description.config, description.metadata
    lines = [
        f"model: {description.source or description.folder}",
        f"kind: {'imagej-n2v' if meta else 'n2v (native)'} {'N2V2' if config.get('blurpool') else 'N2V'} model, axes {description.axes}, "
        f"{description.n_channels} channel(s) in",
        f"normalisation: {'each plane by its own robust mean and std' if description.normalization == PER_PLANE else f'global mean {description.global_mean:.4g}, std {description.global_std:.4g} (n2v)'}",
        f"network: U-Net depth {config.get('unet_n_depth')}, kernel {config.get('unet_kern_size')}, first layer {config.get('unet_n_first')} filters",
        f"patch size: {'x'.join(str(p) for p in config.get('n2v_patch_shape', []))}",
    ]
    if meta:
        settings = meta.get("training", {})
        channels = settings.get("channels")
        lines.append(f"channels trained: {', '.join(map(str, channels)) if channels else 'all'}")
        lines.append(
            f"training: {settings.get('epochs')} epochs x {settings.get('steps')} steps, batch {settings.get('batch_size')}, "
            f"learning rate {settings.get('learning_rate')}, seed {settings.get('seed')}, precision {settings.get('precision', 'fp32')}"
        )
        data = meta.get("data", {})
        if data:
            lines.append(
                f"data: {data.get('train_patches')} training + {data.get('validation_patches')} validation patches "
                f"from {data.get('planes_used')} planes"
            )
        final = meta.get("final_losses")
        if final:
            lines.append(f"final loss {final.get('loss'):.4g}, validation loss {final.get('val_loss'):.4g}")
        ended = meta.get("ended")
        if ended:
            lines.append(f"ended: after epoch {ended.get('epochs_done')} of {settings.get('epochs')}, because {ended.get('text')} "
                         f"({ended.get('reason')}); best epoch {ended.get('best_epoch')} kept")
        quality = meta.get("quality")
        if quality:
            kept = f" (epoch {quality['kept_epoch']}, the one kept)" if quality.get("kept_epoch") else ""
            lines.append(f"quality{kept}: {quality.get('warning') or quality.get('sentence') or 'no verdict: ' + quality.get('skipped', '')}")
        if settings.get("struct_mask"):
            lines.append(f"structN2V mask: {settings['struct_mask']}")
        if meta.get("incomplete"):
            lines.append("status: INCOMPLETE (training was interrupted; resume with --resume)")
    return lines


def image_lines(image: TiffImage) -> list[str]:
    """An image's axes, shape, type and calibration, whether ImageJ wrote it, and what its output gets."""
    cal, stack = image.calibration, image.stack
    return [
        f"image: {image.path}",
        f"axes: {image.axes}  shape: {stack.shape}  type: {stack.dtype}"
        f"  ({stack.frames} frames, {stack.slices} slices, {stack.channels} channels of {stack.height}x{stack.width})",
        f"pixel size: {cal.pixel_width:g} x {cal.pixel_height:g} {cal.unit}"
        + (f", z spacing {cal.z_spacing:g}" if cal.z_spacing is not None else "")
        + (f", frame interval {cal.frame_interval:g}" if cal.frame_interval is not None else ""),
        f"ImageJ hyperstack: {'yes' if image.is_imagej else 'no'}",
        f"denoised with the default bit depth: {output_dtype(stack.dtype)}",
        f"also written to the output: {', '.join(carried(cal)) or 'nothing more'}",
    ]


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
    from .models.precision import (
        CPU_BF16_FLAGS,
        cpu_flags,
        gpu_capabilities,
        native_precisions,
    )

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
