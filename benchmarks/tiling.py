"""``make bench`` part ``tiling``: planes denoised in tiles against the same planes whole, and one large plane.

- A ``--tiling-side`` plane (4096 by default) through n2v's default network, once whole
  (``--tile-size`` at least its side) and once in ``--tiling-tile`` tiles: CPU seconds per
  megapixel of each, their ratio (median over ``--repeats`` rounds, each pair side by side), and
  the largest difference of the two outputs in grey levels.
- A ``--large-side`` plane (20000 by default; 0 skips it) through the CLI with the automatic
  choice, each in a fresh process (time, CPU time and peak RSS from the child itself): on the
  tiny network of the other memory runs (what the plane itself costs beyond the network's tiles:
  reading, the scratch file, the bands written) and on n2v's default network (what a user meets).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import tifffile

from imagej_n2v.data.synthetic import make_stack
from imagej_n2v.data.tiff_io import write_image
from imagej_n2v.denoising.tiling import plan_tiles


def _difference(first: Path, second: Path) -> float:
    a, b = tifffile.memmap(first, mode="r"), tifffile.memmap(second, mode="r")
    return float(max(np.abs(a[r : r + 1024].astype(np.int64) - b[r : r + 1024]).max() for r in range(0, a.shape[0], 1024)))


def mosaic(side: int, piece: int = 512) -> np.ndarray:
    """A ``side`` x ``side`` uint16 plane of synthetic 512x512 planes side by side (each ``make_stack`` slice is its
    field shifted, with its own noise): ``make_stack`` itself draws a blob per 300 pixels over the whole plane,
    hours for 4096x4096."""
    count = -(-side // piece)
    planes = make_stack(frames=1, slices=count * count, height=piece, width=piece, seed=side).noisy
    plane = planes.reshape(count, count, piece, piece).transpose(0, 2, 1, 3).reshape(count * piece, count * piece)
    return np.ascontiguousarray(plane[:side, :side])


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
    source = write_image(work / f"tiling_{side}.tif", mosaic(side), "YX", overwrite=True)
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
        plane = large_plane(large_side, work)
        result["large"] = {"side": large_side, "size_mb": plane.stat().st_size / 1e6, "runs": {}}
        for network, folder in (("tiny", tiny_model), ("default", model)):
            print(f"tiling: a {large_side}x{large_side} plane on the {network} network", flush=True)
            denoised = run_job("cli_denoise", {"model": folder, "input": str(plane),
                                               "output_dir": str(work / "tiling_large")}, work)
            out = work / "tiling_large" / f"{plane.stem}_denoised.tif"
            denoised["output_shape_matches"] = tifffile.TiffFile(out).series[0].shape == (large_side, large_side)
            result["large"]["runs"][network] = denoised
            out.unlink(missing_ok=True)
    return result


def report_lines(t: dict) -> list[str]:
    tiles = plan_tiles((t["side"], t["side"]), t["tile"], 44, 4)  # n2v's default network: 44 of context, a grid of 4
    lines = [
        "## Tiled prediction",
        "",
        f"A {t['side']}x{t['side']} uint16 plane ({t['megapixels']:.1f} megapixels) through n2v's default network with "
        f"`imagej-n2v denoise`, whole (`--tile-size` at least its side) and with `--tile-size {t['tile']}` "
        f"({len(tiles)} tiles of {tiles[0].shape[0]}x{tiles[0].shape[1]}, 44 pixels of context each side), median of "
        f"{len(t['rounds']['whole'])} round(s):",
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
        for network, d in large["runs"].items():
            what = (f"the tiny network {t['tiny_network']} (the plane's own cost, not the network's)" if network == "tiny"
                    else "n2v's default network")
            lines.append(
                f"- a {large['side']}x{large['side']} uint16 plane ({large['size_mb']:.0f} MB uncompressed), the "
                f"automatic tiles, on {what}: **{d['work_s']:.0f} s** ({d['work_s'] / 60:.1f} min), {d['work_cpu_s']:.0f} "
                f"CPU s ({d['work_cpu_s'] / (large['side'] ** 2 / 1e6):.2f} per megapixel), peak RSS "
                f"**{d['peak_rss_mb']:.0f} MB**, load {d['load_before']:.1f} at its start; output shape matches: "
                f"{d['output_shape_matches']}.")
    return lines + [""]
