"""The pixel type of a denoised image, decided in one place for every front door.

The CLI, the Python API and the ImageJ commands all ask ``output_dtype`` which type the result
gets, and convert each denoised plane with a ``PlaneConverter``, so no front door can clip or
round values the others would keep. The rule (``bit_depth="auto"``, the default):

- unsigned 8 and 16-bit input (what cameras write) gives 16-bit output in the input's units;
  values that denoising pushes below 0 or above 65535 are clipped, and the log says how many
  when that is more than ``CLIP_WARNING`` of the pixels;
- float input gives 32-bit float output; signed and wider integer input gives 32-bit float too,
  which holds negative values and values above 65535.

``bit_depth=32`` always gives float output. ``bit_depth=16`` gives 16-bit output when the values
fit; when the input's type can hold what 16-bit cannot (float, signed) and a plane's values do
not fit (more than ``CLIP_WARNING`` of them below 0 or above 65535, or a non-integer image whose
spread is so small that rounding to whole numbers would blur it), the run is refused with a
sentence that names ``bit_depth 32``. The plane is never silently clipped or flattened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from ..errors import InputError
from .bands import row_bands

log = logging.getLogger(__name__)

BIT_DEPTHS = ("auto", 16, 32)
"""``auto`` follows the input type; 16 and 32 ask for 16-bit integer or 32-bit float output."""

CLIP_WARNING = 0.001
"""Share of pixels outside 0..65535 above which 16-bit output warns (unsigned input) or is refused."""

ROUNDING_SHARE = 0.01
"""Rounding to whole numbers adds an error of standard deviation 1/sqrt(12) (0.29 grey levels);
16-bit output of non-integer values is refused when that is more than this share of the plane's
own standard deviation (a plane whose values spread over less than about 29 grey levels)."""

_ROUNDING_SD = 1 / np.sqrt(12)


def parse_bit_depth(value: str | int) -> str | int:
    """``"auto"``, 16 or 32 from what a user typed (``"16"`` in a macro, 16 in Python)."""
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if text in ("16", "32"):
        return int(text)
    raise InputError(f"The option bit_depth must be auto, 16 or 32, not {value!r}.")


def unsigned_input(dtype: np.dtype) -> bool:
    """True for the types a 16-bit output holds without loss (bool, uint8, uint16)."""
    dtype = np.dtype(dtype)
    return dtype == np.bool_ or (dtype.kind == "u" and dtype.itemsize <= 2)


def output_dtype(input_dtype: np.dtype, bit_depth: str | int = "auto") -> np.dtype:
    """The pixel type of the output for ``input_dtype`` (see the module's rule)."""
    bit_depth = parse_bit_depth(bit_depth)
    if bit_depth == 16 or (bit_depth == "auto" and unsigned_input(input_dtype)):
        return np.dtype(np.uint16)
    return np.dtype(np.float32)


@dataclass
class PlaneConverter:
    """Turns denoised float32 planes into the output type, refusing or counting lost values.

    ``source`` names the image in messages. ``clipped`` and ``pixels`` add up over the planes
    converted; ``report`` logs the clipping once the image is done.
    """

    input_dtype: np.dtype
    bit_depth: str | int = "auto"
    source: str = "The image"
    clipped: int = 0
    pixels: int = 0

    def __post_init__(self) -> None:
        self.input_dtype = np.dtype(self.input_dtype)
        self.dtype = output_dtype(self.input_dtype, self.bit_depth)
        self._strict = not unsigned_input(self.input_dtype)  # its own type holds what 16-bit cannot

    def __call__(self, plane: np.ndarray, original: np.ndarray | None = None) -> np.ndarray:
        """``plane`` (float32, the input's units) in the output type; ``original`` is the input plane.

        ``plane`` may be overwritten. An unchanged uint16 plane passes through as it is.
        """
        return list(self.bands([plane], original))[0]

    def bands(self, bands: Iterable[np.ndarray], original=None) -> Iterator[np.ndarray]:
        """The bands of one plane, top to bottom (as ``__call__`` takes a plane), in the output type.

        ``original`` is the input plane (an array or a ``PlaneReader``). A plane that cannot be
        16-bit is refused once its last band is converted (so a file being written is never kept).
        """
        outside = pixels = 0
        low, high = np.inf, -np.inf
        for band in bands:
            if self.dtype == np.float32 or band.dtype == np.uint16:
                yield band.astype(self.dtype, copy=False)
                continue
            band = band if band.dtype.kind == "f" else band.astype(np.float32)
            rounded = np.rint(band, out=band)
            outside += int(np.count_nonzero((rounded < 0) | (rounded > 65535)))
            pixels += rounded.size
            if self._strict and rounded.size:
                low, high = min(low, float(rounded.min())), max(high, float(rounded.max()))
            np.clip(rounded, 0, 65535, out=rounded)
            yield rounded.astype(np.uint16)
        if self._strict and pixels:
            self._check_fits(outside, pixels, low, high, original)
        self.clipped += outside
        self.pixels += pixels

    def _check_fits(self, outside: int, pixels: int, low: float, high: float, original) -> None:
        why = None
        if outside > CLIP_WARNING * pixels:
            why = (f"{100 * outside / pixels:.1f}% of a plane's denoised values lie outside 0..65535 "
                   f"(from {low:.6g} to {high:.6g})")
        elif original is not None and original.dtype.kind == "f":
            spread = _fractional_spread(original)
            if spread is not None and _ROUNDING_SD > ROUNDING_SHARE * spread:
                why = (f"its values spread over too narrow a range (standard deviation {spread:.3g}) "
                       f"for 16-bit whole numbers: rounding would erase the signal")
        if why:
            raise InputError(
                f"{self.source} cannot be written as 16-bit: {why}; use bit depth 32 "
                f"(--bit-depth 32, or bit_depth=32 in ImageJ) or auto, which keep every value."
            )

    def report(self) -> None:
        """Log how many pixels 16-bit output clipped, as a warning when it is a meaningful share."""
        if not self.clipped:
            return
        share = self.clipped / max(self.pixels, 1)
        level = logging.WARNING if share > CLIP_WARNING else logging.DEBUG
        log.log(level, "%s: %d denoised pixels (%.2g%%) fell outside 0..65535 and were clipped to fit 16-bit output; "
                       "bit depth 32 (--bit-depth 32, bit_depth=32) keeps them.", self.source, self.clipped, 100 * share)


def _fractional_spread(original) -> float | None:
    """The standard deviation of a float plane (an array or a ``PlaneReader``) that holds values that are
    not whole numbers, or None when every value is whole; band by band, two passes."""
    if all(np.array_equal(band, np.rint(band)) for band in row_bands(original)):
        return None
    count = int(np.prod(original.shape))
    mean = sum(float(band.sum(dtype=np.float64)) for band in row_bands(original)) / count
    return float(np.sqrt(sum(float(np.square(band - mean, dtype=np.float64).sum()) for band in row_bands(original)) / count))
