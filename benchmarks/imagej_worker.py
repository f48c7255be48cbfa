"""The worker mode's cost: ``N2V Denoise`` in an ImageJ started as usual (``java -jar ij.jar -batch``).

The plugin jar starts the Python worker on the first command (Python, TensorFlow, the model:
the start-up, reported on its own) and reuses it; every later command is warm. A warm command's
time, from the macro's ``getTime()`` around ``run("N2V Denoise")``, is set against the network
alone on the same planes (``benchmarks.workers.network_alone``, fresh processes, run right after).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np

from imagej_n2v.bridge.runtime import DEFAULT_IJ_JAR, VirtualDisplay
from imagej_n2v.install import install_plugin
from imagej_n2v.synthetic import make_stack
from imagej_n2v.tiff_io import write_image

MACRO = """setBatchMode(true);
args = getArgument();
open(call("ij.Macro.getValue", args, "input", ""));
original = getImageID();
options = "model=[" + call("ij.Macro.getValue", args, "model", "") + "] batch_planes=" + call("ij.Macro.getValue", args, "batch", "4");
rounds = parseInt(call("ij.Macro.getValue", args, "rounds", "3"));
for (i = 0; i <= rounds; i++) {
    selectImage(original);
    started = getTime();
    run("N2V Denoise", options);
    print("n2v_ms " + i + " " + (getTime() - started));
    close();
}
"""


def imagej_worker(model: dict, rounds: int, batch_planes: int, frames: int, slices: int, work: Path, run_job) -> dict:
    """Cold and warm ``N2V Denoise`` of 512x512 planes through the worker, and the network alone."""
    print("ImageJ worker mode", flush=True)
    stack = make_stack(frames=frames, slices=slices, height=512, width=512, seed=512)
    stack_file = write_image(work / "bench_512_worker.tif", stack.noisy, stack.axes, overwrite=True)
    folder = work / "ImageJ"
    folder.mkdir(exist_ok=True)
    install_plugin(folder)
    (work / "worker_bench.ijm").write_text(MACRO)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    display = None if env.get("DISPLAY") else VirtualDisplay()
    if display:
        env["DISPLAY"] = display.name
    argument = f"input=[{stack_file}] model=[{model['folder']}] rounds=[{rounds}] batch=[{batch_planes}]"
    started = time.perf_counter()
    try:
        run = subprocess.run(["java", f"-Dplugins.dir={folder}", "-jar", str(DEFAULT_IJ_JAR), "-batch",
                              str(work / "worker_bench.ijm"), argument],
                             capture_output=True, text=True, env=env, timeout=3600)
    finally:
        if display:
            display.stop()
    imagej_s = time.perf_counter() - started
    times = [float(line.split()[2]) / 1000 for line in run.stdout.splitlines() if line.startswith("n2v_ms ")]
    if len(times) != rounds + 1:
        raise SystemExit(f"the ImageJ worker benchmark failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    planes = frames * slices
    network = [run_job("network_alone", {"model": model["folder"], "input": str(stack_file), "mean": model["mean"],
                                         "std": model["std"], "plane_shape": [512, 512], "depth": model["depth"],
                                         "batch": batch_planes}, work)["work_s"] for _ in range(rounds)]
    warm = float(np.median(times[1:]))
    return {"planes": planes, "plane_shape": [512, 512], "rounds": rounds, "cold_s": times[0], "warm_s": times[1:],
            "warm_median_s": warm, "startup_s": times[0] - warm, "imagej_process_s": imagej_s,
            "network_alone_s": network, "network_alone_median_s": float(np.median(network)),
            "warm_vs_network": warm / float(np.median(network)), "warm_ms_per_plane": 1000 * warm / planes}


def report_lines(w: dict) -> list[str]:
    """The worker-mode section of ``results.md``."""
    return [
        "## ImageJ started as usual: N2V Denoise through the Python worker",
        "",
        f"`java -jar ij.jar -batch`, the jar installed by `imagej-n2v install-plugin`; {w['planes']} planes of 512x512, "
        f"16-bit. The first command starts the worker (Python, TensorFlow, the model): **{w['cold_s']:.1f} s**, of "
        f"which start-up **{w['startup_s']:.1f} s** (cold minus warm). Warm commands: "
        f"{', '.join(f'{x:.2f}' for x in w['warm_s'])} s, median **{w['warm_median_s']:.2f} s** "
        f"({w['warm_ms_per_plane']:.0f} ms per plane, pixels there and back through the pipes, the result built in "
        f"ImageJ); the network alone on the same planes: {', '.join(f'{x:.2f}' for x in w['network_alone_s'])} s, "
        f"median {w['network_alone_median_s']:.2f} s.",
        "",
        f"- warm worker / network alone: **{w['warm_vs_network']:.2f}x** (wall time, medians; the two run one after "
        f"the other on a shared machine)",
        "",
    ]
