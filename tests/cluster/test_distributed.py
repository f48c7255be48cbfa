"""Denoising on a real Dask cluster: a scheduler and worker processes on 127.0.0.1 only.

The outputs must equal the single-process run's byte for byte, also when a worker is killed
while it works; a cluster that cannot be reached, or a worker with another imagej-n2v, must
be one sentence. Pieces of 4 planes (``--task-planes 4``) cut each small stack into several
units of work, so the plumbing between pieces is what these files exercise.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from imagej_n2v.config import DenoiseConfig
from imagej_n2v.data.tiff_io import write_image
from tests.conftest import CALIBRATION

distributed = pytest.importorskip("distributed")

import imagej_n2v  # noqa: E402
from imagej_n2v.cli import main  # noqa: E402
from imagej_n2v.cluster import distributed as n2v_distributed  # noqa: E402

PIECE = ["--task-planes", "4"]


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes of one thread each, as ``--workers 2`` starts on this machine.

    Module-scoped: the first test to use it meets cold workers (TensorFlow not yet imported).
    """
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0") as local:
        yield local


@pytest.fixture(scope="module")
def folder(tmp_path_factory, input_files, dome_stack) -> Path:
    """Three stacks in one folder, in eight pieces of at most 4 planes; the first piece of
    ``late.tif`` is all zero (the file is not, so it is denoised and written as a whole)."""
    folder = tmp_path_factory.mktemp("cluster-inputs")
    for path in (input_files.dome, input_files.channels):
        (folder / path.name).write_bytes(path.read_bytes())
    late = np.concatenate([np.zeros_like(dome_stack.noisy), dome_stack.noisy])
    write_image(folder / "late.tif", late, dome_stack.axes, CALIBRATION)
    return folder


@pytest.fixture(scope="module")
def reference(tmp_path_factory, folder, tiny_model) -> dict[str, str]:
    """The single-process run's outputs: file name -> SHA-256."""
    out = tmp_path_factory.mktemp("single")
    assert main(["--quiet", "denoise", str(folder), "--model", str(tiny_model), "--output", str(out)]) == 0
    return _hashes(out)


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_killed_worker_has_its_piece_redone_and_outputs_equal(cluster, folder, tiny_model, reference, tmp_path):
    """Kill a worker as soon as the scheduler has given it a piece; the run completes, identical.

    First in this file, so the workers are cold: a piece given to one is still being worked on
    (TensorFlow import, model loading) when the kill arrives.
    """
    out = tmp_path / "out"
    result: dict = {}
    run = threading.Thread(target=lambda: result.setdefault("code", main([
        "--quiet", "denoise", str(folder), "--model", str(tiny_model), "--output", str(out),
        "--scheduler", cluster.scheduler_address, *PIECE])))
    with distributed.Client(cluster, set_as_default=False) as watcher:
        run.start()
        busy = _wait_for(lambda: next((w for w, keys in watcher.processing().items() if keys), None), run)
        pid = watcher.run(os.getpid, workers=[busy])[busy]
        os.kill(pid, signal.SIGKILL)
        run.join(timeout=300)
    assert result.get("code") == 0
    assert _hashes(out) == reference


def _wait_for(condition, run: threading.Thread, timeout: float = 120):
    """Poll scheduler state until ``condition`` holds (the event), failing if the run ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        assert run.is_alive(), "the run ended before any worker had a piece"
        time.sleep(0.01)
    pytest.fail("no worker was given a piece in time")


def test_scheduler_outputs_equal_the_single_process_run(cluster, folder, tiny_model, reference, tmp_path):
    out = tmp_path / "out"
    assert main(["--quiet", "denoise", str(folder), "--model", str(tiny_model), "--output", str(out),
                 "--scheduler", cluster.scheduler_address, *PIECE]) == 0
    assert _hashes(out) == reference


def test_input_named_twice_is_written_once_as_by_one_process(cluster, folder, tiny_model, reference, tmp_path, capsys):
    out = tmp_path / "out"
    dome = str(folder / "dome.tif")
    code = main(["denoise", dome, dome, "--model", str(tiny_model), "--output", str(out),
                 "--scheduler", cluster.scheduler_address, *PIECE])
    assert code == 1
    assert "dome_denoised.tif already exists" in capsys.readouterr().err
    assert _hashes(out) == {"dome_denoised.tif": reference["dome_denoised.tif"]}


def test_api_with_chosen_frames_in_float_equals_the_single_process_run(cluster, input_files, tiny_model, tmp_path):
    single, spread = tmp_path / "single", tmp_path / "spread"
    assert main(["--quiet", "denoise", str(input_files.channels), "--model", str(tiny_model), "--output", str(single),
                 "--frames", "2-3", "--channels", "1,3", "--bit-depth", "32"]) == 0
    with distributed.Client(cluster, set_as_default=False) as client:
        outputs = imagej_n2v.denoise_files(input_files.channels, tiny_model, client, output=spread, task_planes=4,
                                           frames="2-3", channels="1,3", bit_depth=32)
    assert [p.parent for p in outputs] == [spread]
    assert _hashes(spread) == _hashes(single)


def test_tiled_planes_on_workers_equal_the_single_process_run(cluster, input_files, tiny_model, tmp_path):
    """Workers send whole planes back (a tiled plane's bands assembled); the client writes the same bytes."""
    single, spread = tmp_path / "single", tmp_path / "spread"
    options = ["--tile-size", "52", "--check", "off"]
    assert main(["--quiet", "denoise", str(input_files.dome), "--model", str(tiny_model), "--output", str(single),
                 *options]) == 0
    assert main(["--quiet", "denoise", str(input_files.dome), "--model", str(tiny_model), "--output", str(spread),
                 "--scheduler", cluster.scheduler_address, *PIECE, *options]) == 0
    assert _hashes(spread) == _hashes(single)


def test_metadata_reaches_the_output_as_in_the_single_process_run(cluster, tiny_model, tmp_path):
    """OME sizes and channel names, ImageJ labels, a dropped overlay, a value calibration applied (issue 13)."""
    import tifffile

    from imagej_n2v.data.synthetic import make_stack

    inputs, single, spread = tmp_path / "in", tmp_path / "single", tmp_path / "spread"
    inputs.mkdir()
    stack = make_stack(frames=3, slices=1, channels=2, height=32, width=32, seed=7)
    tifffile.imwrite(inputs / "scope.ome.tif", stack.noisy, ome=True, metadata={
        "axes": stack.axes, "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2, "Channel": {"Name": ["DAPI", "GFP"]}})
    tifffile.imwrite(inputs / "signed.tif", stack.noisy[:, 0] + np.uint16(30000), imagej=True, metadata={
        "axes": "TYX", "cf": 0, "c0": -32768.0, "c1": 1.0, "Labels": ["a", "b", "c"], "Overlays": b"Iout\x00\xe4"})
    options = ["--model", str(tiny_model), "--frames", "2-3", "--bit-depth", "32"]
    assert main(["--quiet", "denoise", str(inputs), "--output", str(single), *options]) == 0
    assert main(["--quiet", "denoise", str(inputs), "--output", str(spread), "--scheduler", cluster.scheduler_address,
                 *PIECE, *options]) == 0
    assert _hashes(spread) == _hashes(single)
    with tifffile.TiffFile(spread / "scope.ome_denoised.tif") as tif:
        assert tif.imagej_metadata["Labels"] == ["DAPI", "GFP"] * 2 and tif.imagej_metadata["unit"] == "micron"
    with tifffile.TiffFile(spread / "signed_denoised.tif") as tif:
        assert tif.imagej_metadata["Labels"] == ["b", "c"] and "Overlays" not in tif.imagej_metadata
        assert tif.asarray().mean() < 0  # calibrated: raw - 32768


def test_the_quality_check_runs_on_a_worker_and_says_what_the_single_process_run_says(cluster, tiny_model, tmp_path,
                                                                                      capsys):
    """Issue 22: the verdict on a sample of each input also where the planes go to a cluster (the sample
    is the same, so the sentence is); the tiny model is no better than a blur, so it is a warning."""
    from imagej_n2v.data.synthetic import make_stack

    stack = make_stack(frames=2, slices=1, channels=1, height=512, width=512, seed=3)  # 0.5 MP: within the budget
    path = tmp_path / "large.tif"
    write_image(path, stack.noisy, stack.axes, CALIBRATION)

    def warnings(*options: str) -> list[str]:
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        assert main(["denoise", str(path), "--model", str(tiny_model), "--output", str(out), *options]) == 0
        return [line for line in capsys.readouterr().err.splitlines() if "blur" in line]

    single = warnings()
    assert single and "no better than a blur" in single[0]
    assert warnings("--scheduler", cluster.scheduler_address, *PIECE) == single
    assert not warnings("--scheduler", cluster.scheduler_address, "--check", "off")


def test_local_workers_equal_the_single_process_run(input_files, tiny_model, reference, tmp_path):
    """``--workers 1`` starts and stops its own cluster on this machine."""
    out = tmp_path / "out"
    assert main(["--quiet", "denoise", str(input_files.dome), "--model", str(tiny_model), "--output", str(out),
                 "--workers", "1", *PIECE]) == 0
    assert _hashes(out) == {k: v for k, v in reference.items() if k.startswith("dome")}


def test_unreachable_scheduler_is_one_sentence_and_writes_nothing(input_files, tiny_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(n2v_distributed, "CONNECT_TIMEOUT_S", 1)
    with socket.socket() as probe:  # a port on which nothing listens
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    out = tmp_path / "out"
    code = main(["denoise", str(input_files.dome), "--model", str(tiny_model), "--output", str(out), "--scheduler", address])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith(f"imagej-n2v: error: The Dask scheduler {address} cannot be reached")
    assert not out.exists()


@pytest.mark.parametrize("distribution, version, named", [
    ("imagej-n2v", "9.9.9", "has imagej-n2v 9.9.9 but this machine has"),
    ("keras", "3.0.0", "cannot denoise: keras 3.0.0 is installed but Keras 2.15 is needed"),
])
def test_worker_with_other_versions_is_named(distribution, version, named, tiny_model, input_files, tmp_path, capsys):
    """A real ``dask worker`` whose environment holds another version (a distribution's metadata
    first on its path), as a worker node with another installation would."""
    other = tmp_path / "site" / f"{distribution.replace('-', '_')}-{version}.dist-info"
    other.mkdir(parents=True)
    (other / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(other.parent), os.environ.get("PYTHONPATH", "")])}
    with distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=":0") as empty:
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", empty.scheduler_address,
                                   "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard"], env=env,
                                  cwd=other.parent,  # not a checkout, whose imagej_n2v.egg-info would come first
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            code = main(["denoise", str(input_files.dome), "--model", str(tiny_model), "--output", str(tmp_path / "out"),
                         "--scheduler", empty.scheduler_address])
        finally:
            worker.terminate()
            worker.wait(timeout=60)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("imagej-n2v: error: The Dask worker tcp://127.0.0.1:")
    assert named in err[-1]
    assert not (tmp_path / "out").exists()


def test_worker_joining_after_the_check_checks_itself(tiny_model, input_files, tmp_path):
    """A worker that joins once ``check_workers`` has run (here: the only one, and ``ClusterRun``
    is used without ``connect``) is refused by its first piece when it has another version (its
    metadata first on the path). (One without imagej-n2v at all cannot even unpickle the piece,
    and Dask then waits for ever: only ``check_workers`` catches that one, at the start.)"""
    from imagej_n2v.config import DenoiseConfig
    from imagej_n2v.errors import ClusterError

    site = tmp_path / "site"
    other = site / "imagej_n2v-9.9.9.dist-info"
    other.mkdir(parents=True)
    (other / "METADATA").write_text("Metadata-Version: 2.1\nName: imagej-n2v\nVersion: 9.9.9\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "out"
    out.mkdir()
    with distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=":0") as empty:
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", empty.scheduler_address,
                                   "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard"], env=env, cwd=site,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with distributed.Client(empty.scheduler_address, set_as_default=False) as client:
                client.wait_for_workers(1, timeout=120)
                config = DenoiseConfig()
                job = n2v_distributed.plan_file(input_files.dome, None, config, out, overwrite=False)
                run = n2v_distributed.ClusterRun(client, tiny_model, config, [job])
                with pytest.raises(ClusterError) as refused:
                    run.write_next()
        finally:
            worker.terminate()
            worker.wait(timeout=60)
    assert str(refused.value).startswith("The Dask worker tcp://127.0.0.1:")
    assert "has imagej-n2v 9.9.9 but this machine has" in str(refused.value) and not list(out.iterdir())


def test_scheduler_lost_mid_run_is_one_sentence_and_leaves_no_output(input_files, tiny_model, tmp_path, capsys,
                                                                      monkeypatch):
    """``dask scheduler`` and ``dask worker`` processes; the scheduler is killed once the
    (cold) worker has a piece, so the worker is still loading TensorFlow and the model."""
    monkeypatch.setattr(n2v_distributed, "CONNECT_TIMEOUT_S", 1)  # how long the client tries to reconnect
    scheduler_file = tmp_path / "scheduler.json"
    common = ["--host", "127.0.0.1", "--no-dashboard", "--scheduler-file", str(scheduler_file)]
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0", *common],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--nthreads", "1", *common],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = tmp_path / "out"
    result: dict = {}
    try:
        with distributed.Client(scheduler_file=str(scheduler_file), set_as_default=False, timeout=60) as watcher:
            run = threading.Thread(target=lambda: result.setdefault("code", main([
                "denoise", str(input_files.dome), "--model", str(tiny_model), "--output", str(out),
                "--scheduler", watcher.scheduler.address, *PIECE])))
            run.start()
            _wait_for(lambda: any(watcher.processing().values()), run)
            scheduler.kill()
            run.join(timeout=120)
    finally:
        for process in (scheduler, worker):
            process.kill()
            process.wait(timeout=60)
    err = capsys.readouterr().err.strip().splitlines()
    assert result.get("code") == 2
    assert err[-1].startswith("imagej-n2v: error: The Dask scheduler tcp://127.0.0.1:")
    assert "was lost while denoising" in err[-1]
    assert not out.exists() or not list(out.iterdir())


def test_a_3d_model_on_workers_denoises_whole_frames_as_one_process(tiny_3d_model, volume_stack, tmp_path):
    """Units of a 3D model are whole frames (their volumes are computed together), however few planes are asked for."""
    source = write_image(tmp_path / "zstack.tif", volume_stack.noisy, volume_stack.axes, CALIBRATION)
    job = n2v_distributed.plan_file(source, None, DenoiseConfig(), tmp_path / "out", False,
                                    task_planes=5, three_d=True)
    assert [(p.start, p.stop) for p in job.pieces] == [(0, 16), (16, 32)]
    assert main(["--quiet", "denoise", str(source), "--model", str(tiny_3d_model), "--output", str(tmp_path / "one")]) == 0
    assert main(["--quiet", "denoise", str(source), "--model", str(tiny_3d_model), "--output", str(tmp_path / "two"),
                 "--workers", "1", "--task-planes", "5"]) == 0
    assert _hashes(tmp_path / "one") == _hashes(tmp_path / "two")
