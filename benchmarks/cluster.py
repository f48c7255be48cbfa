"""``make bench`` part ``cluster``: the Dask path against the single process, 1 and 2 local workers.

``python -m benchmarks.cluster ARGS.json RESULT.json`` runs in a fresh process, which is the
client; the workers are processes of a local cluster on 127.0.0.1. It measures

- the same folder denoised by one process, by ``--workers 1`` and by ``--workers 2``, with the
  workers warm (model loaded and traced), and whether the outputs are byte-identical;
- the per-task overhead: one stack cut into many or few pieces, with a tiny network so that the
  network's time does not hide the overhead;
- the file I/O of one plane (read from the TIFF, written to a TIFF) and the transfer of
  denoised planes from a worker to the client;
- cluster start-up and the workers' first (cold) piece.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FILES, FILE_PLANES = 4, 2
"""The folder: 4 stacks of 2 planes of 512x512, n2v's default network (one piece per file)."""

OVERHEAD_PLANES, SMALL_PIECE = 128, 4
"""The overhead stack: 128 planes of 256x256 in one piece, or in 32 pieces of 4."""


def _warm(model: str) -> None:
    """On a worker: load the model and trace the network, as a first piece would."""
    from imagej_n2v.denoising.inference import load_denoiser

    load_denoiser(model)


def _zeros(megabytes: int) -> np.ndarray:
    return np.zeros(megabytes * 2**20 // 2, np.uint16)


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.tif"))}


def _median(runs: list[dict]) -> dict:
    return {key: float(np.median([r[key] for r in runs])) for key in ("s", "cpu_s")}


def _single(inputs: list[str], model: str, output: Path) -> dict:
    """Wall and CPU seconds of the single-process CLI with the model already loaded."""
    from imagej_n2v.cli import main
    from imagej_n2v.denoising.inference import load_denoiser

    load_denoiser(model)
    wall, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):  # the CLI prints each output's path
        code = main(["--quiet", "denoise", *inputs, "--model", model, "--output", str(output), "--overwrite"])
    assert code == 0, f"imagej-n2v denoise failed with exit status {code}"
    return {"s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def _on_cluster(client, inputs: list[str], model: str, output: Path, task_planes: int | None = None) -> dict:
    """Wall seconds, and CPU seconds of the client and all workers together (steady under load)."""
    from imagej_n2v import denoise_files

    workers_cpu = client.run(time.process_time)
    wall, cpu = time.perf_counter(), time.process_time()
    denoise_files(inputs, model, client, output=output, overwrite=True, task_planes=task_planes)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    cpu += sum(t - workers_cpu[w] for w, t in client.run(time.process_time).items())
    return {"s": wall, "cpu_s": cpu}


def workers_run(args: dict, workers: int, work: Path) -> dict:
    """Start-up, a cold and a warm run of the folder on ``workers`` local processes."""
    from distributed import Client

    from imagej_n2v.cluster.distributed import _local_cluster, check_workers

    started = time.perf_counter()
    with _local_cluster(workers) as cluster, Client(cluster, set_as_default=False) as client:
        check_workers(client)
        startup = time.perf_counter() - started
        out = work / f"workers_{workers}"
        cold = _on_cluster(client, [args["folder"]], args["model"], out)
        client.run(_warm, args["model"])  # every worker warm, also one that got no piece in the cold run
        warm = [_on_cluster(client, [args["folder"]], args["model"], out) for _ in range(args["repeats"])]
        identical = _hashes(out) == _hashes(work / "single")
        transfer = None
        if workers == 1:  # one worker's 64 MB result, fetched by the client over loopback TCP
            moved = client.submit(_zeros, 64, pure=False)
            moved.result()  # made on the worker and fetched once; the next fetch is the transfer alone
            fetch = time.perf_counter()
            moved.result()
            transfer = 64 / (time.perf_counter() - fetch)
        threads = max(client.nthreads().values())
    return {"workers": workers, "threads_per_worker": threads, "startup_s": startup, "cold": cold,
            "warm": _median(warm), "warm_runs": warm, "identical": identical, "transfer_mb_per_s": transfer}


def overhead_run(args: dict, work: Path) -> dict:
    """One stack, tiny network, one worker: many small pieces against one piece."""
    from distributed import Client

    from imagej_n2v.cluster.distributed import _local_cluster

    stack, model, planes = args["overhead_stack"], args["tiny_model"], args["overhead_planes"]
    single = [_single([stack], model, work / "overhead_single") for _ in range(args["repeats"])]
    with _local_cluster(1) as cluster, Client(cluster, set_as_default=False) as client:
        client.run(_warm, model)
        _on_cluster(client, [stack], model, work / "overhead_cluster", planes)
        one = _median([_on_cluster(client, [stack], model, work / "overhead_cluster", planes)
                       for _ in range(args["repeats"])])
        many = _median([_on_cluster(client, [stack], model, work / "overhead_cluster", args["small_piece"])
                        for _ in range(args["repeats"])])
    tasks = planes // args["small_piece"]
    return {"planes": planes, "small_piece": args["small_piece"], "tasks_many": tasks, "single": _median(single),
            "one_task": one, "many_tasks": many, "per_task_s": (many["s"] - one["s"]) / (tasks - 1),
            "per_task_cpu_s": (many["cpu_s"] - one["cpu_s"]) / (tasks - 1)}


def io_run(args: dict, work: Path) -> dict:
    """Reading one plane from the TIFF and writing it, through imagej-n2v's own reader and writer."""
    from imagej_n2v.data.tiff_io import read_image, write_planes

    image = read_image(args["io_stack"])
    stack = image.stack
    started = time.perf_counter()
    planes = [stack.plane(i) for i in stack.indices()]
    read_s = time.perf_counter() - started
    megabytes = sum(p.nbytes for p in planes) / 2**20
    started = time.perf_counter()
    write_planes(work / "io_copy.tif", planes, stack.canonical_dims(), stack.shape, stack.dtype, image.calibration,
                 overwrite=True)
    write_s = time.perf_counter() - started
    return {"megabytes": megabytes, "planes": len(planes), "read_mb_per_s": megabytes / read_s,
            "write_mb_per_s": megabytes / write_s}


def measure(args: dict) -> dict:
    work = Path(args["work"])
    single = [_single([args["folder"]], args["model"], work / "single") for _ in range(args["repeats"])]
    result = {"single": _median(single), "single_runs": single, "load_before": os.getloadavg()}
    result["runs"] = [workers_run(args, n, work) for n in (1, 2)]
    result["overhead"] = overhead_run(args, work)
    result["io"] = io_run(args, work)
    result["load_after"] = os.getloadavg()
    return result


if __name__ == "__main__":
    args_file, result_file = sys.argv[1:3]
    Path(result_file).write_text(json.dumps(measure(json.loads(Path(args_file).read_text()))))


# --------------------------------------------------------------------------- in ``benchmarks.run``


def run_part(model: str, tiny_model: str, work: Path, repeats: int) -> dict:
    """Write the inputs, run ``measure`` in a fresh process (the client) and return its figures."""
    import subprocess

    from imagej_n2v.data.synthetic import make_stack
    from imagej_n2v.data.tiff_io import write_image

    print("cluster: 1 and 2 local Dask workers against one process", flush=True)
    work = work / "cluster"
    folder = work / "folder"
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(FILES):
        stack = make_stack(frames=1, slices=FILE_PLANES, height=512, width=512, seed=200 + number)
        write_image(folder / f"stack_{number}.tif", stack.noisy, stack.axes, overwrite=True)
    overhead = make_stack(frames=1, slices=OVERHEAD_PLANES, height=256, width=256, seed=300)
    overhead_stack = write_image(work / "overhead.tif", overhead.noisy, overhead.axes, overwrite=True)
    args = {"work": str(work), "folder": str(folder), "model": model, "tiny_model": tiny_model, "repeats": repeats,
            "overhead_stack": str(overhead_stack), "overhead_planes": OVERHEAD_PLANES, "small_piece": SMALL_PIECE,
            "io_stack": str(overhead_stack)}
    args_file, result_file = work / "args.json", work / "result.json"
    args_file.write_text(json.dumps(args))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "benchmarks.cluster", str(args_file), str(result_file)], check=True,
                   cwd=Path(__file__).resolve().parent.parent)
    result = json.loads(result_file.read_text())
    return {**result, "files": FILES, "file_planes": FILE_PLANES, "plane_shape": [512, 512],
            "process_wall_s": time.perf_counter() - started}


def report_lines(c: dict) -> list[str]:
    """The cluster section of ``results.md``, with the scaling estimate from the measured figures."""
    planes = c["files"] * c["file_planes"]
    single, o, io = c["single"], c["overhead"], c["io"]
    one, two = c["runs"]
    cpu_plane = single["cpu_s"] / planes  # a 512x512 plane, n2v's default network
    cpu_plane_1k = 4 * cpu_plane  # the network's cost grows with the pixels
    machine_plane_1k = cpu_plane_1k / 2  # on a 2-core machine whose cores TensorFlow keeps busy
    mb_s = 2.0 / machine_plane_1k  # a 1024x1024 16-bit plane is 2 MB: read by a worker, sent to and written by the client
    task_work = 16 * machine_plane_1k  # 64 MB of float32 planes: 16 planes of 1024x1024
    rows = [_row(["run", "start-up s", "first (cold) run s", "warm run s", "warm run CPU s", "planes per CPU s",
                  "outputs identical"]),
            _row(["---"] * 7),
            _row(["one process (`imagej-n2v denoise`)", "-", "-", f"{single['s']:.1f}", f"{single['cpu_s']:.1f}",
                  f"{planes / single['cpu_s']:.3f}", "reference"])]
    for r in c["runs"]:
        rows.append(_row([f"`--workers {r['workers']}` ({r['threads_per_worker']} thread(s) each)", f"{r['startup_s']:.1f}",
                          f"{r['cold']['s']:.1f}", f"{r['warm']['s']:.1f}", f"{r['warm']['cpu_s']:.1f}",
                          f"{planes / r['warm']['cpu_s']:.3f}", r["identical"]]))
    return [
        "## On a Dask cluster (local workers)",
        "",
        f"{c['files']} stacks of {c['file_planes']} planes of 512x512 (one piece each), n2v's default network, on this "
        f"shared 2-core machine (load average {c['load_before'][0]:.1f} before, {c['load_after'][0]:.1f} after: other "
        f"engineers' jobs ran, so wall times are loose and CPU seconds, the client's and all workers' together, are "
        f"the steady figures). Warm runs: median of {len(one['warm_runs'])}; start-up: the local cluster and the "
        f"worker check; the cold run includes each worker's TensorFlow import and model loading.",
        "",
        *rows,
        "",
        f"- 2 workers of 1 thread against 1 worker of 2 threads: **{two['warm']['cpu_s'] / one['warm']['cpu_s']:.2f}x** "
        f"the CPU seconds, {two['warm']['s'] / one['warm']['s']:.2f}x the wall time. Two cores are two cores: "
        f"TensorFlow in one process already keeps both busy, so on one machine more workers add no throughput; more "
        f"machines do.",
        f"- the Dask path against one process, warm, one worker: **{one['warm']['cpu_s'] / single['cpu_s']:.2f}x** the "
        f"CPU seconds, {one['warm']['s'] / single['s']:.2f}x the wall time.",
        f"- per-task overhead: {o['planes']} planes of 256x256 with a tiny network on 1 worker take "
        f"{o['one_task']['cpu_s']:.2f} CPU s ({o['one_task']['s']:.2f} s) in 1 piece and {o['many_tasks']['cpu_s']:.2f} "
        f"CPU s ({o['many_tasks']['s']:.2f} s) in {o['tasks_many']} pieces of {o['small_piece']}: "
        f"**{1000 * o['per_task_cpu_s']:.0f} ms of CPU per task** ({1000 * o['per_task_s']:.0f} ms of wall time: "
        f"scheduling, opening the TIFF, sending the planes back); one process takes {o['single']['cpu_s']:.2f} CPU s.",
        f"- file I/O through imagej-n2v's reader and writer (local disk, page cache): read "
        f"{io['read_mb_per_s']:.0f} MB/s, write {io['write_mb_per_s']:.0f} MB/s; a worker's 64 MB result reached the "
        f"client at {one['transfer_mb_per_s']:.0f} MB/s over loopback TCP (on this loaded machine).",
        "",
        f"**Scaling estimate for N machines.** One 512x512 plane costs {cpu_plane:.2f} CPU s here, so a 1024x1024 "
        f"plane about {cpu_plane_1k:.1f} CPU s, {machine_plane_1k:.1f} s on a 2-core machine. A default task (64 MB of "
        f"float32: 16 such planes, {task_work:.0f} s of work) carries {1000 * o['per_task_cpu_s']:.0f} ms of CPU "
        f"overhead ({1000 * o['per_task_s']:.0f} ms of wall time on this loaded machine), under "
        f"{100 * max(o['per_task_s'], o['per_task_cpu_s']) / task_work:.1f} % of it. With N worker machines of this "
        f"kind the time is about `planes x {machine_plane_1k:.1f} s / N` plus start-up, while the storage keeps up: "
        f"each worker reads {mb_s:.1f} MB/s of 16-bit planes, and the client receives and writes as much again per "
        f"worker. A shared file system that serves 500 MB/s becomes the limit near N = {500 / (2 * mb_s):.0f} (reads "
        f"and writes together), a client on 1 Gb/s Ethernet (about 110 MB/s in) near N = {110 / mb_s:.0f}; beyond "
        f"that more workers add nothing: the client's link and the file system set the pace (run the client on a "
        f"machine close to the storage). Workers that compute a plane k times faster (GPUs) reach these limits with "
        f"k times fewer machines. The example of 500 time points of 200 slices of 1024x1024 (100,000 planes) is "
        f"about {100000 * machine_plane_1k / 3600:.0f} hours on one such machine and "
        f"{100000 * machine_plane_1k / 3600 / 20:.1f} hours on 20.",
        "",
    ]


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"
