"""Noise2Void denoising for ImageJ/Fiji hyperstacks.

The Python API works on numpy arrays with an axes string (any order and subset of T, Z, C,
Y, X) and returns arrays with the same axes:

>>> import imagej_n2v
>>> imagej_n2v.train(stack, "TZYX", "models/domes", epochs=10)    # doctest: +SKIP
>>> denoised = imagej_n2v.denoise(stack, "TZYX", "models/domes")  # doctest: +SKIP
"""

__version__ = "0.1.0"

from .api import denoise, denoise_files, train  # noqa: E402

__all__ = ["denoise", "denoise_files", "train", "__version__"]
