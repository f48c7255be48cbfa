"""TIFF hyperstacks in and out, plane by plane, with ImageJ's metadata kept.

Reading never loads a whole stack: uncompressed files are memory-mapped, others are read page
by page on demand. Writing streams planes into a temporary file beside the target and renames
it into place only when complete, so a crash or a full disk never leaves a truncated image and
an existing file is replaced only when asked to.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from xml.etree import ElementTree

import numpy as np
import tifffile

from ..atomic import atomic_output
from ..errors import AxesError, InputError
from .axes import axes_examples, imagej_order, normalize_axes
from .bands import BandedPlane, PlaneReader, applied, row_bands
from .stack import PlaneStack

log = logging.getLogger(__name__)

TIFF_SUFFIXES = (".tif", ".tiff")
BIOFORMATS_SUFFIXES = (".czi", ".nd2", ".lif", ".lof", ".oib", ".oif", ".oir", ".vsi", ".ims", ".zvi", ".dv", ".r3d",
                       ".ics", ".ids", ".sld", ".mvd2", ".stk", ".nd")
"""Microscope formats that only Bio-Formats reads (Zeiss LSM files are TIFFs: tifffile reads those)."""
_OPEN_IN_FIJI = ("open {it} in Fiji (File > Import > Bio-Formats) and run Plugins > N2V there, "
                 "or save {it} as TIFF (File > Save As > Tiff...) first")


_STRUCTURE = {"ImageJ", "images", "channels", "slices", "frames", "hyperstack", "loop", "axes"}
"""ImageJ entries that describe the written file itself: tifffile writes them anew."""

_DISPLAY = ("mode", "LUTs", "Ranges")
_VALUE_CALIBRATION = ("cf", "c0", "c1", "c2", "c3", "c4", "vunit")
"""ImageJ's calibration function of raw pixel values (e.g. signed 16-bit: value = raw - 32768)."""

_POSITIONED = ("Overlays",)
"""Entries whose parts are tied to planes, which a choice of frames renumbers."""

_IMAGEJ_UNITS = {"µm": "micron", "um": "micron", "μm": "micron", "Å": "angstrom", "s": "sec"}
"""OME unit symbols -> ImageJ's words ('micron' is shown as µm, 'sec' is its default time unit)."""


def _imagej_unit(unit: str) -> str:
    """An OME unit as ImageJ's TIFF description holds it: ImageJ's word, in ASCII (µs -> us)."""
    unit = _IMAGEJ_UNITS.get(unit, unit).replace("µ", "u").replace("μ", "u")
    return unit.encode("ascii", "replace").decode("ascii")


@dataclass
class Calibration:
    """What travels from the input to the output beside the pixels.

    Physical sizes, display settings, ImageJ's Info and slice labels, and every other ImageJ
    entry (``extra``: units of Y, Z and time, origins, the value calibration function, the
    display range, Properties, overlays and ROIs), kept as they are.
    """

    pixel_width: float = 1.0
    pixel_height: float = 1.0
    unit: str = "pixel"
    z_spacing: float | None = None
    frame_interval: float | None = None
    display: dict[str, Any] = field(default_factory=dict)  # ImageJ 'mode', 'LUTs', 'Ranges'
    extra: dict[str, Any] = field(default_factory=dict)
    info: str | None = None  # ImageJ's Info (Image > Show Info)
    labels: list[str] | None = None  # one per plane, ImageJ order (C fastest, then Z, then T)
    channel_names: list[str] | None = None  # from OME-XML; written as slice labels when there are none


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
        self._read_at(self._mapped.offset + number * self._plane_bytes, number, 0,
                      memoryview(plane.reshape(-1).view(np.uint8)))
        return plane

    def plane_reader(self, outer: tuple[int, ...], check: Callable[[np.ndarray], None] | None = None) -> PlaneReader:
        """The plane at ``outer`` (integers for all but the last two axes), read a region at a time."""
        number = int(np.ravel_multi_index(outer, self.shape[:-2])) if outer else 0
        start = self._mapped.offset + number * self._plane_bytes
        return PlaneReader(partial(self._read_at, start, number), self._plane_shape, self.dtype, check)

    def _read_at(self, start: int, number: int, offset: int, buffer: memoryview) -> None:
        with self._lock:
            self._file.seek(start + offset)
            read = self._file.readinto(buffer)
        if read != len(buffer):
            raise InputError(f"{self._mapped.filename} ends inside plane {number + 1}: copy the file again from its source.")

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
            files = sorted(p for p in path.iterdir() if p.is_file())
            tiffs = [p for p in files if p.suffix.lower() in TIFF_SUFFIXES]
            others = [p.name for p in files if p.suffix.lower() in BIOFORMATS_SUFFIXES]
            if not tiffs:
                also = f"; {', '.join(others)} only Bio-Formats reads: " + _OPEN_IN_FIJI.format(it="them") if others else ""
                raise InputError(f"The folder {path} contains no TIFF files (.tif or .tiff){also}.")
            if others:
                log.warning("%s: skipped %s, which only Bio-Formats reads: %s.", path, ", ".join(others),
                            _OPEN_IN_FIJI.format(it="them"))
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


def _calibration(tif: tifffile.TiffFile, path: Path) -> Calibration:
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
    cal.display = {k: meta[k] for k in _DISPLAY if k in meta}
    cal.info = meta.get("Info")
    labels = meta.get("Labels")
    cal.labels = list(labels) if labels else None
    handled = _STRUCTURE | set(_DISPLAY) | {"unit", "spacing", "finterval", "Info", "Labels"}
    cal.extra = {k: v for k, v in meta.items() if k not in handled}
    if tif.is_ome and tif.ome_metadata:
        _read_ome(tif.ome_metadata, cal, path)
    return cal


def _read_ome(xml: str, cal: Calibration, path: Path) -> None:
    """Physical sizes, time increment and channel names of the first OME image, as ImageJ holds them.

    Sizes an ImageJ description already gave are kept; OME's default units (µm, s) apply
    where the XML names none.
    """
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        log.warning("%s: its OME-XML cannot be read (%s): pixel sizes and channel names are not carried over.",
                    path.name, exc)
        return
    pixels = root.find("{*}Image/{*}Pixels")
    if pixels is None:
        return

    def size(name: str) -> tuple[float, str] | None:
        value = pixels.get(f"PhysicalSize{name}")
        return (float(value), _imagej_unit(pixels.get(f"PhysicalSize{name}Unit", "µm"))) if value else None

    x, y, z = size("X"), size("Y"), size("Z")
    increment = pixels.get("TimeIncrement")
    names = [c.get("Name") or "" for c in pixels.findall("{*}Channel")]
    found = [what for what, value in (("pixel size", x), ("z step", z), ("time increment", increment),
                                      ("channel names", any(names))) if value]
    if x and cal.unit in ("pixel", ""):
        cal.pixel_width, cal.unit = x
        cal.pixel_height = y[0] if y else x[0]
        if y and y[1] != x[1]:
            cal.extra["yunit"] = y[1]
    if z and cal.z_spacing is None:
        cal.z_spacing = z[0]
        if z[1] != cal.unit:
            cal.extra["zunit"] = z[1]
    if increment and cal.frame_interval is None:
        cal.frame_interval = float(increment)
        unit = _imagej_unit(pixels.get("TimeIncrementUnit", "s"))
        if unit != "sec":
            cal.extra["tunit"] = unit
    if any(names):
        cal.channel_names = names
    log.info("%s: from its OME-XML, %s %s carried over as ImageJ calibration and slice labels; the rest of it "
             "(instrument, acquisition settings, positions) is not.",
             path.name, ", ".join(found) or "nothing", "is" if len(found) < 2 else "are")


def read_image(path: str | os.PathLike, axes: str | None = None) -> TiffImage:
    """Open a TIFF lazily. ImageJ hyperstacks bring their axes; other files need ``axes``.

    ``axes`` given for an ImageJ file overrides its metadata when the shape fits (useful for
    files saved with Z and C swapped).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist: check the path.")
    if path.suffix.lower() in BIOFORMATS_SUFFIXES:
        raise InputError(f"{path} is a {path.suffix} file, which only Bio-Formats reads: {_OPEN_IN_FIJI.format(it='it')}.")
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
    stack, calibration = PlaneStack(data, axes, source=str(path)), _calibration(tif, path)
    if calibration.z_spacing is not None and stack.slices > 1:
        stack.spacing = (calibration.z_spacing, calibration.pixel_width)
    return TiffImage(path, stack, calibration, bool(tif.is_imagej))


def for_output(
    calibration: Calibration, stack: PlaneStack, frames: list[int] | None, dtype: np.dtype
) -> tuple[Calibration, Callable[[np.ndarray], np.ndarray] | None]:
    """The output's calibration for ``frames`` of ``stack`` written as ``dtype``, and a plane transform.

    Slice labels follow the chosen frames (channel names become labels where there are
    none). Overlays, tied to planes, are kept only when every frame is written. A float output
    of integer pixels with ImageJ's straight-line value calibration (signed 16-bit images are
    stored so) gets the calibrated values, which is what ImageJ's own 32-bit conversion does;
    the transform returned does that to each output plane. Whatever cannot be kept is logged.
    """
    out = replace(calibration, extra=dict(calibration.extra), display=dict(calibration.display), channel_names=None)
    source = Path(stack.source).name
    per_frame = stack.slices * stack.channels
    labels = calibration.labels
    if labels is None and calibration.channel_names:
        if len(calibration.channel_names) == stack.channels:
            labels = list(calibration.channel_names) * (stack.slices * stack.frames)
        else:
            log.warning("%s: its %d channel names do not match its %d channels and are not kept.",
                        source, len(calibration.channel_names), stack.channels)
    if labels is not None and len(labels) != len(stack):
        log.warning("%s: its %d slice labels do not match its %d planes and are not kept.", source, len(labels), len(stack))
        labels = None
    if labels is not None and frames is not None:
        labels = [labels[t * per_frame + i] for t in frames for i in range(per_frame)]
    out.labels = labels
    if frames is not None and list(frames) != list(range(stack.frames)):
        for key in _POSITIONED:
            if out.extra.pop(key, None) is not None:
                log.warning("%s: its overlay is not kept: it is tied to planes and only some frames were written.", source)
    transform = None
    if np.dtype(dtype).kind == "f" and stack.dtype.kind in "ui" and "cf" in out.extra:
        function = {k: out.extra.pop(k) for k in _VALUE_CALIBRATION if k in out.extra}
        if int(function["cf"]) == 0 and "c0" in function and "c1" in function:  # Calibration.STRAIGHT_LINE
            offset, slope = float(function["c0"]), float(function["c1"])
            transform = lambda plane: np.add(offset, slope * plane, dtype=np.float32)  # noqa: E731
            for key in ("min", "max", "Ranges"):  # display ranges were in raw units
                out.extra.pop(key, None)
                out.display.pop(key, None)
            log.info("%s: its value calibration (%g + %g x raw) is applied: the float output holds calibrated values.",
                     source, offset, slope)
        else:
            log.warning("%s: its value calibration function (ImageJ function %s) is not kept in a float output; "
                        "use bit depth 16 to keep it.", source, function["cf"])
    return out, transform


def carried(calibration: Calibration) -> list[str]:
    """What, beyond pixel size and display settings, an output of this input is given (for ``info``)."""
    names = [("ImageJ Info", calibration.info), ("slice labels", calibration.labels),
             (f"channel names {', '.join(calibration.channel_names or [])}", calibration.channel_names)]
    names += [(what, key in calibration.extra) for key, what in (
        ("Properties", "properties"), ("Overlays", "overlay"), ("ROI", "ROI"), ("cf", "value calibration"))]
    return [what for what, present in names if present]


def imagej_metadata(axes: str, calibration: Calibration, info: str | None = None) -> tuple[dict, dict]:
    """tifffile keyword arguments that make ImageJ show the calibration and display settings.

    ``info`` (what made the output) is added below the input's own Info.
    """
    metadata: dict[str, Any] = {"axes": axes, "unit": calibration.unit}
    if calibration.z_spacing is not None:
        metadata["spacing"] = calibration.z_spacing
    if calibration.frame_interval is not None:
        metadata["finterval"] = calibration.frame_interval
    metadata.update(calibration.extra)
    metadata.update(calibration.display)
    if calibration.labels:
        metadata["Labels"] = calibration.labels
    info = "\n".join(i for i in (calibration.info, info) if i)
    if info:
        metadata["Info"] = info
    extra = {"resolution": (1.0 / calibration.pixel_width, 1.0 / calibration.pixel_height)}
    return metadata, extra


def write_planes(
    target: Path,
    planes: Iterable[np.ndarray | BandedPlane],
    axes: str,
    shape: tuple[int, ...],
    dtype: np.dtype,
    calibration: Calibration,
    overwrite: bool = False,
    info: str | None = None,
) -> Path:
    """Stream planes (ImageJ order: C fastest, then Z, then T) into an ImageJ hyperstack TIFF.

    ``axes`` must be in ImageJ order (see ``imagej_order``); ``shape`` is the full shape. When the
    first plane is a ``BandedPlane`` (a tiled stack), every plane goes to the file band by band as
    bytes: tifffile writes an uncompressed series contiguously, so the file is the same, byte for
    byte, as one written from whole planes, and no plane is held whole.
    """
    if axes != imagej_order(axes):
        raise ValueError(f"axes {axes} are not in ImageJ order")
    metadata, extra = imagej_metadata(axes, calibration, info)
    with atomic_output(target, overwrite) as temp:
        planes = iter(planes)
        first = next(planes, None)
        data = chain([] if first is None else [first], planes)
        if isinstance(first, BandedPlane):
            data = _band_bytes(data, np.dtype(dtype))
        with tifffile.TiffWriter(temp, imagej=True) as writer:
            writer.write(data, shape=shape, dtype=dtype, metadata=metadata, **extra)
    return target


def _band_bytes(planes: Iterable[np.ndarray | BandedPlane], dtype: np.dtype) -> Iterator[bytes]:
    """The pixels of ``planes`` as bytes of ``dtype`` in the file's (native) byte order, a band at a time."""
    for plane in planes:
        for band in plane if isinstance(plane, BandedPlane) else row_bands(plane):
            yield np.ascontiguousarray(band, dtype).tobytes()


def write_denoised(
    target: Path,
    planes: Iterable[np.ndarray | BandedPlane],
    image: TiffImage,
    frames: list[int] | None,
    dtype: np.dtype,
    overwrite: bool = False,
    info: str | None = None,
) -> Path:
    """Write the output planes (ImageJ order) of ``frames`` of ``image`` with what the input carries.

    The one way every front door that writes files (the CLI, the cluster path) writes an output,
    so none keeps less of the input's metadata than another (see ``for_output``).
    """
    stack = image.stack
    axes = stack.canonical_dims()
    calibration, transform = for_output(image.calibration, stack, frames, dtype)
    shape = output_shape(stack, axes, None if frames is None else len(frames))
    return write_planes(Path(target), planes if transform is None else (applied(transform, p) for p in planes), axes,
                        shape, dtype, calibration, overwrite=overwrite, info=info)


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
