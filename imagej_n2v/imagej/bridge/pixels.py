"""Pixels between ImageJ's ``ImagePlus`` planes and numpy, one plane at a time.

An ImageJ hyperstack keeps its planes in one list, channel fastest, then slice, then frame
(``ImagePlus.getStackIndex(c, z, t)``). Seen through ``ImagePlanes`` it is a TZCYX array to the
core, so the axes can never be swapped, and only the plane being worked on is copied. Planes
are copied through JPype's array buffers, not pixel by pixel; Java's signed ``short`` pixels
are reinterpreted as the unsigned 16-bit values ImageJ shows.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from ...data.stack import PlaneStack
from ...errors import InputError

# ImagePlus.getBitDepth() -> numpy type of its pixels as ImageJ shows them
_DTYPES = {8: np.uint8, 16: np.uint16, 32: np.float32}
_TIFF_SUFFIXES = (".tif", ".tiff")


def plane_dtype(title: str, bit_depth: int, channels: int, slices: int, frames: int, planes: int) -> np.dtype:
    """The numpy type of an ImageJ image's pixels; refuses RGB and a hyperstack whose sizes disagree.

    Java-free, so that the worker process checks an image it only knows by description the same way.
    """
    if bit_depth not in _DTYPES:
        raise InputError(
            f"The image '{title}' is {bit_depth}-bit RGB: N2V denoises 8, 16 and 32-bit images; "
            f"convert it first with Image > Color > Make Composite, or Image > Type."
        )
    if channels * slices * frames != planes:
        raise InputError(
            f"The image '{title}' claims {channels} channels x {slices} slices x {frames} frames "
            f"but holds {planes} planes: fix it with Image > Hyperstacks > Stack to Hyperstack."
        )
    return np.dtype(_DTYPES[bit_depth])


class ImagePlanes:
    """A TZCYX array-like over an ``ImagePlus``: ``planes[t, z, c]`` is one (Y, X) numpy plane.

    Indexing must name the frame, slice and channel as integers; the rest may be slices.
    """

    def __init__(self, image: Any):
        self.image = image
        self.stack = image.getStack()
        width, height, channels, slices, frames = (int(n) for n in image.getDimensions())
        self.dtype = plane_dtype(str(image.getTitle()), int(image.getBitDepth()), channels, slices, frames,
                                 int(self.stack.getSize()))
        self.shape = (frames, slices, channels, height, width)
        self.ndim = 5

    def __getitem__(self, key: tuple) -> np.ndarray:
        t, z, c = (int(i) for i in key[:3])
        pixels = self.stack.getPixels(int(self.image.getStackIndex(c + 1, z + 1, t + 1)))
        plane = np.frombuffer(memoryview(pixels), dtype=self.dtype.newbyteorder("=")).reshape(self.shape[3:])
        return plane[key[3:]] if len(key) > 3 else plane


def image_stack(image: Any) -> PlaneStack:
    """The core's plane view of an ``ImagePlus``, in ImageJ's own TZCYX order, with its z step and pixel size."""
    stack = PlaneStack(ImagePlanes(image), "TZCYX")
    calibration = image.getCalibration()
    if stack.slices > 1 and calibration.scaled():
        stack.spacing = (float(calibration.pixelDepth), float(calibration.pixelWidth))
    return stack


def as_imageplus(image: Any, gateway: Any = None) -> Any:
    """An ``ImagePlus`` for an ``ImagePlus``, or an ImageJ2 ``Dataset``/``ImgPlus`` (needs Fiji's gateway)."""
    from jpype import JClass

    if isinstance(image, JClass("ij.ImagePlus")):
        return image
    if gateway is None:
        raise InputError(
            f"The image {image} is an ImageJ2 image, which needs Fiji: start with --fiji PATH, or pass an ImagePlus."
        )
    return gateway.py.to_imageplus(image)


def _java_plane(plane: np.ndarray) -> Any:
    from jpype import JArray, JFloat, JShort

    flat = np.ascontiguousarray(plane).ravel()
    if flat.dtype == np.uint16:
        return JArray(JShort)(flat.view(np.int16))
    return JArray(JFloat)(flat.astype(np.float32, copy=False))


def output_title(title: str) -> str:
    """``dome.tif`` -> ``dome_denoised``: the result keeps its name and loses the file suffix."""
    for suffix in _TIFF_SUFFIXES:
        if title.lower().endswith(suffix):
            title = title[: -len(suffix)]
    return f"{title}_denoised"


def frame_list(frames: Sequence[int] | None) -> str:
    """0-based frames as the jar's ``resultImage`` takes them: 1-based, comma-separated; "" for all."""
    return "" if frames is None else ",".join(str(t + 1) for t in frames)


def new_image(planes: Iterable[np.ndarray], like: Any, frames: Sequence[int] | None = None, title: str | None = None,
              info: str | None = None) -> Any:
    """An ``ImagePlus`` from output planes in ImageJ order, shaped and calibrated like ``like``.

    ``frames`` are the 0-based frames processed when not all were; ``info`` is added below the
    input's Info property (Image > Show Info, saved with the TIFF). The jar's
    ``N2V_Bridge.resultImage`` makes the hyperstack with what the input carries (see there), as it
    does for planes that come from the worker process.
    """
    from jpype import JClass

    width, height = int(like.getWidth()), int(like.getHeight())
    stack = JClass("ij.ImageStack")(width, height)
    for plane in planes:
        if plane.shape != (height, width):
            raise ValueError(f"plane of shape {plane.shape} for a {width}x{height} image")
        stack.addSlice(None, _java_plane(plane))
    return JClass("N2V_Bridge").resultImage(stack, like, title or output_title(str(like.getTitle())),
                                            frame_list(frames), info)
