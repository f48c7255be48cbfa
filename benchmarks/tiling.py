"""``make bench`` part ``tiling``: planes denoised in tiles against the same planes whole, and one large plane.

- A ``--tiling-side`` plane (4096 by default) through n2v's default network, once whole
  (``--tile-size`` at least its side) and once in ``--tiling-tile`` tiles: CPU seconds per
  megapixel of each, their ratio (median over ``--repeats`` rounds, each pair side by side), and
  the largest difference of the two outputs in grey levels.
- A ``--large-side`` plane (20000 by default; 0 skips it) through the CLI with the automatic
  choice, on the tiny network of the other memory runs: its time and peak RSS, which is what
  the plane itself costs beyond the network's tiles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import tifffile

from imagej_n2v.data.synthetic import make_stack
from imagej_n2v.data.tiff_io import write_image


def _difference(first: Path, second: Path) -> float:
    a, b = tifffile.memmap(first, mode="r"), tifffile.memmap(second, mode="r")
    return float(max(np.abs(a[r : r + 1024].astype(np.int64) - b[r : r + 1024]).max() for r in range(0, a.shape[0], 1024)))


def large_plane(side: int, folder: Path) -> Path:
    """An uncompressed ``side`` x ``side`` uint16 ImageJ TIFF of Poisson noise on a gradient, written in strips."""
    target = folder / f"plane_{side}.tif"
    if target.exists():
        return target
    print(f"writing {target}", flush=True)
    image = tifffile.memmap(target, shape=(side, side), dtype=np.uint16, imagej=True)
    rng = np.random.default_rng(7)
    ramp = np.linspace(200, 2000, side)
    for row in range(0, side, 1024):
        rows = min(1024, side - row)
        image[row : row + rows] = rng.poisson(ramp[np.newaxis, :] * (1 + 0.5 * np.sin(np.arange(row, row + rows) / 97.0))
                                              [:, np.newaxis]).astype(np.uint16)
    image.flush()
    del image
    return target


def run_part(model: str, tiny_model: str, tiny_network: dict, side: int, tile: int, large_side: int, repeats: int, work: Path,
             run_job: Callable[[str, dict, Path], dict]) -> dict:
    print(f"tiling: a {side}x{side} plane whole and in {tile}x{tile} tiles", flush=True)
    stack = make_stack(frames=1, slices=1, height=side, width=side, seed=side)
    source = write_image(work / f"tiling_{side}.tif", stack.noisy.reshape(side, side), "YX", overwrite=True)
    whole_side = side + (-side) % 64
    rounds: dict[str, list[dict]] = {"whole": [], "tiled": []}
    for _ in range(repeats):
        for name, tile_size in (("whole", whole_side), ("tiled", tile)):
            rounds[name].append(run_job("cli_denoise", {"model": model, "input": str(source),
                                                        "output_dir": str(work / f"tiling_{name}"),
                                                        "cli_options": ["--tile-size", str(tile_size)]}, work))
    output = f"{source.stem}_denoised.tif"
    megapixels = side * side / 1e6
    result: dict = {"side": side, "tile": tile, "tiny_network": tiny_network, "megapixels": megapixels, "rounds": rounds,
                    "max_abs_diff": _difference(work / "tiling_whole" / output, work / "tiling_tiled" / output)}
    for name, runs in rounds.items():
        result[name] = {"cpu_s_per_megapixel": float(np.median([r["work_cpu_s"] for r in runs])) / megapixels,
                        "s_per_megapixel": float(np.median([r["work_s"] for r in runs])) / megapixels,
                        "peak_rss_mb": float(max(r["peak_rss_mb"] for r in runs))}
    result["tiled_vs_whole_cpu"] = float(np.median([t["work_cpu_s"] / w["work_cpu_s"]
                                                    for t, w in zip(rounds["tiled"], rounds["whole"])]))
    if large_side:
        print(f"tiling: a {large_side}x{large_side} plane", flush=True)
        plane = large_plane(large_side, work)
        denoised = run_job("cli_denoise", {"model": tiny_model, "input": str(plane),
                                           "output_dir": str(work / "tiling_large")}, work)
        out = work / "tiling_large" / f"{plane.stem}_denoised.tif"
        result["large"] = {"side": large_side, "size_mb": plane.stat().st_size / 1e6, "denoise": denoised,
                           "output_shape_matches": tifffile.TiffFile(out).series[0].shape == (large_side, large_side)}
        out.unlink(missing_ok=True)
    return result


def report_lines(t: dict) -> list[str]:
    lines = [
        "## Tiled prediction",
        "",
        f"A {t['side']}x{t['side']} uint16 plane ({t['megapixels']:.1f} megapixels) through n2v's default network with "
        f"`imagej-n2v denoise`, whole (`--tile-size` at least its side) and in {t['tile']}x{t['tile']} tiles (44 pixels "
        f"of context each side), median of {len(t['rounds']['whole'])} round(s):",
        "",
        "| prediction | CPU s per megapixel | s per megapixel | peak RSS MB |",
        "|---|---|---|---|",
        *[f"| {name} | {r['cpu_s_per_megapixel']:.2f} | {r['s_per_megapixel']:.2f} | {r['peak_rss_mb']:.0f} |"
          for name, r in ((n, t[n]) for n in ("whole", "tiled"))],
        "",
        f"- tiled / whole CPU time: **{t['tiled_vs_whole_cpu']:.3f}**; largest difference of the two outputs: "
        f"**{t['max_abs_diff']:.0f}** grey level(s).",
    ]
    large = t.get("large")
    if large:
        d = large["denoise"]
        lines.append(
            f"- a {large['side']}x{large['side']} plane ({large['size_mb']:.0f} MB uncompressed), the automatic choice, "
            f"on the tiny network {t['tiny_network']} (the plane's own cost, not the network's): **{d['work_s']:.0f} s**, "
            f"{d['work_cpu_s']:.0f} CPU s, peak RSS **{d['peak_rss_mb']:.0f} MB**; output shape matches: "
            f"{large['output_shape_matches']}.")
    return lines + [""]
