"""Denoising planes with a loaded model: lean, batched and streamed.

The network is wrapped once in a ``tf.function`` with a shape-agnostic signature, so it is
traced once per session rather than once per plane. Planes are read, normalised and padded in
one thread, run through the network in another, and handed back in order: a plain pipeline of
two ``concurrent.futures`` prefetches, so reading, computing and writing overlap and only a few
planes are in memory at any time.

A plane too large for one network call within the memory budget (``memory``), or larger than
``tile_size``, goes through the network in overlapping tiles (``tiling``) whose centres are
written into its output: the same result as one call, with the network's memory bounded by the
tile. Normalisation statistics still come from the whole plane, so the tiles agree. Such a plane
is never held whole (``data.bands``): it is read a region at a time where the file allows it,
its output waits in a temporary file and comes out as a ``BandedPlane``, band by band.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from .. import __version__
from ..data.bands import BandedPlane, PlaneReader, ScratchPlane, kept_part, row_bands, widened
from ..data.output_types import PlaneConverter, output_dtype
from ..data.planes import Normalization, kept_columns, plane_mean, plane_normalization
from ..data.stack import PlaneIndex, PlaneStack, gather
from ..errors import InputError, ModelError, NothingToDenoise, OutOfMemory
from ..models.folder import PER_PLANE, PER_VOLUME, ModelDescription, build_network, describe_model
from .memory import memory_budget, network_bytes, size_text
from .tiling import context_for, plan_tiles, read_window, receptive_radius, smallest_tile, tile_side_for
from .tta import averaged, model_orientations
from .volumes import check_volumes, denoise_volumes

log = logging.getLogger(__name__)
T = TypeVar("T")

QUEUE_DEPTH = 2
"""Batches prepared or computed ahead of the caller: enough to keep the network busy, few enough to bound memory."""

BATCH_PIXELS = 2**18
"""Most pixels per network call (one 512x512 plane, four 256x256 ones). The U-Net's activations
grow with it, about 300 MB per megapixel for n2v's default network, while on a CPU a bigger call
buys no speed once planes are this large (measured: the same CPU time per 512x512 plane in
batches of 1 and 4). Small planes still go ``batch_planes`` at a time; large ones one by one."""


TILE_PIXELS = 1536**2
"""Most pixels of an automatic tile. For n2v's default network (32 first filters, depth 2) a tile
of 1536x1536 takes 1.7 GB of activations (``memory``), so with TensorFlow itself (0.6 GB) and a
plane's bands (``data.bands``) a plane of any size denoises within about 2.5 GB. Measured
(``make bench``, part tiling): a 20000x20000 uint16 plane peaked at 2.5 GB of RSS; on a 4096x4096
plane tiles of 1424 (what 1536 and 2048 both give there) peaked at 2.0 GB, tiles of 892 at 1.2 GB.
Larger tiles only save overlap, and little: a 20000x20000 plane goes in 196 tiles of 1512, 1.12x
its pixels through the network, against 1.09x in tiles of at most 2048 (3.0 GB of activations for
a full one, too near a 4 GB machine's limit) and 1.20x in tiles of at most 1024 (on the 4096 plane
892 tiles cost 7 % more CPU time than 1424 ones, 40.5 s against 37.7 s)."""


@dataclass
class _Prepared:
    """A plane ready for the network (or a plane that needs none)."""

    index: PlaneIndex
    plane: np.ndarray | PlaneReader  # the input plane, for pass-through and the output's shape
    columns: slice | None  # None: nothing to denoise (all zero, or a channel not chosen)
    normalization: Normalization | None = None
    padded: np.ndarray | None = None  # (H', W') float32, normalised and reflect-padded; None when tiled
    pad: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))
    number: int = 0  # 1-based place among the output planes (for tile progress)
    banded: bool = False  # a plane of a tiled stack: read a region at a time, its output a ``BandedPlane``


@dataclass(frozen=True)
class Tiling:
    """How the planes of one stack go through the network, decided once per stack."""

    tile: tuple[int, ...] | None  # (Y, X) side of the tiles, (Z, Y, X) for a volume; None: each whole, batched
    seen: str  # the free memory seen when the stack began (for messages)
    source: str = "The image"
    turns: tuple[int, ...] = (0,)  # the orientations each call averages over (``tta``); (0,): one pass


def batch_size(batch_planes: int, height: int, width: int) -> int:
    """Planes per network call for planes of ``height`` x ``width``: at most ``BATCH_PIXELS``."""
    return max(1, min(batch_planes, BATCH_PIXELS // (height * width)))


def _split(total: int) -> tuple[int, int]:
    """csbdeep's PadAndCropResizer split, so results match n2v's ``predict``."""
    return total // 2, total - total // 2


def _batches(prepared: Iterable[_Prepared], size: int) -> Iterator[list[_Prepared]]:
    """Consecutive planes in groups of ``size`` (one network call each), split where the padded shape
    changes; a tiled plane is a group of its own."""
    pending: list[_Prepared] = []
    for item in prepared:
        if item.padded is None and item.columns is not None:  # tiled
            if pending:
                yield pending
            yield [item]
            pending = []
            continue
        if item.padded is not None and any(p.padded is not None and p.padded.shape != item.padded.shape for p in pending):
            yield pending
            pending = []
        pending.append(item)
        if len(pending) >= size:
            yield pending
            pending = []
    if pending:
        yield pending


def prefetch(executor: Executor, calls: Iterable[Callable[[], T]], ahead: int) -> Iterator[T]:
    """The results of ``calls`` in order, with up to ``ahead`` more of them running in ``executor``.

    A failure while taking the next call (an earlier stage's error) is raised only after the
    results already started, so errors arrive in plane order.
    """
    pending: deque[Future] = deque()
    calls = iter(calls)
    while True:
        try:
            call = next(calls, None)
        except BaseException:
            while pending:
                yield pending.popleft().result()
            raise
        if call is None:
            break
        pending.append(executor.submit(call))
        if len(pending) > ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


@contextmanager
def _single_threads(*names: str) -> Iterator[list[ThreadPoolExecutor]]:
    """One single-thread executor per name; on leaving, work not yet begun is cancelled."""
    executors = [ThreadPoolExecutor(1, thread_name_prefix=name) for name in names]
    try:
        yield executors
    finally:
        for executor in executors:
            executor.shutdown(wait=True, cancel_futures=True)


class Denoiser:
    """A model loaded and traced once, applied to any number of stacks.

    Parameters
    ----------
    description
        The model (see ``model.describe_model``).
    precision
        Compute precision of the network: fp32, bf16, fp16 or auto (see ``precision``);
        ``self.precision`` is the one resolved, for the output's provenance.
    allow_emulated
        For tests and benchmarks only: run a reduced precision the hardware only emulates.
    """

    def __init__(self, description: ModelDescription, precision: str = "fp32", *, allow_emulated: bool = False):
        if description.n_channels != 1 or description.axes not in ("YX", "XY", "ZYX"):
            raise ModelError(
                f"The model {description.folder} is a {description.axes} model with {description.n_channels} channels: "
                f"imagej-n2v applies 2D single-channel models plane by plane and 3D ones volume by volume; train one "
                f"with imagej-n2v train."
            )
        import tensorflow as tf

        from ..models.precision import keep_ends_float32, network_precision

        self.description = description
        self.per_plane = description.normalization in (PER_PLANE, PER_VOLUME)
        self.div_by = 2**description.depth
        self.context = context_for(description.depth, description.kernel, description.blurpool)
        with network_precision(precision, allow_emulated) as resolved:
            network = build_network(description)
        self.precision = resolved
        keep_ends_float32(network)
        log.info("Model %s runs in %s precision.", description.source or description.folder, self.precision)
        self._network = tf.function(
            lambda x: network(x, training=False),
            input_signature=[tf.TensorSpec([None] * (4 if description.three_d else 3) + [1], tf.float32)],
        )
        # Traced here, once, rather than by whichever call comes first: the quality check's cost is then its own
        # (measured: the trace is 0.13 s of CPU, 2.5 % of denoising ten 512x512 planes, which a cold check paid).
        self._network(tf.zeros([1] + [self.div_by] * (3 if description.three_d else 2) + [1]))

    def provenance(self) -> str:
        """The denoised image's ImageJ Info: which model and which precision made it."""
        model = self.description.source or self.description.folder
        return f"imagej-n2v {__version__}: denoised with {model.name}, precision {self.precision}"

    def predict(self, patches: np.ndarray) -> np.ndarray:
        """The network on (N, H, W) normalised patches (H, W divisible by ``div_by``), in groups of ``BATCH_PIXELS``."""
        group = max(1, BATCH_PIXELS // (patches.shape[1] * patches.shape[2]))
        return np.concatenate([self._network(np.ascontiguousarray(patches[i : i + group, ..., np.newaxis], np.float32))
                               .numpy()[..., 0] for i in range(0, len(patches), group)])

    def normalization_for(self, kept: np.ndarray | PlaneReader) -> Normalization:
        if self.per_plane:
            return plane_normalization(kept)
        return Normalization(self.description.global_mean, self.description.global_std)

    def tiling(self, height: int, width: int, tile_size: int | None = None, source: str = "The image") -> Tiling:
        """Whether planes of ``height`` x ``width`` go through the network whole or in tiles, and which.

        ``tile_size`` (the setting) gives the tiles' side, rounded down to the network's grid
        (``2**unet_depth``); planes it holds whole are not tiled. Without it a plane is tiled
        only when one call on it would need more than the memory budget, and never a plane of
        ``BATCH_PIXELS`` or fewer, so small planes keep the batched path and its exact output.
        """
        padded = [n + (-n) % self.div_by for n in (height, width)]
        if tile_size is not None:
            side = tile_size // self.div_by * self.div_by
            smallest = smallest_tile(self.context, self.div_by)
            if side < smallest:
                radius = receptive_radius(self.description.depth, self.description.kernel, blurpool=self.description.blurpool)
                raise InputError(
                    f"The option tile_size must be at least {smallest} for the model "
                    f"{(self.description.source or self.description.folder).name} (its network sees {radius} pixels "
                    f"to each side, so each tile keeps {self.context} of context), not {tile_size}."
                )
            return Tiling(None if max(padded) <= side else (side, side), memory_budget().seen, source)
        budget = memory_budget()
        allowed = max(budget.bytes // network_bytes(1, self.description.first_filters), BATCH_PIXELS)
        if padded[0] * padded[1] <= allowed:
            return Tiling(None, budget.seen, source)
        allowed = min(allowed, TILE_PIXELS)
        side = tile_side_for(allowed, 2, self.context, self.div_by)
        if min(padded) < side:  # a long thin plane: the short side whole, the long one as far as allowed
            short = int(np.argmin(padded))
            long = max(allowed // padded[short] // self.div_by * self.div_by, smallest_tile(self.context, self.div_by))
            tile = (padded[0], long) if short == 0 else (long, padded[1])
        else:
            tile = (side, side)
        log.info("%s: planes of %dx%d go through the network in tiles of at most %dx%d (a whole plane would need %s; %s, "
                 "a share of it per call).", source, height, width, *tile,
                 size_text(network_bytes(padded[0] * padded[1], self.description.first_filters)), budget.seen)
        return Tiling(tile, budget.seen, source)

    def _prepare(self, stack: PlaneStack, index: PlaneIndex, channels: Sequence[int] | None, keep_zero: bool,
                 tiling: Tiling, number: int) -> _Prepared:
        banded = tiling.tile is not None  # planes this large are read a region at a time, handed on in bands
        plane = stack.plane_source(index) if banded else stack.plane(index)
        if channels is not None and index.c not in channels:
            return _Prepared(index, plane, None, banded=banded)
        columns = kept_columns(plane, keep_zero)
        if columns is None:
            return _Prepared(index, plane, None, banded=banded)
        kept = kept_part(plane, columns)
        normalization = self.normalization_for(kept)
        if banded and any(n + (-n) % self.div_by > t for n, t in zip(kept.shape, tiling.tile)):
            return _Prepared(index, plane, columns, normalization, number=number, banded=True)  # tiles: normalised as they go
        data = normalization.apply(np.asarray(kept))
        pad = tuple(_split((-size) % self.div_by) for size in data.shape)
        if any(sum(p) for p in pad):
            data = np.pad(data, pad, mode="reflect")
        return _Prepared(index, plane, columns, normalization, data, pad, banded=banded)  # type: ignore[arg-type]

    def _apply(self, batch: np.ndarray) -> np.ndarray:
        """The network on (N, H, W, 1) float32, as numpy."""
        return self._network(batch).numpy()

    def _call(self, batch: np.ndarray, tiling: Tiling, tiled: bool) -> np.ndarray:
        """The network on ``batch`` (N, H, W), or (N, Z, H, W) for a 3D model, or a sentence when memory runs out."""
        import tensorflow as tf

        try:
            return averaged(self._apply, tiling.turns)(batch[..., np.newaxis])[..., 0]
        except (tf.errors.ResourceExhaustedError, MemoryError):
            shape = batch.shape[1:]
            smaller = max(max(shape) // 2 // self.div_by * self.div_by, smallest_tile(self.context, self.div_by))
            what = ("tile" if tiled else "volume") if len(shape) == 3 else ("tile" if tiled else "plane")
            raise OutOfMemory(
                f"{tiling.source}: the network ran out of memory on a {'x'.join(map(str, shape))} {what} "
                f"({size_text(network_bytes(batch.size, self.description.first_filters))} needed, {tiling.seen} seen): "
                f"give a smaller --tile-size (tile_size in ImageJ), e.g. {smaller}, or close other programs."
            ) from None

    def _run(self, batch: list[_Prepared], tiling: Tiling) -> list[np.ndarray]:
        """Network outputs (float32, input units) for prepared planes of one padded shape."""
        result = self._call(np.stack([p.padded for p in batch]), tiling, tiled=False)
        outputs = []
        for prepared, predicted in zip(batch, result):
            (top, bottom), (left, right) = prepared.pad
            height, width = prepared.padded.shape
            crop = np.ascontiguousarray(predicted[top : height - bottom, left : width - right])
            if self.per_plane:
                # A network trained for minutes carries a global offset (measured: +0.05 std, a
                # +3% mean shift); the noisy plane's own mean already estimates the clean mean.
                crop += np.float32(prepared.padded[top : height - bottom, left : width - right].mean() - crop.mean())
            outputs.append(prepared.normalization.invert(crop))
        return outputs

    def _run_tiled(self, prepared: _Prepared, tiling: Tiling,
                   on_tile: Callable[[int, int, int], None] | None) -> Iterator[np.ndarray]:
        """The network output of one plane too large for one call, tile by tile: float32 bands of its kept
        columns in the input's units, top to bottom, read back as they are taken.

        Each tile is read from the plane with its reflect padding (its window only, see
        ``read_window``), normalised with the whole plane's statistics, and only its core is kept:
        the same values as ``_run`` on the whole. Cores go to a ``ScratchPlane`` rather than into
        memory; ``_run``'s mean correction needs the mean of the whole output, summed as the cores
        come, so it and the inverse normalisation are applied to each band as it is read back.
        """
        kept = kept_part(prepared.plane, prepared.columns)
        normalization = prepared.normalization
        scratch = ScratchPlane(kept.shape)
        total = 0.0
        tiles = plan_tiles(kept.shape, tiling.tile, self.context, self.div_by)
        for done, tile in enumerate(tiles, 1):
            window = normalization.apply(read_window(kept, tile, self.div_by))
            core = self._call(window[np.newaxis], tiling, tiled=True)[0][tile.crop]
            scratch.write(tile.core, core)
            total += float(core.sum(dtype=np.float64))
            if on_tile:
                on_tile(prepared.number, done, len(tiles))
        if not self.per_plane:
            return scratch.bands(normalization.invert)
        # as in ``_run``: the normalised plane's mean, from the plane itself
        mean = (plane_mean(kept) - normalization.mean) / normalization.std
        shift = np.float32(mean - total / (kept.shape[0] * kept.shape[1]))

        def finish(band: np.ndarray) -> np.ndarray:
            band += shift
            return normalization.invert(band)

        return scratch.bands(finish)

    @staticmethod
    def _assemble(prepared: _Prepared, denoised: np.ndarray | Iterator[np.ndarray] | None,
                  convert: PlaneConverter) -> np.ndarray | BandedPlane:
        if prepared.banded:
            return Denoiser._assemble_bands(prepared, denoised, convert)
        if prepared.columns is None:
            if convert.dtype == np.uint16 and prepared.plane.dtype == np.uint16:
                return prepared.plane  # already what a 16-bit output holds: no float round trip
            return convert(prepared.plane.astype(np.float32), prepared.plane)
        if denoised.shape == prepared.plane.shape:  # every column kept: no second plane-sized buffer
            return convert(denoised, prepared.plane)
        full = np.zeros(prepared.plane.shape, dtype=np.float32)
        full[:, prepared.columns] = denoised
        return convert(full, prepared.plane)

    @staticmethod
    def _assemble_bands(prepared: _Prepared, denoised: np.ndarray | Iterator[np.ndarray] | None,
                        convert: PlaneConverter) -> BandedPlane:
        """``_assemble`` for a plane of a tiled stack: the output in bands, converted as they are taken."""
        plane = prepared.plane
        if prepared.columns is None:  # passed through: uint16 as it is, others copied before conversion
            bands = row_bands(plane) if plane.dtype == np.uint16 else (b.astype(np.float32) for b in row_bands(plane))
        else:
            bands = widened(row_bands(denoised) if isinstance(denoised, np.ndarray) else denoised, prepared.columns,
                            plane.shape[1])
        return BandedPlane(convert.bands(bands, plane), plane.shape, convert.dtype)

    def _finish(self, batch: list[_Prepared], convert: PlaneConverter, tiling: Tiling,
                on_tile: Callable[[int, int, int], None] | None) -> tuple[list[np.ndarray], int]:
        """Output planes of one batch (one network call for those that need it, or one per tile of a
        tiled plane), and how many were denoised."""
        work = [p for p in batch if p.columns is not None]
        if len(work) == 1 and work[0].padded is None:
            outputs = iter([self._run_tiled(work[0], tiling, on_tile)])
        else:
            outputs = iter(self._run(work, tiling) if work else [])
        return [self._assemble(p, next(outputs) if p.columns is not None else None, convert) for p in batch], len(work)

    def denoise_planes(
        self,
        stack: PlaneStack,
        frames: Sequence[int] | None = None,
        channels: Sequence[int] | None = None,
        bit_depth: str | int = "auto",
        batch_planes: int = 4,
        keep_zero_columns: bool = False,
        progress: Callable[[int, int], None] | None = None,
        planes: slice | None = None,
        tile_size: int | None = None,
        on_tile: Callable[[int, int, int], None] | None = None,
        tta: bool = False,
    ) -> Iterator[np.ndarray | BandedPlane]:
        """Yield the output planes of ``stack`` in ImageJ order (C fastest, then Z, then T): arrays, or
        for a stack that goes in tiles ``BandedPlane`` s (take each one's bands before the next plane;
        ``data.bands.whole`` makes an array of one).

        ``frames`` and ``channels`` are 0-based; channels not chosen are passed through
        unchanged (converted to the output type), frames not chosen are left out. The planes'
        type follows ``bit_depth`` and the input's type (see ``output_types``).
        ``planes`` picks a run of the output planes (a cluster's unit of work); a run that
        starts at a multiple of ``batch_size`` is batched as in the whole stack.
        Planes too large for one network call go in tiles (see ``tiling``; ``tile_size`` sets
        their side); ``on_tile(plane, done, total)`` is called, from the computing thread, after
        each tile of such a plane (``plane`` 1-based among the planes taken). ``tta`` averages the
        network over the flips and quarter turns of each plane or tile (see ``tta``).

        Planes are read and prepared in one thread and run through the network in another,
        each a few batches ahead of the caller, so reading, computing and writing overlap.
        A 3D model denoises each chosen (frame, channel) as a volume instead (``volumes``); a
        stack it cannot denoise (no Z, too few slices) is refused here, before any plane.
        """
        if self.description.three_d:
            check_volumes(self, stack)
            return denoise_volumes(self, stack, frames, channels, bit_depth, keep_zero_columns, progress, planes,
                                   tile_size, tta)
        return self._denoise_planes(stack, frames, channels, bit_depth, batch_planes, keep_zero_columns, progress, planes,
                                    tile_size, on_tile, tta)

    def _denoise_planes(self, stack: PlaneStack, frames: Sequence[int] | None, channels: Sequence[int] | None,
                        bit_depth: str | int, batch_planes: int, keep_zero_columns: bool,
                        progress: Callable[[int, int], None] | None, planes: slice | None, tile_size: int | None,
                        on_tile: Callable[[int, int, int], None] | None, tta: bool) -> Iterator[np.ndarray | BandedPlane]:
        """The 2D path of ``denoise_planes``: plane by plane, batched and streamed."""
        convert = PlaneConverter(stack.dtype, bit_depth, stack.source)
        indices = list(stack.indices(frames))[planes or slice(None)]
        size = batch_size(batch_planes, stack.height, stack.width)
        tiling = self.tiling(stack.height, stack.width, tile_size, stack.source)
        if tta:
            tiling = replace(tiling, turns=tuple(model_orientations(self.description)))
        ahead = 1 if tiling.tile else QUEUE_DEPTH  # a plane worth tiling is large: one ahead in each stage
        finished = denoised = 0  # denoised: planes that went through the network
        with _single_threads("n2v-read", "n2v-compute") as (reader, computer):
            prepared = prefetch(reader, (partial(self._prepare, stack, i, channels, keep_zero_columns, tiling, n)
                                         for n, i in enumerate(indices, 1)), ahead * size)
            batches = (partial(self._finish, batch, convert, tiling, on_tile) for batch in _batches(prepared, size))
            for outputs, count in prefetch(computer, batches, ahead):
                denoised += count
                for plane in outputs:
                    yield plane
                    finished += 1
                    if progress:
                        progress(finished, len(indices))
        if not denoised:
            raise NothingToDenoise.in_stack(stack.source)
        convert.report()

    def denoise(self, array: np.ndarray, axes: str, **options) -> np.ndarray:
        """Denoise a whole in-memory array; returns an array with the same axes order.

        Accepts the keyword options of ``denoise_planes``. Frames not chosen are dropped.
        """
        stack = PlaneStack(array, axes)
        dtype = output_dtype(stack.dtype, options.get("bit_depth", "auto"))
        return gather(self.denoise_planes(stack, **options), stack, options.get("frames"), dtype)


@lru_cache(maxsize=4)
def _cached_denoiser(folder: str, mtime: float, precision: str) -> Denoiser:
    return Denoiser(describe_model(folder), precision)


def model_loads() -> int:
    """How many times a model was loaded (not found warm) in this process: a batch of files loads it once."""
    return _cached_denoiser.cache_info().misses


def load_denoiser(model: str | Path, precision: str = "fp32") -> Denoiser:
    """A warm ``Denoiser`` for ``model``: loaded and traced once per session, reused after.

    The cache key includes the model's modification time, so a retrained model is reloaded.
    """
    from ..models.precision import resolve_precision
    from ..versions import check_environment

    check_environment()
    precision = resolve_precision(precision)
    path = Path(model).resolve()
    if not path.exists():
        raise ModelError(f"The model {model} does not exist: give an n2v model folder or a bioimage.io zip.")
    config = path / "config.json" if path.is_dir() else path
    mtime = config.stat().st_mtime if config.exists() else path.stat().st_mtime
    return _cached_denoiser(str(path), mtime, precision)
