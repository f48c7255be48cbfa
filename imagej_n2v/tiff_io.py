"""TIFF hyperstacks in and out, plane by plane, with ImageJ's metadata kept.

Reading never loads a whole stack: uncompressed files are memory-mapped, others are read page
by page on demand. Writing streams planes into a temporary file beside the target and renames
it into place only when complete, so a crash or a full disk never leaves a truncated image and
an existing file is replaced only when asked to.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import tifffile

from .axes import axes_examples, imagej_order, normalize_axes
from .errors import AxesError, InputError, OutputError
from .stack import PlaneStack
from .system import share_like_plain_files

log = logging.getLogger(__name__)

TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass
class Calibration:
    """Physical sizes and display settings that travel from the input to the output."""

    pixel_width: float = 1.0
    pixel_height: float = 1.0
    unit: str = "pixel"
    z_spacing: float | None = None
    frame_interval: float | None = None
    display: dict[str, Any] = field(default_factory=dict)  # ImageJ 'mode', 'LUTs', 'Ranges'


@dataclass
class TiffImage:
    """An opened image: lazy pixels, their axes as in the file, and its calibration."""

    path: Path
    stack: PlaneStack
    calibration: Calibration
    is_imagej: bool

    @property
    def axes(self) -> str:
        return self.stack.axes


def _damaged(path: Path, exc: BaseException) -> InputError:
    return InputError(f"{path} is damaged or truncated ({exc}): copy the file again from its source.")


class PagedTiff:
    """Array-like over a TIFF series whose planes are its pages; reads one page per index.

    A page whose pixels cannot be read (cut off, bad compression) raises an ``InputError``
    naming the file when that plane is reached, so a large stack is never read up front.
    """

    def __init__(self, tif: tifffile.TiffFile, series: tifffile.TiffPageSeries):
        self._tif = tif
        self._pages = series.pages
        self.shape = tuple(series.shape)
        self.dtype = series.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, key: tuple) -> np.ndarray:
        outer = key[:-2]
        page = int(np.ravel_multi_index(outer, self.shape[:-2])) if outer else 0
        try:
            return self._pages[page].asarray()[key[-2:]]
        except Exception as exc:  # tifffile, imagecodecs and numpy raise many types
            raise _damaged(Path(self._tif.filehandle.path), exc) from None


class ContiguousTiff:
    """Array-like over uncompressed, contiguous pixels; reads each plane with one file read.

    A memory map would do the same job, but every page it touches stays counted in the
    process's resident memory, so denoising a 6 GB stack would show 6 GB of RSS. Reading a
    plane into a fresh array keeps memory at the planes in use. Indexing other than one
    whole plane (integers for all but the last two axes) goes through the memory map.
    """

    def __init__(self, mapped: np.memmap):
        self._mapped = mapped
        self.shape = tuple(mapped.shape)
        self.dtype = mapped.dtype
        self.ndim = len(self.shape)
        self._plane_shape = self.shape[-2:]
        self._plane_bytes = int(np.prod(self._plane_shape)) * self.dtype.itemsize
        self._file = open(mapped.filename, "rb", buffering=0)
        self._lock = threading.Lock()

    def __getitem__(self, key: tuple) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        outer, inner = key[:-2], key[-2:]
        whole_plane = len(key) == self.ndim and all(k == slice(None) for k in inner)
        if not whole_plane or not all(isinstance(k, (int, np.integer)) for k in outer):
            return np.array(self._mapped[key])
        plane = np.empty(self._plane_shape, self.dtype)
        number = int(np.ravel_multi_index(outer, self.shape[:-2])) if outer else 0
        with self._lock:
            self._file.seek(self._mapped.offset + number * self._plane_bytes)
            read = self._file.readinto(memoryview(plane.reshape(-1).view(np.uint8)))
        if read != self._plane_bytes:
            raise InputError(f"{self._mapped.filename} ends inside plane {number + 1}: copy the file again from its source.")
        return plane

    def __array__(self, dtype=None) -> np.ndarray:
        return np.asarray(self._mapped, dtype)

    def __del__(self) -> None:
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()


def find_tiffs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders (all TIFFs directly inside) into a sorted list of files."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            tiffs = sorted(p for p in path.iterdir() if p.suffix.lower() in TIFF_SUFFIXES and p.is_file())
            if not tiffs:
                raise InputError(f"The folder {path} contains no TIFF files (.tif or .tiff).")
            found.extend(tiffs)
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"{path} does not exist: check the path.")
    return found


def _check_complete(path: Path, tif: tifffile.TiffFile, series: tifffile.TiffPageSeries) -> None:
    """Refuse a file cut short: fewer planes than its metadata promises, or pixels past its end.

    tifffile only logs a warning for a broken page chain and returns the planes it found, so a
    truncated stack would otherwise be denoised as a shorter one.
    """
    planes = int(np.prod(series.shape[:-2])) if len(series.shape) > 2 else 1
    promised = int((tif.imagej_metadata or {}).get("images", 0) or 0)
    if tif.shaped_metadata:
        shaped = tif.shaped_metadata[0].get("shape")
        promised = max(promised, int(np.prod(shaped[:-2])) if shaped and len(shaped) > 2 else 0)
    if promised > planes:
        raise InputError(
            f"{path} is truncated: its metadata promises {promised} planes but only {planes} can be read; "
            f"copy the file again from its source."
        )
    size = tif.filehandle.size
    try:
        pages = [p for p in series.pages if p is not None and hasattr(p, "dataoffsets")]
    except (IndexError, ValueError, OSError) as exc:  # the series promises pages the file lacks
        raise InputError(f"{path} is truncated: planes are missing ({exc}); copy the file again from its source.") from None
    ends = [o + n for p in pages for o, n in zip(p.dataoffsets, p.databytecounts) if o]
    if series.dataoffset:
        ends.append(series.dataoffset + series.nbytes)
    if ends and max(ends) > size:
        raise InputError(
            f"{path} is truncated: its pixel data runs {max(ends) - size} bytes past the end of the file; "
            f"copy the file again from its source."
        )


def _calibration(tif: tifffile.TiffFile) -> Calibration:
    meta = tif.imagej_metadata or {}
    page = tif.pages.first
    cal = Calibration(unit=str(meta.get("unit", "pixel")))
    for attr, tag in (("pixel_width", "XResolution"), ("pixel_height", "YResolution")):
        value = page.tags.get(tag)
        if value is not None:
            num, den = value.value
            if num:
                setattr(cal, attr, den / num)
    if "spacing" in meta:
        cal.z_spacing = float(meta["spacing"])
    if "finterval" in meta:
        cal.frame_interval = float(meta["finterval"])
    cal.display = {k: meta[k] for k in ("mode", "LUTs", "Ranges") if k in meta}
    return cal


def read_image(path: str | os.PathLike, axes: str | None = None) -> TiffImage:
    """Open a TIFF lazily. ImageJ hyperstacks bring their axes; other files need ``axes``.

    ``axes`` given for an ImageJ file overrides its metadata when the shape fits (useful for
    files saved with Z and C swapped).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist: check the path.")
    try:
        tif = tifffile.TiffFile(path)
        series = tif.series[0]
        file_axes = series.axes
    except Exception as exc:  # tifffile raises many types for broken files
        raise InputError(f"{path} is not a readable TIFF ({exc}): check that the file is complete.") from None
    if tif.pages.first.photometric in (tifffile.PHOTOMETRIC.RGB, tifffile.PHOTOMETRIC.PALETTE, tifffile.PHOTOMETRIC.YCBCR):
        raise InputError(
            f"{path} is an RGB image: split or convert it to channels first (Image > Color > Make Composite in ImageJ)."
        )
    shape = tuple(series.shape)
    _check_complete(path, tif, series)
    if axes:
        axes = normalize_axes(axes, shape)
    elif tif.is_imagej or set(file_axes) <= set("TZCYX"):
        axes = normalize_axes(file_axes, shape)
    elif len(shape) == 2:
        axes = "YX"
    else:
        raise AxesError(
            f"{path} has shape {shape} and no ImageJ axes: give them with --axes, e.g. {axes_examples(len(shape))} "
            f"for {len(shape)} dimensions."
        )
    try:
        data: Any = tifffile.memmap(path, mode="r", series=0)
        if tuple(data.shape) != shape:
            data = data.reshape(shape)
        data = ContiguousTiff(data)
    except (ValueError, OSError):
        data = PagedTiff(tif, series) if len(series.pages) > 1 or len(shape) == 2 else None
        if data is None or data.shape != shape:
            try:
                data = series.asarray().reshape(shape)
            except Exception as exc:  # tifffile, imagecodecs and numpy raise many types
                raise _damaged(path, exc) from None
    return TiffImage(path, PlaneStack(data, axes, source=str(path)), _calibration(tif), bool(tif.is_imagej))


def imagej_metadata(axes: str, calibration: Calibration, info: str | None = None) -> tuple[dict, dict]:
    """tifffile keyword arguments that make ImageJ show the calibration and display settings."""
    metadata: dict[str, Any] = {"axes": axes, "unit": calibration.unit}
    if calibration.z_spacing is not None:
        metadata["spacing"] = calibration.z_spacing
    if calibration.frame_interval is not None:
        metadata["finterval"] = calibration.frame_interval
    metadata.update(calibration.display)
    if info:
        metadata["Info"] = info
    extra = {"resolution": (1.0 / calibration.pixel_width, 1.0 / calibration.pixel_height)}
    return metadata, extra


def check_target(target: Path, overwrite: bool) -> None:
    """Refuse to replace an existing output unless asked to (before any work is spent on it)."""
    if target.exists() and not overwrite:
        raise OutputError(f"{target} already exists: choose another output folder or pass --overwrite.")


@contextmanager
def atomic_output(target: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only if the block succeeds."""
    target = Path(target)
    check_target(target, overwrite)
    folder = target.parent
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"The output folder {folder} is a file: choose a folder for the outputs.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=folder)
        os.close(handle)
    except OSError as exc:
        raise OutputError(f"Cannot write to the folder {folder} ({exc.strerror}): choose a writable output folder.") from None
    temp_path = Path(temp)
    try:
        yield temp_path
        share_like_plain_files(temp_path)
        os.replace(temp_path, target)
    except OSError as exc:  # numpy's short writes on a full disk carry no errno, only a message
        reason = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc))
        raise OutputError(f"Writing {target} failed ({reason}): free disk space or choose another folder.") from None
    finally:
        temp_path.unlink(missing_ok=True)


def write_planes(
    target: Path,
    planes: Iterable[np.ndarray],
    axes: str,
    shape: tuple[int, ...],
    dtype: np.dtype,
    calibration: Calibration,
    overwrite: bool = False,
    info: str | None = None,
) -> Path:
    """Stream planes (ImageJ order: C fastest, then Z, then T) into an ImageJ hyperstack TIFF.

    ``axes`` must be in ImageJ order (see ``imagej_order``); ``shape`` is the full shape.
    """
    if axes != imagej_order(axes):
        raise ValueError(f"axes {axes} are not in ImageJ order")
    metadata, extra = imagej_metadata(axes, calibration, info)
    with atomic_output(target, overwrite) as temp:
        with tifffile.TiffWriter(temp, imagej=True) as writer:
            writer.write(iter(planes), shape=shape, dtype=dtype, metadata=metadata, **extra)
    return target


def output_shape(stack: PlaneStack, axes: str, frames: int | None = None) -> tuple[int, ...]:
    """The shape of ``stack`` in ``axes`` (ImageJ order), with ``frames`` frames if given."""
    sizes = {"T": stack.frames if frames is None else frames, "Z": stack.slices, "C": stack.channels,
             "Y": stack.height, "X": stack.width}
    return tuple(sizes[a] for a in axes)


def write_image(
    target: str | os.PathLike,
    array: np.ndarray,
    axes: str,
    calibration: Calibration | None = None,
    overwrite: bool = False,
    info: str | None = None,
) -> Path:
    """Write a whole array (any axes order) as an ImageJ hyperstack TIFF in ImageJ order."""
    stack = PlaneStack(array, axes, check_finite=False)
    out_axes = stack.canonical_dims()
    shape = output_shape(stack, out_axes)
    planes = (stack.plane(i) for i in stack.indices())
    return write_planes(Path(target), planes, out_axes, shape, array.dtype, calibration or Calibration(), overwrite, info)
