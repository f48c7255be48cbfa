"""The worker mode's cost: ``N2V Denoise`` in an ImageJ started as usual (``java -jar ij.jar -batch``).

The plugin jar starts the Python worker on the first command (Python, TensorFlow, the model:
the start-up, reported on its own) and reuses it; every later command is warm. Two measurements:

- ImageJ end to end: the macro's ``getTime()`` around each ``run("N2V Denoise")`` (wall time).
- The worker's own CPU time per command (``/proc/PID/stat``), driven through its pipes by a
  client here that plays ImageJ's part: on a shared machine CPU time is the steady figure, and
  it is set against the network alone's CPU time on the same planes
  (``benchmarks.workers.network_alone``, fresh processes, run right after).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from imagej_n2v.data.synthetic import make_stack
from imagej_n2v.data.tiff_io import write_image
from imagej_n2v.imagej.bridge.runtime import DEFAULT_IJ_JAR, VirtualDisplay
from imagej_n2v.imagej.install import install_plugin
from imagej_n2v.imagej.worker.protocol import (
    Message,
    encode,
    plane_message,
    read_message,
)

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


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a running process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_cpu(stack_file: Path, model: str, rounds: int, batch_planes: int) -> dict:
    """Wall and CPU seconds of the worker for a cold and ``rounds`` warm N2V Denoise commands."""
    import tifffile

    planes = tifffile.imread(stack_file).reshape(-1, 512, 512)
    started = time.perf_counter()
    worker = subprocess.Popen([sys.executable, "-m", "imagej_n2v.imagej.worker"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    hello = read_message(worker.stdout)
    assert hello is not None and hello.type == "hello", "the worker did not start"
    hello_s = time.perf_counter() - started
    request = {"command": "N2V Denoise", "options": f"model=[{model}] batch_planes={batch_planes}", "title": "bench",
               "width": 512, "height": 512, "channels": 1, "slices": len(planes), "frames": 1, "planes": len(planes),
               "bit_depth": 16}
    wall, cpu = [], []
    for _ in range(rounds + 1):
        clock, cpu_before = time.perf_counter(), _cpu_s(worker.pid)
        worker.stdin.write(encode(Message("execute", {k: str(v) for k, v in request.items()})))
        worker.stdin.flush()
        while (message := read_message(worker.stdout)).type not in ("completion", "failure"):
            if message.type == "read":
                index = message.number("index")
                worker.stdin.write(encode(plane_message("plane", planes[index - 1], index=index)))
                worker.stdin.flush()
        if message.type == "failure":
            raise SystemExit(f"the worker failed: {message['error']}")
        wall.append(time.perf_counter() - clock)
        cpu.append(_cpu_s(worker.pid) - cpu_before)
    worker.stdin.close()
    worker.wait(timeout=120)
    return {"hello_s": hello_s, "wall_s": wall, "cpu_s": cpu}


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
    direct = worker_cpu(stack_file, model["folder"], rounds, batch_planes)
    network = [run_job("network_alone", {"model": model["folder"], "input": str(stack_file), "mean": model["mean"],
                                         "std": model["std"], "plane_shape": [512, 512], "depth": model["depth"],
                                         "batch": batch_planes}, work) for _ in range(rounds)]
    warm, warm_cpu = float(np.median(times[1:])), float(np.median(direct["cpu_s"][1:]))
    network_cpu = float(np.median([n["work_cpu_s"] for n in network]))
    return {"planes": planes, "plane_shape": [512, 512], "rounds": rounds, "cold_s": times[0], "warm_s": times[1:],
            "warm_median_s": warm, "startup_s": times[0] - warm, "imagej_process_s": imagej_s,
            "worker": direct, "warm_cpu_median_s": warm_cpu, "startup_cpu_s": direct["cpu_s"][0] - warm_cpu,
            "network_alone_s": [n["work_s"] for n in network], "network_alone_cpu_s": [n["work_cpu_s"] for n in network],
            "network_alone_median_s": float(np.median([n["work_s"] for n in network])),
            "network_alone_cpu_median_s": network_cpu, "warm_cpu_vs_network": warm_cpu / network_cpu,
            "warm_vs_network": warm / float(np.median([n["work_s"] for n in network]))}


def report_lines(w: dict) -> list[str]:
    """The worker-mode section of ``results.md``."""
    d = w["worker"]
    return [
        "## ImageJ started as usual: N2V Denoise through the Python worker",
        "",
        f"{w['planes']} planes of 512x512, 16-bit, n2v's default U-Net; median of {w['rounds']} warm commands.",
        "",
        _row(["", "first command (start-up)", "warm command", "network alone"]),
        _row(["---"] * 4),
        _row(["worker CPU s (pipes driven here)", f"{d['cpu_s'][0]:.1f} ({w['startup_cpu_s']:+.1f})",
              f"{w['warm_cpu_median_s']:.2f}", f"{w['network_alone_cpu_median_s']:.2f}"]),
        _row(["worker wall s (pipes driven here)", f"{d['wall_s'][0]:.1f}", f"{float(np.median(d['wall_s'][1:])):.2f}",
              f"{w['network_alone_median_s']:.2f}"]),
        _row(["ImageJ -batch wall s (getTime)", f"{w['cold_s']:.1f} ({w['startup_s']:+.1f})", f"{w['warm_median_s']:.2f}", ""]),
        "",
        f"- warm worker / network alone: **{w['warm_cpu_vs_network']:.3f}x** in CPU time, {w['warm_vs_network']:.2f}x "
        f"in wall time (ImageJ end to end against the network alone, run one after the other on a shared machine)",
        f"- the worker says hello {d['hello_s']:.1f} s after it is started (Python and imagej-n2v); TensorFlow and "
        "the model load during the first command, which ImageJ's status bar shows as \"Starting Python...\"",
        "",
    ]


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"
