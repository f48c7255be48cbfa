"""The report of ``make bench-quality``: a table per image (mean and spread over seeds), wins, a plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LABELS = {"noisy": "noisy", "gaussian": "Gaussian, best sigma", "bm3d": "BM3D, best sigma",
          "gat_bm3d": "GAT + BM3D", "n2v_own": "n2v's own loop, equal steps", "ours": "imagej-n2v, equal steps"}


def label(column: str) -> str:
    if column.endswith("_tta"):
        return f"{label(column.removesuffix('_tta'))}, --tta"
    if column.startswith("ours_default_"):
        return f"imagej-n2v defaults, --time-limit {column.removeprefix('ours_default_')}"
    return LABELS.get(column, f"imagej-n2v {column.removeprefix('ours_')}, equal steps")


def psnrs(entry) -> list[float]:
    """The PSNRs of one cell: one for a classical method, one per seed for an N2V."""
    if isinstance(entry, float):
        return [entry]
    if "psnr" in entry:
        return [entry["psnr"]]
    return [run["psnr"] for _, run in sorted(entry.items(), key=lambda item: int(item[0])) if "psnr" in run]


def _cell(entry) -> str:
    values = psnrs(entry)
    if not values:  # every run refused (the sentence is in the JSON file)
        return "refused"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{np.mean(values):.2f} ± {(max(values) - min(values)) / 2:.2f}"


def columns(results: dict) -> list[str]:
    found: list[str] = []
    for image in results["images"].values():
        found += [c for c in image if c not in found]
    return found


def wins(results: dict, ours: str, other: str) -> tuple[int, int, int, int]:
    """(images where ``ours``'s mean beats ``other``'s, images with both, seeds won, seeds compared)."""
    won = compared = seeds_won = seeds = 0
    for image in results["images"].values():
        if ours in image and other in image:
            a, b = psnrs(image[ours]), psnrs(image[other])
            if not a or not b:
                continue
            compared += 1
            won += np.mean(a) > np.mean(b)
            if len(a) == len(b) and len(b) > 1:
                seeds += len(a)
                seeds_won += sum(x > y for x, y in zip(a, b))
    return won, compared, seeds_won, seeds


def write_report(results: dict, out: Path) -> None:
    """``out`` (markdown) and the plot beside it (``out`` with .png)."""
    m, equal = results["machine"], results["equal_steps"]
    cols = columns(results)
    lines = [
        "# Denoising quality on real images (`make bench-quality`)",
        "",
        f"Taken {m['date']} on {m['cpu']}, {m['cores']} cores, TensorFlow {m['tensorflow']}, n2v {m['n2v']}; "
        f"load average {results.get('load_at_start', [float('nan')])[0]:.1f} at the start, "
        f"{results.get('load_at_end', [float('nan')])[0]:.1f} at the end.",
        f"Equal steps: {equal['epochs']} epochs x {equal['steps']} steps, batch {equal['batch_size']}, "
        f"patch {equal['patch_size']}, {equal['precision']}, the same network; every epoch runs, each loop keeps "
        "its best validation epoch. PSNR (dB) against the clean reference, mean ± half the range over seeds; "
        "Gaussian and BM3D strengths chosen with the clean reference (an upper bound of what a user gets from them).",
        "",
        "| image | " + " | ".join(label(c) for c in cols) + " |",
        "|" + "---|" * (len(cols) + 1),
    ]
    for name, image in results["images"].items():
        lines.append(f"| {name} | " + " | ".join(_cell(image[c]) if c in image else "" for c in cols) + " |")
    lines += ["", "Wins (images by mean; seeds where both ran the same seeds):", ""]
    for ours in [c for c in cols if c.startswith("ours")]:
        for other in ("n2v_own", "gaussian", "bm3d", "gat_bm3d"):
            won, compared, seeds_won, seeds = wins(results, ours, other)
            if compared and ours != other:
                lines.append(f"- {label(ours)} above {label(other)}: {won} of {compared} images"
                             + (f", {seeds_won} of {seeds} seeds" if seeds else ""))
    gains, costs = _tta(results)
    if gains:
        lines += ["", f"--tta: {np.mean(gains):+.2f} dB on average (from {min(gains):+.2f} to {max(gains):+.2f}, "
                      f"{len(gains)} models), denoising {np.median(costs):.1f} times as long (median)."]
    lines += ["", f"![PSNR gain over the noisy image]({out.with_suffix('.png').name})", ""]
    out.write_text("\n".join(lines))
    _plot(results, cols, out.with_suffix(".png"))


def _tta(results: dict) -> tuple[list[float], list[float]]:
    """Per model that was also run with --tta: the PSNR it gained, and the denoising time's ratio."""
    gains, costs = [], []
    for image in results["images"].values():
        for column, runs in image.items():
            if f"{column}_tta" in image and isinstance(runs, dict):
                for seed, run in runs.items():
                    gains.append(run["psnr_tta"] - run["psnr"])
                    costs.append(run["denoise_tta_s"] / run["denoise_s"])
    return gains, costs


def _plot(results: dict, cols: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["images"])
    shown = [c for c in cols if c != "noisy"]
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(names)), 4))
    width = 0.8 / max(len(shown), 1)
    for k, column in enumerate(shown):
        for i, name in enumerate(names):
            image = results["images"][name]
            if column in image and psnrs(image[column]):
                gains = np.array(psnrs(image[column])) - image["noisy"]
                x = i + (k - (len(shown) - 1) / 2) * width
                ax.bar(x, gains.mean(), width, color=f"C{k}", label=label(column) if i == 0 else None)
                if len(gains) > 1:
                    ax.plot([x, x], [gains.min(), gains.max()], color="black", linewidth=1)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("PSNR gain over noisy (dB)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
