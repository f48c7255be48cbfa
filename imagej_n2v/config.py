"""Training and denoising settings, validated once at the boundary.

The CLI, the ImageJ commands and the Python API all build these objects, so every default
lives here and nowhere else. Defaults for the network follow n2v's own ``N2VConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .errors import InputError
from .output_types import parse_bit_depth

PRECISIONS = ("fp32", "bf16", "fp16", "auto")


def _check(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise InputError(f"The option {name} {message}.")


_CONVERTERS = {"int": (int, "a whole number"), "float": (float, "a number")}


def from_options(cls: type, **options: Any):
    """Build ``TrainConfig`` or ``DenoiseConfig`` from keyword options given by a user.

    Unknown names and values of the wrong kind become one-sentence ``InputError``s (instead
    of Python's TypeError), so a typo in an API call or a macro option is reported as such.
    """
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise InputError(f"Unknown option {', '.join(unknown)}: the options are {', '.join(known)}.")
    for name, value in options.items():
        converter = _CONVERTERS.get(str(known[name].type))
        if converter and not isinstance(value, bool):
            try:
                options[name] = converter[0](value)
                if converter[0] is int and float(value) != options[name]:
                    raise ValueError
            except (TypeError, ValueError):
                raise InputError(f"The option {name} must be {converter[1]}, not {value!r}.") from None
    return cls(**options)


@dataclass
class TrainConfig:
    """How patches are drawn from the planes and how the N2V network is trained.

    Every 2D plane (each frame, slice and chosen channel) is training data for one
    single-channel 2D model; each plane is normalised by its own statistics so that dim
    channels and bleached frames weigh as much as bright ones.
    """

    patch_size: int = 64
    patches: int = 10000
    val_fraction: float = 0.1
    seed: int = 0
    keep_zero_columns: bool = False
    channels: list[int] | None = None  # 1-based, as in ImageJ; None = all
    epochs: int = 100
    steps: int = 400
    batch_size: int = 16
    unet_depth: int = 2
    unet_kernel: int = 5
    unet_n_first: int = 32
    learning_rate: float = 0.0004
    perc_pix: float = 1.5
    n2v2: bool = False
    precision: str = "fp32"

    def __post_init__(self) -> None:
        div = 2**self.unet_depth
        _check(self.unet_depth >= 1, "unet_depth", "must be at least 1")
        _check(
            self.patch_size >= 8 and self.patch_size % div == 0,
            "patch_size",
            f"must be at least 8 and divisible by {div} (2 to the power of unet_depth), not {self.patch_size}",
        )
        _check(self.patches >= 2, "patches", "must be at least 2 (one for training, one for validation)")
        _check(0 < self.val_fraction < 1, "val_fraction", "must lie between 0 and 1, e.g. 0.1")
        _check(self.epochs >= 1, "epochs", "must be at least 1")
        _check(self.steps >= 1, "steps", "must be at least 1")
        _check(self.batch_size >= 1, "batch_size", "must be at least 1")
        _check(self.unet_kernel >= 1 and self.unet_kernel % 2 == 1, "unet_kernel", "must be an odd number such as 3 or 5")
        _check(self.unet_n_first >= 1, "unet_n_first", "must be at least 1")
        _check(self.learning_rate > 0, "learning_rate", "must be positive")
        _check(0 < self.perc_pix <= 100, "perc_pix", "must lie between 0 and 100 (percent of masked pixels)")
        _check(self.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}")
        if self.channels is not None:
            _check(all(c >= 1 for c in self.channels), "channels", "counts from 1, as in ImageJ")

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON (the model folder records how it was trained)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class DenoiseConfig:
    """What to denoise and how to write it.

    ``frames`` and ``channels`` use ImageJ's 1-based numbering; unselected frames are left
    out, unselected channels are copied through unchanged. ``bit_depth`` is ``"auto"`` (the
    output type follows the input's, see ``output_types``), 16 or 32.
    """

    bit_depth: str | int = "auto"
    frames: str | None = None
    channels: str | None = None
    precision: str = "fp32"
    batch_planes: int = 4
    keep_zero_columns: bool = False

    def __post_init__(self) -> None:
        self.bit_depth = parse_bit_depth(self.bit_depth)
        _check(self.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}")
        _check(self.batch_planes >= 1, "batch_planes", "must be at least 1")
