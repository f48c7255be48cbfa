"""Denoising on a Dask cluster: files, or runs of planes of one big stack, spread over workers.

A dome time-lapse takes a day on one machine; a lab's machines or a SLURM allocation take it in
an hour. The client plans *pieces* (a whole small file, or a run of output planes of a large
one), each worker reads its pieces from the shared file system and denoises them with the same
``Denoiser`` as the single-process run (loaded once per worker process, kept warm), and the
client writes every output in plane order through the same atomic writer. The files are
therefore byte for byte those of the single-process run, and no stack travels through the
scheduler: only the denoised planes travel, from a worker to the client.

Only the front doors (the CLI's ``--workers``/``--scheduler``, ``api.denoise_files``) import
this module; the core never imports Dask.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from concurrent.futures import CancelledError
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from itertools import chain
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .. import __version__
from ..atomic import check_target
from ..config import DenoiseConfig
from ..data.bands import whole
from ..data.tiff_io import TiffImage, read_image, write_denoised
from ..denoising.check import Check, report
from ..denoising.commands import plan_output
from ..denoising.inference import batch_size
from ..errors import ClusterError, N2VError, NothingToDenoise
from ..models.folder import describe_model

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
"""How long to try reaching a scheduler before saying it cannot be reached."""

PIECE_BYTES = 64 * 2**20
"""Output bytes per unit of work, counted as float32 (16-bit outputs make half): 16 planes of
1024x1024, about 13 s of work at 0.8 s a plane, against milliseconds of Dask overhead per task."""

PIECES_AHEAD_PER_THREAD = 2
"""Pieces submitted per worker thread beyond those written: every worker has its next piece
queued, while the client and the workers hold only a few finished pieces at a time."""


@dataclass(frozen=True, eq=False)
class Piece:
    """A run of output planes of one file: the unit of work a worker denoises.

    Compared by identity: an input named twice is two jobs with pieces of their own.
    """

    path: str
    axes: str | None
    start: int  # output plane numbers, 0-based, stop excluded
    stop: int


@dataclass
class PieceResult:
    """What a worker sends back: the planes in output order, and what the writer needs."""

    planes: np.ndarray
    provenance: str
    nothing_to_denoise: NothingToDenoise | None
    warnings: list[str]  # what the piece logged (e.g. clipping), for the client's log


@dataclass
class FileJob:
    """One input planned on the client: where its output goes and the pieces it is cut into."""

    path: Path
    image: TiffImage | None = None
    target: Path | None = None
    axes: str = ""
    shape: tuple[int, ...] = ()
    frames: list[int] | None = None  # 0-based frames written; None: all
    pieces: list[Piece] = field(default_factory=list)
    error: N2VError | None = None  # found while planning; reported when the file's turn comes

    @property
    def n_planes(self) -> int:
        return sum(p.stop - p.start for p in self.pieces)


# --------------------------------------------------------------------------- on the workers

_prepared = False


def _prepare_worker(version: str) -> None:
    """Once per worker process, before its first piece: the checks ``check_workers`` makes (a
    worker may join after them), then TensorFlow's threads.

    TensorFlow uses the cores Dask gave this worker, so N workers on one machine share it; a
    worker whose TensorFlow already runs (from an earlier run) keeps its setting.
    """
    global _prepared
    if _prepared:
        return
    import tensorflow as tf
    from distributed import get_worker

    from ..versions import check_environment

    worker = get_worker()
    _check_version(worker.address, _installed_version(), version)
    try:
        check_environment()
    except N2VError as exc:
        raise ClusterError(f"The Dask worker {worker.address} cannot denoise: {exc}") from None
    threads = max(1, int(worker.state.nthreads))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:
        log.debug("TensorFlow already runs in this worker; its thread counts stay as they are.")
    _prepared = True


class _Warnings(logging.Handler):
    """Collects this package's warnings logged by one task's thread (a worker's log is not the user's)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


def denoise_piece(piece: Piece, model: str, config: DenoiseConfig, version: str) -> PieceResult:
    """Denoise one piece on a worker: read its planes from the shared file system, return them.

    ``version`` is the client's imagej-n2v. ``load_denoiser`` caches the traced model per
    process, so each worker loads it once.
    """
    from ..denoising.commands import denoise_stack
    from ..denoising.inference import load_denoiser

    _prepare_worker(version)
    denoiser = load_denoiser(model, config.precision)
    stack = read_image(piece.path, piece.axes).stack
    planes = denoise_stack(denoiser, stack, config, planes=slice(piece.start, piece.stop)).planes
    done: list[np.ndarray] = []
    nothing = None
    warnings = _Warnings()
    package = logging.getLogger("imagej_n2v")
    package.addHandler(warnings)
    try:
        done.extend(map(whole, planes))
    except NothingToDenoise as exc:  # this piece is all zero; the file may not be
        nothing = exc
    finally:
        package.removeHandler(warnings)
    return PieceResult(np.stack(done), denoiser.provenance(), nothing, warnings.messages)


def check_file(path: str, axes: str | None, model: str, config: DenoiseConfig, version: str) -> Check:
    """The quality check of one input on a worker (``denoising.check``): the same sample as a single-process run."""
    from ..denoising.check import check_image
    from ..denoising.inference import load_denoiser

    _prepare_worker(version)
    denoiser = load_denoiser(model, config.precision)
    stack = read_image(path, axes).stack
    plan = plan_output(stack, config)
    return check_image(denoiser, stack, plan.frames, plan.channels, config.keep_zero_columns)


# --------------------------------------------------------------------------- on the client


def plan_file(path: Path, axes: str | None, config: DenoiseConfig, output: Path | None, overwrite: bool,
              task_planes: int | None = None, three_d: bool = False) -> FileJob:
    """Cut one input into pieces of whole network batches (for a 3D model, of whole frames: each
    frame's volumes are denoised at once); problems become the job's error."""
    job = FileJob(path)
    try:
        job.image = read_image(path, axes)
        stack = job.image.stack
        plan = plan_output(stack, config)  # a frame or channel the stack lacks is refused here, not on a worker
        job.frames, job.axes, job.shape = plan.frames, plan.axes, plan.shape
        job.target = (output or path.parent) / f"{path.stem}_denoised.tif"
        check_target(job.target, overwrite)
        total = plan.count
        batch = batch_size(config.batch_planes, stack.height, stack.width)
        if task_planes is None:
            task_planes = PIECE_BYTES // (stack.height * stack.width * 4)
        if three_d:
            batch = stack.slices * stack.channels  # a frame's planes: its volumes are computed together
        step = max(1, task_planes // batch) * batch  # pieces start where the whole stack's batches start
        job.pieces = [Piece(str(path.resolve()), axes, start, min(start + step, total))
                      for start in range(0, total, step)]
    except N2VError as exc:
        job.error = exc
    return job


class _Prefetch:
    """Pieces submitted in order, a bounded number ahead of the one being written.

    Finished pieces wait on their workers until the client asks for them, in order, so the
    client holds one piece at a time and the workers a few each.
    """

    def __init__(self, client, jobs: Sequence[FileJob], model: str, config: DenoiseConfig, ahead: int):
        self._client = client
        self._model = model
        self._config = config
        self._ahead = ahead
        self._waiting = deque(p for job in jobs if job.error is None for p in job.pieces)
        self._futures: dict[Piece, object] = {}

    def _fill(self) -> None:
        while self._waiting and len(self._futures) < self._ahead:
            piece = self._waiting.popleft()
            self._futures[piece] = self._client.submit(denoise_piece, piece, self._model, self._config, __version__,
                                                       pure=False)

    def result(self, piece: Piece) -> PieceResult:
        self._fill()
        future = self._futures.pop(piece)
        try:
            result = future.result()
        finally:
            future.release()
        self._fill()
        return result

    def drop(self, job: FileJob) -> None:
        """Forget what is left of a file that failed."""
        for piece in job.pieces:
            future = self._futures.pop(piece, None)
            if future is not None:
                future.cancel()
            elif piece in self._waiting:
                self._waiting.remove(piece)


class ClusterRun:
    """Denoise planned files on a cluster and write each output, in order, on this machine.

    ``progress(done, total)`` counts written planes over all files.
    """

    def __init__(self, client, model: str | os.PathLike, config: DenoiseConfig, jobs: Sequence[FileJob],
                 overwrite: bool = False, progress: Callable[[int, int], None] | None = None):
        self.client = client
        self._jobs = deque(jobs)
        self.overwrite = overwrite
        self.progress = progress
        self.total = sum(job.n_planes for job in jobs)
        self.written = 0
        ahead = max(2, PIECES_AHEAD_PER_THREAD * sum(client.nthreads().values()))
        model = str(Path(model).resolve())
        self._checks = {} if config.check == "off" else {  # small: each a few patches, ahead of every piece
            job.path: client.submit(check_file, str(job.path.resolve()), job.pieces[0].axes, model, config, __version__,
                                    pure=False, priority=1)
            for job in jobs if job.error is None and job.pieces}
        self._prefetch = _Prefetch(client, jobs, model, config, ahead)

    def write_next(self) -> FileJob:
        """Write the output of the next planned input; raises its ``N2VError`` (the file is skipped)."""
        job = self._jobs.popleft()
        if job.error is not None:
            raise job.error
        if job.axes != job.image.axes:
            log.warning("%s: axes %s are written in ImageJ's order %s.", job.path.name, job.image.axes, job.axes)
        try:
            self._report_check(job)
            results = self._results(job)
            first = next(results)
            write_denoised(job.target, self._planes(chain([first], results)), job.image, job.frames,
                           first.planes.dtype, overwrite=self.overwrite, info=first.provenance)
        except N2VError:
            self._prefetch.drop(job)
            raise
        return job

    def _report_check(self, job: FileJob) -> None:
        """The quality check's verdict on ``job``'s input, to the log (it was computed on a worker)."""
        check = self._checks.pop(job.path, None)
        if check is None:
            return
        try:
            report(check.result())
        except (OSError, CancelledError, TimeoutError) as exc:
            raise self._lost(job, exc) from None
        except Exception as exc:  # the check only informs: it never costs the user the output
            log.warning("%s: the quality check could not run on the cluster (%s); denoising goes on.", job.path.name, exc)

    def _results(self, job: FileJob) -> Iterator[PieceResult]:
        from distributed import KilledWorker

        for piece in job.pieces:
            try:
                yield self._prefetch.result(piece)
            except KilledWorker:
                raise ClusterError(
                    f"Planes {piece.start + 1}-{piece.stop} of {job.path} ended every Dask worker that "
                    f"tried them (out of memory?): give the workers more memory or use a smaller --task-planes."
                ) from None
            except (OSError, CancelledError, TimeoutError) as exc:
                raise self._lost(job, exc) from None

    def _lost(self, job: FileJob, exc: BaseException) -> ClusterError:
        return ClusterError(
            f"The Dask scheduler {self.client.scheduler.address} was lost while denoising {job.path} "
            f"({type(exc).__name__}): {job.path.name} was not written; restart the scheduler and run again."
        )

    def _planes(self, results: Iterator[PieceResult]) -> Iterator[np.ndarray]:
        """The output planes in order; a file is all zero only if every piece of it was."""
        denoised = False
        for result in results:
            denoised = denoised or result.nothing_to_denoise is None
            for message in result.warnings:
                log.warning("%s", message)
            for plane in result.planes:
                yield plane
                self.written += 1
                if self.progress:
                    self.progress(self.written, self.total)
        if not denoised:
            raise result.nothing_to_denoise


# --------------------------------------------------------------------------- connecting


def _installed_version() -> str | BaseException:
    """This worker's imagej-n2v version, or why it has none."""
    try:
        return metadata.version("imagej-n2v")
    except metadata.PackageNotFoundError as exc:
        return exc


def _check_version(worker: str, version: str | BaseException, wanted: str) -> None:
    """One sentence for a worker without imagej-n2v, or with another version than ``wanted``."""
    if isinstance(version, BaseException):
        raise ClusterError(
            f"The Dask worker {worker} has no imagej-n2v installed: install imagej-n2v {wanted} "
            f"(as on this machine) in the environment the workers start from."
        )
    if version != wanted:
        raise ClusterError(
            f"The Dask worker {worker} has imagej-n2v {version} but this machine has {wanted}: "
            f"install the same version on both."
        )


def check_workers(client) -> None:
    """Every worker must run this imagej-n2v and the tested TensorFlow stack: else one sentence.

    The version is read with a standard-library function, so a worker without imagej-n2v
    answers too (a function of ours could not even be unpickled there). Workers that join later
    check themselves before their first piece (``_prepare_worker``).
    """
    for worker, version in sorted(client.run(metadata.version, "imagej-n2v", on_error="return").items()):
        _check_version(worker, version, __version__)
    from ..versions import check_environment

    for worker, answer in sorted(client.run(check_environment, on_error="return").items()):
        if isinstance(answer, BaseException):
            raise ClusterError(f"The Dask worker {worker} cannot denoise: {answer}")


def _local_cluster(workers: int):
    """``workers`` worker processes on this machine, sharing its cores, listening on 127.0.0.1 only."""
    from distributed import LocalCluster

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    # Workers with TensorFlow loaded are often still exiting when the nanny's wait ends; it
    # then kills them, harmlessly, with a warning that would only worry a user.
    return LocalCluster(n_workers=workers, threads_per_worker=max(1, cores // workers), processes=True,
                        host="127.0.0.1", dashboard_address=":0", silence_logs=logging.ERROR)


def dashboard_link(client) -> str | None:
    """The dashboard's address, where the scheduler serves one (it needs bokeh there)."""
    if "dashboard" not in client.scheduler_info().get("services", {}):
        return None
    try:
        client.run_on_scheduler(metadata.version, "bokeh")
    except Exception:  # PackageNotFoundError, as raised on the scheduler
        return None
    return client.dashboard_link


@contextmanager
def connect(cluster) -> Iterator:
    """A checked ``distributed.Client`` for ``cluster``.

    ``cluster`` is a Client (used as it is), a scheduler address such as tcp://host:8786, or a
    number of worker processes to start on this machine (stopped at the end).
    """
    from distributed import Client

    if isinstance(cluster, Client):
        check_workers(cluster)
        yield cluster
        return
    local = None
    try:
        if isinstance(cluster, int):
            local = _local_cluster(cluster)
            client = Client(local, set_as_default=False)
        else:
            client = Client(cluster, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        reason = str(exc).split(":")[0].strip() or type(exc).__name__
        raise ClusterError(
            f"The Dask scheduler {cluster} cannot be reached ({reason}): start it (dask scheduler) or check the address."
        ) from None
    try:
        if not client.nthreads():
            log.info("No Dask worker has joined %s yet: waiting for the first.", client.scheduler.address)
            client.wait_for_workers(1)
        check_workers(client)
        link = dashboard_link(client)
        if link:
            log.info("Dask dashboard: %s", link)
        yield client
    finally:
        client.close()
        if local is not None:
            local.close()


def denoise_files(
    inputs: Sequence[str | os.PathLike],
    model: str | os.PathLike,
    cluster,
    config: DenoiseConfig,
    axes: str | None = None,
    output: str | os.PathLike | None = None,
    overwrite: bool = False,
    task_planes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Denoise TIFF files (or folders of them) on ``cluster`` (see ``connect``); the outputs in
    input order. The first file that cannot be denoised raises its ``N2VError``; the outputs
    written before it stay."""
    from ..data.tiff_io import find_tiffs

    paths = find_tiffs(inputs)
    with connect(cluster) as client:
        three_d = describe_model(model).three_d
        jobs = [plan_file(p, axes, config, Path(output) if output else None, overwrite, task_planes, three_d)
                for p in paths]
        run = ClusterRun(client, model, config, jobs, overwrite, progress)
        return [run.write_next().target for _ in jobs]
