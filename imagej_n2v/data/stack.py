"""A stack seen plane by plane, whatever its axes order and wherever its pixels live.

N2V here is a 2D model applied to every (frame, slice, channel) plane. ``PlaneStack`` gives
the core that view without copying the whole stack: the data can be a numpy array, a
memory-mapped TIFF, a page-by-page TIFF reader or ImageJ's own planes, as long as indexing
with integers for the non-plane axes returns one 2D plane.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ..errors import InputError
from .axes import CANONICAL, canonical_shape, from_canonical, normalize_axes
from .bands import BandedPlane, PlaneReader, fill


@dataclass(frozen=True)
class PlaneIndex:
    """0-based frame, slice and channel of a plane in TZCYX terms."""

    t: int
    z: int
    c: int


class PlaneStack:
    """Plane access to ``data`` whose dimensions are named by ``axes``.

    ``data`` needs ``shape``, ``dtype`` and integer indexing over its non-plane axes; numpy
    arrays and memmaps qualify. A stack whose X comes before Y gets each plane transposed.
    ``source`` names the image in error messages (a file name, or "The image"). Float planes
    with NaN or infinite values are refused as they are read, unless ``check_finite`` is off
    (for writing, where any value may be stored).
    """

    def __init__(self, data: Any, axes: str, source: str = "The image", check_finite: bool = True):
        self.axes = normalize_axes(axes, data.shape)
        self.data = data
        self.source = source
        self.check_finite = check_finite
        dtype = np.dtype(data.dtype)
        if dtype.kind == "c":
            raise InputError(f"{source} holds complex numbers: N2V denoises real-valued intensities only; take the magnitude first.")
        if dtype.kind not in "uif" and dtype != np.bool_:
            raise InputError(f"{source} has pixel type {dtype}, which N2V cannot denoise: use 8, 16 or 32-bit images.")
        self.dtype = dtype
        self.frames, self.slices, self.channels, self.height, self.width = canonical_shape(data.shape, self.axes)
        self.spacing: tuple[float, float] | None = None  # (z step, pixel width) in one unit, where calibrated
        self._outer = [a for a in self.axes if a not in "YX"]
        self._transpose = self.axes.index("X") < self.axes.index("Y")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def tzc(self) -> tuple[int, int, int]:
        return self.frames, self.slices, self.channels

    def __len__(self) -> int:
        return self.frames * self.slices * self.channels

    def indices(self, frames: list[int] | None = None) -> Iterator[PlaneIndex]:
        """Planes in ImageJ's order (C fastest, then Z, then T), optionally only some frames."""
        for t in range(self.frames) if frames is None else frames:
            for z in range(self.slices):
                for c in range(self.channels):
                    yield PlaneIndex(t, z, c)

    def _key(self, index: PlaneIndex) -> tuple:
        where = {"T": index.t, "Z": index.z, "C": index.c}
        return tuple(where[a] if a in where else slice(None) for a in self.axes)

    def plane(self, index: PlaneIndex) -> np.ndarray:
        """The (Y, X) plane at ``index``; a view where the data allows it."""
        plane = np.asarray(self.data[self._key(index)])
        self._check_finite(plane, index)
        return plane.T if self._transpose else plane

    def plane_source(self, index: PlaneIndex) -> np.ndarray | PlaneReader:
        """The (Y, X) plane at ``index`` for reading a region at a time: a ``PlaneReader`` where the data
        offers one (an uncompressed file whose planes are stored as YX), else the plane itself."""
        if self._transpose or self.axes[-2:] != "YX" or not hasattr(self.data, "plane_reader"):
            return self.plane(index)
        return self.data.plane_reader(self._key(index)[:-2], partial(self._check_finite, index=index))

    def _check_finite(self, plane: np.ndarray, index: PlaneIndex) -> None:
        if self.check_finite and self.dtype.kind == "f" and not np.isfinite(plane).all():
            # checked as planes (or their regions) are read: a large stack is never scanned up front
            raise InputError(
                f"{self.source} has NaN or infinite values in frame {index.t + 1}, slice {index.z + 1}, "
                f"channel {index.c + 1}: replace them (e.g. Process > Math > Remove NaNs in ImageJ) first."
            )

    def volume(self, t: int, c: int, slices: slice = slice(None)) -> np.ndarray:
        """The (Z, Y, X) volume of frame ``t`` and channel ``c`` (or its run ``slices`` of Z), read plane by plane."""
        numbers = range(self.slices)[slices]
        volume = np.empty((len(numbers), self.height, self.width), dtype=self.dtype)
        for i, z in enumerate(numbers):
            volume[i] = self.plane(PlaneIndex(t, z, c))
        return volume

    def canonical_dims(self) -> str:
        """The axes this stack has, in ImageJ order (what an output file carries)."""
        return "".join(a for a in CANONICAL if a in self.axes)


def gather(planes: Iterable[np.ndarray | BandedPlane], like: PlaneStack, frames: Sequence[int] | None, dtype: np.dtype) -> np.ndarray:
    """Planes in ImageJ order (C fastest, then Z, then T) as one array with the axes of ``like``; a
    ``BandedPlane`` is written into it band by band.

    ``frames`` are the 0-based frames of ``like`` the planes belong to (None: all).
    """
    count = like.frames if frames is None else len(frames)
    out = np.empty((count, like.slices, like.channels, like.height, like.width), dtype=dtype)
    flat = out.reshape(-1, like.height, like.width)
    for number, plane in enumerate(planes):
        fill(flat[number], plane)
    return from_canonical(out, like.axes)
