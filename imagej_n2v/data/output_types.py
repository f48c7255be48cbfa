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

import numpy as np

from ..errors import InputError

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
        if self.dtype == np.float32:
            return plane.astype(np.float32, copy=False)
        if plane.dtype == np.uint16:
            return plane
        if plane.dtype.kind != "f":
            plane = plane.astype(np.float32)
        rounded = np.rint(plane, out=plane)
        outside = int(np.count_nonzero((rounded < 0) | (rounded > 65535)))
        if self._strict:
            self._check_fits(plane, rounded, outside, original)
        self.clipped += outside
        self.pixels += rounded.size
        np.clip(rounded, 0, 65535, out=rounded)
        return rounded.astype(np.uint16)

    def _check_fits(self, plane: np.ndarray, rounded: np.ndarray, outside: int, original: np.ndarray | None) -> None:
        why = None
        if outside > CLIP_WARNING * rounded.size:
            why = (f"{100 * outside / rounded.size:.1f}% of a plane's denoised values lie outside 0..65535 "
                   f"(from {float(rounded.min()):.6g} to {float(rounded.max()):.6g})")
        elif original is not None and original.dtype.kind == "f" and not np.array_equal(original, np.rint(original)):
            spread = float(np.std(original, dtype=np.float64))
            if _ROUNDING_SD > ROUNDING_SHARE * spread:
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
