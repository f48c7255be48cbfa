"""``benchmarks/results.md`` from the figures ``benchmarks.run`` collected."""

from __future__ import annotations

from pathlib import Path

METHODS = {
    "seed_way": "(a) seed's way: whole stack in memory, n2v `predict` per slice, 32-bit TIFF",
    "cli_denoise": "(b) `imagej-n2v denoise` (streamed, batched, 16-bit ImageJ hyperstack)",
    "network_alone": "(c) network alone on pre-normalised, pre-padded batches (the limit)",
}

NOTES = """\
## How to read this

- **work** is the time from a loaded model to the finished output file (for (c): to the last
  batch's result), as wall time and as CPU time of all the process's threads; **process** is
  the whole process's wall time, Python and TensorFlow start-up and model loading included.
  Each method runs in a fresh process; peak RSS is that process's high-water mark (VmHWM).
- Other engineers' jobs shared the 2 cores during these runs (see the load averages), so wall
  times swing by 2x between rounds; CPU time is what each method itself costs and its ratios
  are the steady figures. On an idle machine wall time follows CPU time divided by the cores
  TensorFlow keeps busy.
- The model is n2v-native (trained by n2v itself, n2v's default U-Net: depth 2, kernel 5,
  32 first filters; a few steps only, as speed depends on the architecture, not the weights).
  For such a model imagej-n2v uses n2v's own global mean and std, so (a) and (b) compute the
  same thing and their difference is rounding to 16 bits: at most 0.5 grey levels plus float
  noise. Models trained by imagej-n2v normalise each plane by its own robust mean and std
  instead (dim channels and bleached frames seen at the same scale); their results differ from
  n2v's `predict` by design, so they are not compared here.
- The planes have no zero edge strips, so (a) and (b) denoise the same pixels.
- The large-stack run measures memory, not speed: it uses a tiny network (depth 1, kernel 3,
  2 first filters) and, with several channels, denoises channel 1 while the others pass through
  the same read, queue and write stream, so that a several-GB stack finishes in minutes on a
  CPU (denoising every plane of 6 GB with n2v's default U-Net takes hours on 2 cores). Memory
  does not depend on the network's size beyond its weights and one batch of activations.
- Where the time goes: with 512x512 planes the network is nearly all of the work in every
  method, so removing what surrounds it can only bring (b) down to (c); what the seed's way
  adds around the network (n2v's per-call set-up, unbatched calls, the whole
  stack and a float32 result in memory) weighs more for smaller planes and many small files.
- The seed's way holds the whole stack and a float32 result (3x the stack's bytes) in memory,
  so its peak RSS grows with the stack; imagej-n2v's does not (see the large-stack run).
- Timings on a shared machine are noisy; compare ratios taken in the same run.
"""


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def write_report(results: dict, out: Path) -> None:
    m = results["machine"]
    cpus = results.get("cpus", {})
    taken = ", ".join(f"{part} {date} on {cpus.get(part, m['cpu'])}"
                      for part, date in results.get("dates", {"all": m["date"]}).items())
    lines = [
        "# imagej-n2v benchmark",
        "",
        f"Taken {taken}; {m['cores']} cores, {m['ram_gb']} GB RAM, GPU: {m['gpu']}; "
        f"{m['os']}, Python {m['python']}, TensorFlow {m['tensorflow']}, n2v {m['n2v']}. "
        f"Load average at start {results['load_at_start'][0]:.1f}, at end {results['load_at_end'][0]:.1f}.",
        "",
        *[f"- {part}: `python -m benchmarks.run {' '.join(_settings(options))}`"
          for part, options in results["settings"].items() if isinstance(options, dict)],
        "",
        "## Denoising: side by side",
        "",
    ]
    for name, s in results.get("side_by_side", {}).items():
        lines += [
            f"### {name} planes: {s['stack']}, {s['planes']} planes ({s['megapixels']:.1f} megapixels, "
            f"{s['size_mb']:.0f} MB), median of {len(s['rounds']['seed_way'])} round(s)",
            "",
            _row(["method", "work s", "work CPU s", "process s", "megapixels/s", "megapixels/CPU s", "peak RSS MB"]),
            _row(["---"] * 7),
        ]
        for job, label in METHODS.items():
            r = s[job]
            lines.append(_row([label, f"{r['work_s']:.1f}", f"{r['work_cpu_s']:.1f}", f"{r['process_wall_s']:.1f}",
                               f"{r['megapixels_per_s']:.3f}", f"{r['megapixels_per_cpu_s']:.3f}", f"{r['peak_rss_mb']:.0f}"]))
        d = s["difference"]
        lines += [
            "",
            f"- b/a speed-up: **{s['cpu_speedup_vs_seed']:.2f}x** in CPU time, {s['speedup_vs_seed']:.2f}x in wall "
            f"time (whole process: {s['process_speedup_vs_seed']:.2f}x)",
            f"- b/c: **{s['cpu_vs_network']:.3f}x** the network-alone CPU time, {s['time_vs_network']:.3f}x its wall time",
            f"- max \\|b - a\\|: **{d['max_abs_diff']:.3f}** grey levels over {d['planes']} planes "
            f"(against a rounded to 16 bits: {d['max_abs_diff_vs_rounded_seed']:.0f})",
            "",
        ]
    w = results.get("warm_session")
    lines += [] if not w else [
        "## Warm session",
        "",
        f"One `imagej-n2v denoise` call over a folder of {w['stacks']} small stacks: {w['files']} outputs in "
        f"{w['work_s']:.1f} s; model loaded **{w['model_loads']}** time(s), network traced "
        f"**{w['network_traces']}** time(s) (exit status {w['exit_status']}).",
        "",
    ]
    if results.get("imagej_worker"):
        from .imagej_worker import report_lines

        lines += report_lines(results["imagej_worker"])
    t = results.get("training")
    lines += [] if not t else [
        "## Training steps per second (same settings, same stack)",
        "",
        f"Settings: {t['settings']} (n2v's default U-Net); steps/s from the median epoch after the first.",
        "",
        _row(["trainer", "steps/s", "steps/CPU s", "epoch seconds", "epoch CPU seconds", "peak RSS MB"]),
        _row(["---"] * 6),
        *[_row([label, f"{t[job]['steps_per_s']:.2f}", f"{t[job]['steps_per_cpu_s']:.3f}",
                ", ".join(f"{x:.1f}" for x in t[job]["epoch_s"]), ", ".join(f"{x:.1f}" for x in t[job]["epoch_cpu_s"]),
                f"{t[job]['peak_rss_mb']:.0f}"])
          for job, label in (("train_ours", "imagej-n2v `train_model`"), ("train_n2v", "n2v's own `N2V.train`"))],
        "",
        f"imagej-n2v / n2v: **{t['ours_vs_n2v_cpu']:.2f}** in steps per CPU second, {t['ours_vs_n2v']:.2f} in steps "
        f"per second (wall).",
        "",
    ]
    large = results.get("large_stack")
    if large:
        d, p = large["denoise"], large["prepare_patches"]
        lines += [
            "## Large stack",
            "",
            f"{large['file']}: {large['size_gb']:.2f} GB, shape {large['shape']} (512x512 planes, an uncompressed ImageJ "
            f"hyperstack); `imagej-n2v denoise --channels 1`: channel 1 denoised, other channels streamed through.",
            "",
            f"- `imagej-n2v denoise`: peak RSS **{d['peak_rss_mb']:.0f} MB**, {d['work_s']:.0f} s; output shape "
            f"matches the input: {large['output_shape_matches']}.",
            f"- training-data preparation (survey every plane, {p['patches']} patches of 64x64 from {p['planes']} "
            f"planes, {p['patch_mb']:.0f} MB of patches): peak RSS **{p['peak_rss_mb']:.0f} MB** "
            f"({p['rss_before_mb']:.0f} MB before sampling), {p['work_s']:.0f} s.",
            "",
        ]
    if results.get("cluster"):
        from .cluster import report_lines

        lines += report_lines(results["cluster"])
    lines.append(NOTES)
    out.write_text("\n".join(lines))


def _settings(settings: dict) -> list[str]:
    return [f"--{k.replace('_', '-')} {v}" for k, v in settings.items() if k not in ("out", "work")]
