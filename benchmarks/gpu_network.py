"""GPU speed of n2v's default U-Net in fp32, bf16 and fp16, measured in PyTorch as a proxy (issue #15).

The lent GPU machine cannot run our TensorFlow stack (no network, 64 MiB uploads, Python 3.12 for
which TF 2.15 has no wheels, TF 2.16+ breaks n2v, CUDA 13), but it has PyTorch. So this script
rebuilds exactly the network n2v 0.3.3 trains with its default ``N2VConfig`` for 2D single-channel
data and times it there: the figures are a proxy for what the GPU does with this network, not
measurements of imagej_n2v. It imports only torch, numpy and the standard library.

    python3 benchmarks/gpu_network.py --out DIR              # full run, CUDA, about 2 minutes
    python3 benchmarks/gpu_network.py --device cpu --quick --out DIR   # smoke test of every path
    python3 benchmarks/gpu_network.py --check-params         # parameter count against Keras

Training steps are n2v's: batches of 16 patches of 64x64, Adam (lr 0.0004, Keras' eps), loss the
MSE over the masked pixels only (1.5 %, one per 8x8 box as n2v's stratified sampling, each
replaced by a uniform pick from its 11x11 neighbourhood, itself included: 'uniform_withCP').
Masking runs on the device from a pool of patches already there, so the data pipeline does not
dominate. Denoising times one 512x512 plane and a batch of 4: the network alone on device data,
and a user's call (uint16 numpy in, normalised, to the device, network, float32 numpy out).
Each figure is the median of timed blocks after a warm-up (cuDNN autotuning, with
``cudnn.benchmark`` on); both memory layouts are timed, and a user's call uses the faster. As our
Keras mixed policy does (``keep_ends_float32``), the first and last convolutions run in float32.
Two ways PyTorch eager differs from a Keras graph: every kernel is launched from Python, and fp16's
GradScaler reads its overflow flag on the host each step; at this network's size both can cost.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# model.keras_model.count_params() of N2V(N2VConfig(X)) with n2v 0.3.3 / TF 2.15.1, X of shape
# (2, 64, 64, 1), all defaults: the BatchNorm moving means and variances are the non-trainable part.
KERAS_PARAMS = {"trainable": 795_969, "non_trainable": 1_024}
PATCH, BATCH, LEARNING_RATE, PERC_PIX, RADIUS = 64, 16, 4e-4, 1.5, 5
MEAN, STD = 1000.0, 150.0  # normalisation of the synthetic uint16 planes, as n2v's training statistics


class ConvBlock(nn.Sequential):
    """csbdeep's conv_block2 with batch_norm: convolution ('same', with bias), BatchNormalization, ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int):
        conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)
        nn.init.xavier_uniform_(conv.weight)  # Keras' glorot_uniform and zero bias
        nn.init.zeros_(conv.bias)
        super().__init__(conv, nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.01), nn.ReLU(inplace=True))


class Float32(nn.Module):
    """Runs a layer in float32 under autocast, as imagej_n2v keeps the network's ends float32."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return self.layer(x.float())


class N2VUNet(nn.Module):
    """n2v's ``unet_block`` + 1x1 output convolution, with its default (not residual, linear output).

    Layer for layer as n2v 0.3.3 builds it, including its quirk that the first convolution of every
    upward level has ``first`` filters whatever the level.
    """

    def __init__(self, depth: int = 2, kernel: int = 5, first: int = 32, convs: int = 2):
        super().__init__()
        self.down = nn.ModuleList()
        c = 1
        for n in range(depth):
            blocks = []
            for _ in range(convs):
                blocks.append(ConvBlock(c, first * 2**n, kernel))
                c = first * 2**n
            self.down.append(nn.Sequential(*blocks))
        self.down[0][0][0] = Float32(self.down[0][0][0])
        middle = []
        for _ in range(convs - 1):
            middle.append(ConvBlock(c, first * 2**depth, kernel))
            c = first * 2**depth
        middle.append(ConvBlock(c, first * 2 ** max(0, depth - 1), kernel))
        self.middle = nn.Sequential(*middle)
        c = first * 2 ** max(0, depth - 1)
        self.up = nn.ModuleList()
        for n in reversed(range(depth)):
            c += first * 2**n  # concatenated skip connection
            blocks = []
            for _ in range(convs - 1):
                blocks.append(ConvBlock(c, first, kernel))
                c = first
            blocks.append(ConvBlock(c, first * 2 ** max(0, n - 1), kernel))
            c = first * 2 ** max(0, n - 1)
            self.up.append(nn.Sequential(*blocks))
        final = nn.Conv2d(c, 1, 1)
        nn.init.xavier_uniform_(final.weight)
        nn.init.zeros_(final.bias)
        self.final = Float32(final)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level in self.down:
            x = level(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.middle(x)
        for level, skip in zip(self.up, reversed(skips)):
            x = level(torch.cat([F.interpolate(x, scale_factor=2, mode="nearest"), skip], dim=1))
        return self.final(x)


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Counts in Keras' terms: BatchNorm running mean and variance are its non-trainable weights."""
    running = sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
    return {"trainable": sum(p.numel() for p in model.parameters() if p.requires_grad), "non_trainable": running}


@dataclass(frozen=True)
class Precision:
    name: str
    autocast: torch.dtype | None
    tf32: bool  # TensorFlow allows TF32 by default on Ampere and later, PyTorch for convolutions
    scaler: bool  # fp16 needs loss scaling, as Keras' LossScaleOptimizer under mixed_float16


PRECISIONS = [
    Precision("fp32", None, True, False),
    Precision("fp32 (no TF32)", None, False, False),
    Precision("bf16", torch.bfloat16, True, False),
    Precision("fp16", torch.float16, True, True),
]
LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def autocast(device: torch.device, precision: Precision) -> contextlib.AbstractContextManager:
    if precision.autocast is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=precision.autocast)


def mask_batch(patches: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n2v's manipulation on the device: one pixel per box of side round(sqrt(100 / perc_pix)),
    replaced by a uniform pick from the (border-cropped) neighbourhood of radius 5, itself included.
    Returns the network input and the mask."""
    b, _, h, w = patches.shape
    box = round(math.sqrt(100 / PERC_PIX))
    assert h % box == 0 and w % box == 0, "patch side must be a multiple of the box side"
    device = patches.device
    grid_y, grid_x = torch.meshgrid(torch.arange(0, h, box, device=device), torch.arange(0, w, box, device=device), indexing="ij")
    shape = (b,) + grid_y.shape

    def pick(start: torch.Tensor, side: int) -> tuple[torch.Tensor, torch.Tensor]:
        at = start + torch.randint(0, box, shape, device=device, generator=generator)
        low, high = (at - RADIUS).clamp(min=0), (at + RADIUS).clamp(max=side - 1)
        return at, low + (torch.rand(shape, device=device, generator=generator) * (high - low + 1)).long()

    y, from_y = pick(grid_y, h)
    x, from_x = pick(grid_x, w)
    n = torch.arange(b, device=device).view(b, 1, 1).expand(shape)
    inputs = patches.clone()
    inputs[n, 0, y, x] = patches[n, 0, from_y, from_x]
    mask = torch.zeros_like(patches)
    mask[n, 0, y, x] = 1
    return inputs, mask


def synthetic_planes(count: int, side: int, seed: int = 0) -> np.ndarray:
    """uint16 planes of smooth structure plus noise: the content does not change the speed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side] / side
    planes = [MEAN + 300 * np.sin(2 * np.pi * (3 + i) * xx) * np.cos(2 * np.pi * 2 * yy) for i in range(count)]
    return np.clip(np.stack(planes) + rng.normal(0, STD, (count, side, side)), 0, 65535).astype(np.uint16)


def per_call_seconds(fn: Callable[[], object], device: torch.device, warmup_s: float, blocks: int, block_s: float) -> list[float]:
    """Seconds per call of ``fn``, one value per timed block. The first call (cuDNN autotuning) and
    ``warmup_s`` more are not timed; the warm-up's pace sizes the blocks to about ``block_s``."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fn()
    sync()
    calls, start = 0, time.perf_counter()
    while calls == 0 or time.perf_counter() - start < warmup_s:
        fn()
        sync()
        calls += 1
    per_block = max(1, round(block_s / ((time.perf_counter() - start) / calls)))
    seconds = []
    for _ in range(blocks):
        sync()
        start = time.perf_counter()
        for _ in range(per_block):
            fn()
        sync()
        seconds.append((time.perf_counter() - start) / per_block)
    return seconds


def set_tf32(precision: Precision) -> None:
    torch.backends.cuda.matmul.allow_tf32 = precision.tf32
    torch.backends.cudnn.allow_tf32 = precision.tf32


def train_row(precision: Precision, layout: str, device: torch.device, timing: dict) -> dict:
    """Training steps per second of a fresh network, on device-resident patches masked on the device."""
    set_tf32(precision)
    torch.manual_seed(0)
    memory = LAYOUTS[layout]
    model = N2VUNet().to(device, memory_format=memory).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=1e-7)
    scaler = torch.amp.GradScaler(device.type, enabled=precision.scaler)
    generator = torch.Generator(device).manual_seed(0)
    pool = torch.from_numpy((synthetic_planes(16, 256).astype(np.float32) - MEAN) / STD).to(device)
    pool = pool.unfold(1, PATCH, PATCH).unfold(2, PATCH, PATCH).reshape(-1, 1, PATCH, PATCH).contiguous()
    last = {}

    def step() -> None:
        patches = pool[torch.randint(0, len(pool), (BATCH,), device=device, generator=generator)]
        inputs, mask = mask_batch(patches, generator)
        with autocast(device, precision):
            prediction = model(inputs.contiguous(memory_format=memory))
        loss = (((patches - prediction.float()) * mask) ** 2).sum() / mask.sum()
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        last["loss"] = loss.detach()

    seconds = per_call_seconds(step, device, **timing)
    rates = [1 / s for s in seconds]
    return {"precision": precision.name, "layout": layout, "steps_per_s": statistics.median(rates),
            "min": min(rates), "max": max(rates), "blocks": len(rates), "final_loss": float(last["loss"])}


def denoise_rows(precision: Precision, layout: str, batch: int, side: int, device: torch.device, timing: dict) -> tuple[dict, Callable[[], np.ndarray]]:
    """ms per plane of the network alone on normalised device data; also returns the user's call."""
    set_tf32(precision)
    torch.manual_seed(0)
    memory = LAYOUTS[layout]
    model = N2VUNet().to(device, memory_format=memory).eval()
    planes = synthetic_planes(batch, side)
    on_device = ((torch.from_numpy(planes.astype(np.float32)).to(device) - MEAN) / STD).unsqueeze(1).contiguous(memory_format=memory)

    def network() -> torch.Tensor:
        with torch.inference_mode(), autocast(device, precision):
            return model(on_device)

    def user_call() -> np.ndarray:
        x = torch.from_numpy(planes.astype(np.float32)).to(device)
        x = ((x - MEAN) / STD).unsqueeze(1).contiguous(memory_format=memory)
        with torch.inference_mode(), autocast(device, precision):
            y = model(x)
        return (y[:, 0].float() * STD + MEAN).cpu().numpy()

    return ms_row(precision, "network on device", layout, batch, per_call_seconds(network, device, **timing)), user_call


def ms_row(precision: Precision, what: str, layout: str, batch: int, seconds: list[float]) -> dict:
    ms = [1000 * s / batch for s in seconds]
    return {"precision": precision.name, "what": what, "layout": layout, "batch": batch,
            "ms_per_plane": statistics.median(ms), "min": min(ms), "max": max(ms), "blocks": len(ms)}


def markdown(result: dict) -> str:
    """The report: environment, then training and denoising tables."""
    s = result["settings"]
    lines = ["# GPU proxy: n2v's default U-Net in PyTorch (issue #15)", "",
             f"Device: {result['device']}; torch {result['torch']}, CUDA {result['cuda']}, cuDNN {result['cudnn']}, "
             f"Python {result['python']}. Parameters: {result['params']} (Keras: {KERAS_PARAMS}).",
             f"Timing: median over {s['blocks']} blocks of about {s['block_s']} s after {s['warmup_s']} s warm-up; "
             f"planes {s['plane']}x{s['plane']}; cudnn.benchmark on; a user call uses the faster layout; "
             f"run took {result['wall_s']} s.", ""]
    if result["skipped"]:
        lines += ["Skipped: " + "; ".join(result["skipped"]), ""]
    lines += ["## Training (batch 16 of 64x64, Adam, masked MSE)", "",
              "| precision | layout | steps/s | min-max | final loss |", "|---|---|---:|---:|---:|"]
    lines += [f"| {r['precision']} | {r['layout']} | {r['steps_per_s']:.1f} | {r['min']:.1f}-{r['max']:.1f} | {r['final_loss']:.3f} |"
              for r in result["training"]]
    lines += ["", "## Denoising (ms per plane)", "",
              "| precision | what | layout | batch | ms/plane | min-max |", "|---|---|---|---:|---:|---:|"]
    lines += [f"| {r['precision']} | {r['what']} | {r['layout']} | {r['batch']} | {r['ms_per_plane']:.2f} | {r['min']:.2f}-{r['max']:.2f} |"
              for r in result["denoising"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, help="folder for results.json and results.md")
    parser.add_argument("--quick", action="store_true", help="smoke test: one short block each, 256x256 planes")
    parser.add_argument("--check-params", action="store_true", help="print the parameter count against Keras' and exit")
    args = parser.parse_args()

    model = N2VUNet()
    counts = parameter_counts(model)
    if args.check_params:
        print(f"torch: {counts}, total {sum(counts.values())}")
        print(f"keras: {KERAS_PARAMS}, total {sum(KERAS_PARAMS.values())}")
        sys.exit(0 if counts == KERAS_PARAMS else 1)
    assert counts == KERAS_PARAMS, f"network differs from n2v's: {counts} != {KERAS_PARAMS}"

    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    timing = dict(warmup_s=0.0, blocks=2, block_s=0.0) if args.quick else dict(warmup_s=0.5, blocks=5, block_s=0.3)
    side = 256 if args.quick else 512
    precisions, skipped = list(PRECISIONS), []
    if device.type != "cuda":
        precisions = [p for p in precisions if p.name in ("fp32", "bf16")]
        skipped = ["fp32 (no TF32): TF32 exists only on CUDA", "fp16: autocast fp16 with loss scaling is a GPU path, not one a CPU user runs"]
    layouts = list(LAYOUTS) if device.type == "cuda" else ["contiguous"]
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
              "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
              "python": platform.python_version(), "params": counts, "skipped": skipped,
              "settings": {**timing, "plane": side, "batch": BATCH, "patch": PATCH, "learning_rate": LEARNING_RATE,
                           "perc_pix": PERC_PIX, "radius": RADIUS, "quick": args.quick},
              "training": [], "denoising": []}
    started = time.perf_counter()

    def record(table: str, row: dict) -> None:
        """Keeps every row as soon as it is measured, so a run cut short still reports."""
        result[table].append(row)
        result["wall_s"] = round(time.perf_counter() - started, 1)
        print(f"[{result['wall_s']:6.1f} s] {table}: {row}", flush=True)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "results.json").write_text(json.dumps(result, indent=1))
            (args.out / "results.md").write_text(markdown(result))

    for precision in precisions:
        for layout in layouts:
            record("training", train_row(precision, layout, device, timing))
    for precision in precisions:
        for batch in (1, 4):
            calls = {}
            for layout in layouts:
                row, calls[layout] = denoise_rows(precision, layout, batch, side, device, timing)
                record("denoising", row)
            fastest = min(result["denoising"][-len(layouts):], key=lambda r: r["ms_per_plane"])["layout"]
            record("denoising", ms_row(precision, "user call (uint16 numpy in, float32 numpy out)", fastest, batch,
                                       per_call_seconds(calls[fastest], device, **timing)))
    print(markdown(result))


if __name__ == "__main__":
    main()
