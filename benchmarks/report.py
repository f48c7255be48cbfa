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
        from benchmarks.imagej_worker import report_lines

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
    lines += _quality(results.get("quality"), out)
    lines += _precisions(results.get("precisions"))
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
        from benchmarks.cluster import report_lines

        lines += report_lines(results["cluster"])
    if results.get("tiling"):
        from benchmarks.tiling import report_lines

        lines += report_lines(results["tiling"])
    lines.append(NOTES)
    out.write_text("\n".join(lines))


TRAINERS = {"quality_ours": "imagej-n2v `train_model`", "quality_n2v": "n2v's own loop (`N2V.train`)"}


def _kept_at(epochs: list[dict], epoch: int) -> dict:
    """What a stop after ``epoch`` keeps: the best epoch so far, with the time of ``epoch``."""
    best = [e for e in epochs[:epoch] if e["improved"]][-1]
    return {**epochs[epoch - 1], "psnr": best["psnr"], "best_epoch": best["epoch"]}


def _quality(q: dict | None, out: Path) -> list[str]:
    """PSNR against time for both trainers, and what each patience would have done."""
    if not q:
        return []
    settings = q["settings"]
    ours = q["quality_ours"]
    lines = [
        "## Time to quality (dome example)",
        "",
        f"On {q['cpu']} (no GPU). The demo's dome example (3 frames x 6 slices of 128x128, zero strips cut; noisy: "
        f"{ours['noisy_psnr']:.2f} dB against the clean signal), n2v's default network, batch, patch size and "
        f"learning rate, but {settings['epochs']} epochs of {settings['steps']} steps and {settings['patches']} "
        f"patches (so that the run fits this shared machine; see the notes), every epoch run. After each epoch, "
        f"the PSNR of the weights a stop there keeps (the best validation loss so far) against the time since the "
        f"job began (data preparation included). n2v's own loop draws its patches with `N2V_DataGenerator` from "
        f"the kept columns ({q['quality_n2v'].get('patches')} patches, augmented) and is scored with n2v's `predict`.",
        "",
        _row(["epoch", *[f"{label} {what}" for label in ("ours", "n2v") for what in ("PSNR dB", "wall s", "CPU s")]]),
        _row(["---"] * 7),
    ]
    total = len(ours["epochs"])
    marks = sorted({e for e in (1, 2, 3, 5, 10, 15, 20, 30, 40, 50, 60, 80, 100, total) if e <= total})
    for epoch in marks:
        cells = [str(epoch)]
        for job in TRAINERS:
            kept = _kept_at(q[job]["epochs"], epoch)
            cells += [f"{kept['psnr']:.2f}", f"{kept['wall_s']:.0f}", f"{kept['cpu_s']:.0f}"]
        lines.append(_row(cells))
    lines += ["", "What `--patience P` would have done on the same runs (stopping does not change the epochs before "
              "the stop): the epoch it stops after, the best epoch it keeps, its PSNR and the share of the full run's "
              "time it takes.", "",
              _row(["trainer", "patience", "stops after epoch", "keeps epoch", "PSNR dB", "vs full run dB",
                    "share of wall time", "share of CPU time"]),
              _row(["---"] * 8)]
    for job, label in TRAINERS.items():
        full = q[job]["patience"]["off"]
        for patience, result in q[job]["patience"].items():
            lines.append(_row([label, patience, result["stopped_at"] or f"none ({total})", result["best_epoch"],
                               f"{result['psnr']:.2f}", f"{result['psnr'] - full['psnr']:+.2f}",
                               f"{result['wall_s'] / full['wall_s']:.2f}", f"{result['cpu_s'] / full['cpu_s']:.2f}"]))
    lines += ["", f"![PSNR against wall time]({_plot(q, out.with_name('time-to-quality.png')).name})", "",
              "- The two differ in their data, not in their step: n2v's own loop cuts the planes into fixed tiles "
              "(here a few hundred patches, a tenth of them validating) and levels off, most likely once those are "
              "learnt; ours draws its patches at random positions and went on improving; "
              "its larger validation set costs more time each epoch (which shows in the wall time at small steps "
              "per epoch; at the default 400 steps it is a small share).",
              "- The patience rows need no extra runs: stopping early does not change the epochs before the stop, "
              "so each row reads the full run's curve up to where that patience would have stopped it.",
              "- GPU figures: `gpu-proxy-results.md` (the network alone, in PyTorch on an H100: TensorFlow could not "
              "be brought to that machine).", ""]
    return lines


def _plot(q: dict, target: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for job, label in TRAINERS.items():
        epochs = q[job]["epochs"]
        kept = [_kept_at(epochs, e["epoch"]) for e in epochs]
        axis.plot([k["wall_s"] / 60 for k in kept], [k["psnr"] for k in kept], label=label.replace("`", ""))
    axis.axhline(q["quality_ours"]["noisy_psnr"], color="grey", linestyle=":", label="noisy input")
    axis.set_xlabel("wall time since the job began (minutes, shared 2-core CPU)")
    axis.set_ylabel("PSNR against the clean signal (dB)")
    axis.set_title("Time to quality on the dome example")
    axis.legend()
    figure.tight_layout()
    figure.savefig(target, dpi=90)
    plt.close(figure)
    return target


def _precisions(measured: dict | None) -> list[str]:
    if not measured:
        return []
    rates = measured["rates"]
    return [
        "## Training steps per second by precision (those this machine runs natively)",
        "",
        f"On {measured['cpu']} (no GPU); imagej-n2v `train_model`, n2v's default U-Net, 3 epochs; steps/s from the "
        f"median epoch after the first.",
        "",
        _row(["precision", "steps/s", "steps/CPU s", "epoch seconds", "settings"]),
        _row(["---"] * 5),
        *[_row([precision, f"{r['steps_per_s']:.2f}", f"{r['steps_per_cpu_s']:.3f}",
                ", ".join(f"{x:.1f}" for x in r["epoch_s"]), r["settings"]]) for precision, r in rates.items()],
        "",
    ]


def _settings(settings: dict) -> list[str]:
    return [f"--{k.replace('_', '-')} {v}" for k, v in settings.items() if k not in ("out", "work")]
