"""Planes too large to hold whole: read a region at a time, handed on in horizontal bands.

A 20000x20000 plane is 800 MB at 16 bits and 1.6 GB as float32; denoising it in tiles needs
neither whole. ``PlaneReader`` reads the regions a tile or a statistic needs straight from an
uncompressed file (plain reads: pages a memory map touched would stay counted in the process's
resident memory). ``ScratchPlane`` keeps a float32 plane being computed in a temporary file, so
a second pass can correct all of it by something only the whole gives (the plane's mean).
``BandedPlane`` is an output plane as its bands come, top to bottom: the TIFF writer writes
them as they come, and ``fill`` / ``whole`` assemble them where an array is needed (the Python
API, ImageJ, the cluster's pieces).
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from typing import BinaryIO, Callable, Iterable, Iterator

import numpy as np

from ..errors import OutputError

BAND_PIXELS = 2**22
"""Pixels of one band (16 MB as float32): rows enough to read and write efficiently, far below a tile's memory."""


def band_rows(width: int) -> int:
    """Rows of a band of planes ``width`` wide."""
    return max(1, BAND_PIXELS // max(width, 1))


def row_bands(plane, rows: int | None = None) -> Iterator[np.ndarray]:
    """``plane`` (an array or a ``PlaneReader``) as consecutive bands of ``rows`` rows (views of an array);
    a volume (Z, Y, X) as runs of its slices."""
    rows = rows or band_rows(int(np.prod(plane.shape[1:])))
    for start in range(0, plane.shape[0], rows):
        yield plane[start : start + rows]


def kept_part(plane, columns: slice):
    """The run of ``columns`` of ``plane``: a view of an array, a narrower ``PlaneReader``."""
    return plane.columns(columns) if isinstance(plane, PlaneReader) else plane[:, columns]


def widened(bands: Iterable[np.ndarray], columns: slice, width: int) -> Iterator[np.ndarray]:
    """Bands of the run of ``columns`` as bands ``width`` wide, zero outside the run."""
    for band in bands:
        if columns.start == 0 and columns.stop == width:
            yield band
            continue
        full = np.zeros((band.shape[0], width), band.dtype)
        full[:, columns] = band
        yield full


class PlaneReader:
    """Array-like over one plane of an uncompressed file: regions are read when sliced, nothing is kept.

    ``read(offset, buffer)`` fills ``buffer`` from the plane's bytes at ``offset``; ``check`` is
    called on every region read (float planes: refuse NaN). Indexing takes row slices, or a row
    and a column slice; ``columns`` restricts the plane to a run of columns (the kept area).
    """

    def __init__(self, read: Callable[[int, memoryview], None], shape: tuple[int, int], dtype: np.dtype,
                 check: Callable[[np.ndarray], None] | None = None, first_column: int = 0, width: int | None = None):
        self._read, self._check = read, check
        self._row_bytes = shape[1] * np.dtype(dtype).itemsize
        self._full_width, self._first = shape[1], first_column
        self.shape = (shape[0], shape[1] if width is None else width)
        self.dtype = np.dtype(dtype)
        self.ndim = 2

    def columns(self, columns: slice) -> PlaneReader:
        """The same plane restricted to ``columns`` (a slice with step 1, within this reader's columns)."""
        start, stop, _ = columns.indices(self.shape[1])
        return PlaneReader(self._read, (self.shape[0], self._full_width), self.dtype, self._check, self._first + start,
                           stop - start)

    def __getitem__(self, key) -> np.ndarray:
        rows, columns = key if isinstance(key, tuple) else (key, slice(None))
        (top, bottom, step), (left, right, column_step) = rows.indices(self.shape[0]), columns.indices(self.shape[1])
        if step != 1 or column_step != 1:
            raise ValueError("a PlaneReader reads contiguous regions only")
        region = np.empty((max(bottom - top, 0), max(right - left, 0)), self.dtype)
        left += self._first
        if region.size and region.shape[1] == self._full_width:  # whole rows: one read
            self._read(top * self._row_bytes, memoryview(region.reshape(-1).view(np.uint8)))
        elif region.size:
            for row, line in enumerate(region):
                self._read((top + row) * self._row_bytes + left * self.dtype.itemsize, memoryview(line.view(np.uint8)))
        if self._check is not None:
            self._check(region)
        return region

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        region = self[:, :]
        return region if dtype is None else region.astype(dtype, copy=False)


class ScratchPlane:
    """A float32 plane in a temporary file (``TMPDIR``), written a region at a time, read back in bands.

    The file is written with plain writes and lives in the page cache, which the system may
    drop to disk: 4 bytes per pixel there, none of it in this process's memory. It is deleted
    when read back (or when this object goes).
    """

    def __init__(self, shape: tuple[int, int]):
        self.shape = shape
        self._row_bytes = shape[1] * 4
        with self._sentence():
            self._file: BinaryIO = tempfile.TemporaryFile(prefix="imagej-n2v-", buffering=0)

    @contextmanager
    def _sentence(self) -> Iterator[None]:
        """A failing temporary file (a full or unwritable ``TMPDIR``) as one sentence that says where and how much."""
        try:
            yield
        except OSError as exc:
            size = self.shape[0] * self._row_bytes
            raise OutputError(
                f"The temporary file of a tiled plane in {tempfile.gettempdir()} failed "
                f"({exc.strerror or exc}; it takes {size / 1e9:.1f} GB): free space there or set TMPDIR to a folder "
                f"with room."
            ) from None

    def write(self, region: tuple[slice, slice], values: np.ndarray) -> None:
        """``values`` (float32) into the plane at ``region`` (two slices with step 1)."""
        values = np.ascontiguousarray(values, np.float32)
        rows, columns = region
        with self._sentence():
            if columns.start == 0 and columns.stop == self.shape[1]:
                self._at(rows.start * self._row_bytes, values)
                return
            for row, line in zip(range(rows.start, rows.stop), values):
                self._at(row * self._row_bytes + columns.start * 4, line)

    def _at(self, offset: int, values: np.ndarray) -> None:
        self._file.seek(offset)
        view = memoryview(values.reshape(-1).view(np.uint8))
        while view:
            view = view[self._file.write(view):]

    def bands(self, finish: Callable[[np.ndarray], np.ndarray] | None = None) -> Iterator[np.ndarray]:
        """The plane in bands of ``band_rows`` rows, each passed through ``finish``; the file goes after the last."""
        height, width = self.shape
        rows = band_rows(width)
        try:
            for start in range(0, height, rows):
                band = np.empty((min(rows, height - start), width), np.float32)
                with self._sentence():
                    self._file.seek(start * self._row_bytes)
                    view = memoryview(band.reshape(-1).view(np.uint8))
                    while view:
                        read = self._file.readinto(view)
                        if not read:
                            raise OSError(f"it ended at row {start}")
                        view = view[read:]
                yield band if finish is None else finish(band)
        finally:
            self._file.close()


class BandedPlane:
    """An output plane that arrives as horizontal bands, top to bottom, once.

    ``shape`` and ``dtype`` are the whole plane's; the bands come from an iterator (computed as
    they are taken). Iterate it once, or assemble it with ``whole`` / ``fill``.
    """

    def __init__(self, bands: Iterable[np.ndarray], shape: tuple[int, int], dtype: np.dtype):
        self._bands: Iterator[np.ndarray] | None = iter(bands)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._bands is None:
            raise RuntimeError("the bands of a BandedPlane were already taken")
        bands, self._bands = self._bands, None
        return bands

    def map(self, function: Callable[[np.ndarray], np.ndarray]) -> BandedPlane:
        """The same plane with ``function`` (an elementwise transform that keeps the type) applied to each band."""
        return BandedPlane(map(function, self), self.shape, self.dtype)


def fill(out: np.ndarray, plane: np.ndarray | BandedPlane) -> np.ndarray:
    """``plane`` (an array or a ``BandedPlane``) written into ``out`` of its shape, band by band."""
    if not isinstance(plane, BandedPlane):
        out[...] = plane
        return out
    row = 0
    for band in plane:
        out[row : row + len(band)] = band
        row += len(band)
    if row != out.shape[0]:
        raise ValueError(f"a banded plane gave {row} rows, not {out.shape[0]}")
    return out


def whole(plane: np.ndarray | BandedPlane) -> np.ndarray:
    """``plane`` as one array: as it is, or its bands assembled."""
    return fill(np.empty(plane.shape, plane.dtype), plane) if isinstance(plane, BandedPlane) else plane


def applied(function: Callable[[np.ndarray], np.ndarray], plane: np.ndarray | BandedPlane) -> np.ndarray | BandedPlane:
    """An elementwise ``function`` of ``plane``: of the array, or of each band."""
    if isinstance(plane, BandedPlane):
        return plane.map(function)
    return function(plane)
