"""Training and denoising settings: one validated object per command.

Each field carries its default, its bounds or choices and its help text. The CLI options
(``cli``), the ImageJ dialog fields and macro keys (``bridge.options``) and the Python API are
all generated from these classes, so a new setting is one line here and every default lives
here and nowhere else. Values are converted and checked once, by pydantic, whichever door
they came through: a macro's ``epochs=2.0``, the API's ``epochs="2.0"`` and the CLI's
``--epochs 2.0`` are the same setting. Network defaults follow n2v's own ``N2VConfig``.

Frames and channels are 1-based, as in ImageJ, and held as sorted numbers (a text such as
``"1-3,7"`` is parsed once here); ``axes.choose`` turns them into array indices for an image.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Literal, Optional, Tuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import InputError
from .durations import format_duration, parse_duration
from .masks import normalize_mask
from .numbers import parse_numbers

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
Precision = Literal["fp32", "bf16", "fp16", "auto"]
BitDepth = Literal["auto", 16, 32]
"""The output type: ``auto`` follows the input's (see ``output_types``), 16-bit integer or 32-bit float."""
Numbers = Optional[Tuple[int, ...]]
"""1-based frame or channel numbers; None means all."""

_PRECISION_HELP = ("how exactly the network computes: fp32 is exact; bf16 and fp16 are faster where the CPU or GPU "
                   "runs them natively and differ by a small fraction of the noise; auto takes the fastest this machine has")

DEFAULT_PATCH_DEPTH = 8
"""Slices per 3D training piece: n2v's 3D examples use 32 (64x64x32 pieces of large volumes); 8 fits
stacks of a few dozen slices, is what issue 24's first measurement used, and gave 3D's best epochs on
the nuclei stack (benchmarks/threed-results.md); depths 4 and 16 were not measured against it yet."""

DEFAULT_PATIENCE = 15
"""Epochs without a better validation loss before training ends by itself: more than n2v's own 10
before it halves the learning rate, so the halved rate gets 5 epochs (README: how it was chosen)."""


def setting(default: Any, help: str, *, key: str | None = None, flag: str | None = None, dialog: bool = True,
            hint: str | None = None, dialog_default: Any = None, **bounds: Any) -> Any:
    """A settings field: its default, help text and bounds (``ge``, ``gt``, ``le``, ``lt``).

    ``key`` names the field in macros and dialogs where the field's own name is not the
    user's word; ``flag`` does the same for the CLI option (``--3d`` for ``three_d``, whose
    word is not a Python name); ``dialog=False`` keeps an expert setting out of the ImageJ
    dialog (macros and the CLI still accept it). ``hint`` is the few words shown beside a free-text field in
    the dialog. ``dialog_default`` is what a new dialog offers where it differs from the
    default (a macro without the key still gets the default: recorded lines name the value).
    """
    extra = {"key": key, "flag": flag, "dialog": dialog, "hint": hint, "dialog_default": dialog_default}
    return Field(default, description=help, json_schema_extra={k: v for k, v in extra.items() if v is not None}, **bounds)


class Settings(BaseModel):
    """Common behaviour: unknown names refused, text converted, errors as one ``InputError``."""

    model_config = ConfigDict(extra="forbid")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _input_error(type(self), exc) from None

    @field_validator("*", mode="before")
    @classmethod
    def _from_text(cls, value: Any, info) -> Any:
        """The one conversion of user text: choices in any case, whole numbers from ``"2"``, ``"2.0"`` or
        ``"1e2"``, frame and channel lists from ``"1-3,7"``."""
        annotation = cls.model_fields[info.field_name].annotation
        if annotation == Numbers:
            return parse_numbers(value, info.field_name.rstrip("s"))
        choices = typing.get_args(annotation) if typing.get_origin(annotation) is Literal else ()
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()  # " Auto " in a macro is auto
        if isinstance(value, str) and int in (annotation, *typing.get_args(annotation), *map(type, choices)):
            try:
                number = float(value)
            except ValueError:
                return value  # pydantic's own check names it
            return int(number) if number.is_integer() else value
        return value

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON (the model folder records how it was trained)."""
        return {name: list(v) if isinstance(v, tuple) else v for name, v in self.model_dump().items()}


class TrainConfig(Settings):
    """How patches are drawn from the planes and how the N2V network is trained.

    Every 2D plane (each frame, slice and chosen channel) is training data for one
    single-channel 2D model; each plane is normalised by its own statistics so that dim
    channels and bleached frames weigh as much as bright ones. With ``three_d`` every ZYX
    volume (each frame and chosen channel) is training data for a 3D model instead, normalised
    volume by volume. Fields in dialog order.
    """

    three_d: bool = setting(False, "3D N2V: learn from ZYX pieces of each z-stack (every frame and channel a volume), "
                                   "so the network sees the slices above and below; for z steps close to the pixel "
                                   "size and structures that continue across slices", key="3d", flag="3d")

    patch_size: int = setting(64, "side of the square pieces of your planes the network learns from, in pixels, divisible by "
                                  "2 to the power of unet_depth; make it larger than the structures you want kept", ge=8)
    patch_depth: int = setting(DEFAULT_PATCH_DEPTH, "with 3d: slices in each piece (its z size), divisible by 2 to "
                                                    "the power of unet_depth; the stacks need at least this many slices",
                               ge=4)
    patches: int = setting(10000, "how many pieces are cut from your planes at most: more examples for the network, "
                                  "more memory", ge=2)
    val_fraction: float = setting(0.1, "share of the pieces held back to check the network on data it does not learn "
                                       "from (the val_loss curve in loss.png)", key="validation", gt=0, lt=1)
    epochs: int = setting(100, "rounds of training at most; patience or the time limit usually end it earlier", ge=1)
    steps: int = setting(400, "training steps per round (epoch); epochs x steps x batch_size is how much the network "
                              "sees", ge=1)
    batch_size: int = setting(16, "pieces the network looks at in one step; lower it if memory runs out", ge=1)
    seed: int = setting(0, "starting number of the random draws: the same seed on the same data gives the same model")
    channels: Numbers = setting(None, "train on these channels only, 1-based as in ImageJ, e.g. 1,3 (default: all); "
                                      "train one model per channel when their structures or noise differ",
                                hint="blank = all")
    keep_zero_columns: bool = setting(False, "keep columns of zeros at the plane edges (left by some cameras or by "
                                             "registration); by default they are cut away so they teach nothing")
    time_limit: Optional[str] = setting(None, "end training cleanly within this time, e.g. 45s, 30m, 2h or 1h30m, "
                                              "keeping the best model so far (a number from Python: seconds; "
                                              "default: no limit)", hint="e.g. 30m or 2h; blank = none")
    patience: int = setting(DEFAULT_PATIENCE, "end training when the validation loss has not improved for this many "
                                              "epochs, keeping the best weights; raise it (up to epochs) if loss.png "
                                              "still falls at the end", ge=1)
    struct_mask: Optional[str] = setting(None, "structN2V, for noise correlated along rows or columns (stripes from a "
                                               "camera or scanner, which plain N2V keeps): rows, columns, or a custom "
                                               "mask of 0 and 1 with odd sides, rows separated by ';' (default: none)",
                                  hint="rows, columns or blank")
    augment: bool = setting(False, "show the network each training piece turned by quarter turns or mirrored, one "
                                   "of the 8 at random (as n2v's own training does), so it learns no preferred "
                                   "direction; with struct_mask only the ones that leave the mask as it is "
                                   "(not yet the default: see benchmarks/quality-results.md)", dialog=False)
    average: bool = setting(True, "validate, keep and save a running average of the network's weights over about "
                                  "the last epoch's steps rather than the last step's weights, which jump from one "
                                  "step to the next (measured on four real images at 60-300 steps: better in 10 of 14 runs, "
                                  "by 1.2 dB on average, and far fewer bad runs; benchmarks/kept-epoch-results.md, "
                                  "quality-results.md); --no-average "
                                  "(average=false in a macro) keeps the last step's",
                            dialog=False)
    unet_depth: int = setting(2, "levels of the network: more see a wider neighbourhood but need a patch size divisible "
                                 "by a larger power of 2; rarely worth changing", ge=1, dialog=False)
    unet_kernel: int = setting(5, "side of the network's filters, odd (3 or 5); rarely worth changing", ge=1, dialog=False)
    unet_n_first: int = setting(32, "filters in the network's first layer (its width): more can learn finer texture "
                                    "but train slower", ge=1, dialog=False)
    learning_rate: float = setting(0.0004, "size of the first training steps, halved when the validation loss stops "
                                           "improving; rarely worth changing", gt=0, dialog=False)
    perc_pix: float = setting(1.5, "percent of the pixels in each piece hidden and predicted from their neighbours "
                                   "(N2V's blind spots); n2v's default suits almost all data", gt=0, le=100, dialog=False)
    n2v2: bool = setting(False, "N2V2: a variant of the network (Höck et al. 2022) that avoids the faint checkerboard "
                                "pattern N2V can leave; try it if the result shows one", dialog=False)
    precision: Precision = setting("fp32", _PRECISION_HELP, dialog=False)

    @field_validator("time_limit", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> str | None:
        """Any duration a user writes, recorded as one text (``90m`` -> ``1h30m``)."""
        return None if value is None or value == "" else format_duration(parse_duration(value))

    @field_validator("struct_mask", mode="before")
    @classmethod
    def _mask(cls, value: Any) -> str | None:
        return normalize_mask(value)

    @model_validator(mode="after")
    def _check_together(self) -> "TrainConfig":
        div = 2**self.unet_depth
        if self.patch_size % div:
            raise InputError(
                f"The option patch_size must be at least 8 and divisible by {div} (2 to the power of unet_depth), "
                f"not {self.patch_size}."
            )
        if self.three_d and self.patch_depth % div:
            raise InputError(
                f"The option patch_depth must be divisible by {div} (2 to the power of unet_depth), not {self.patch_depth}."
            )
        if self.unet_kernel % 2 == 0:
            raise InputError(f"The option unet_kernel must be an odd number such as 3 or 5, not {self.unet_kernel}.")
        return self


class DenoiseConfig(Settings):
    """What to denoise and how to write it.

    Frames not chosen are left out; channels not chosen are copied through unchanged.
    """

    bit_depth: BitDepth = setting(
        "auto", "auto: 16-bit for 8/16-bit unsigned input, 32-bit float for float and signed input; "
                "16: whole numbers 0..65535 in the input's units (refused if the values do not fit); 32: float")
    frames: Numbers = setting(None, "time points to denoise, 1-based, e.g. 1-3,7 (default: all)", hint="e.g. 1-3,7; blank = all")
    channels: Numbers = setting(None, "channels to denoise, 1-based, e.g. 1,3; others are copied (default: all)",
                                hint="e.g. 1,3; blank = all")
    precision: Precision = setting("fp32", _PRECISION_HELP + "; the ImageJ dialog offers auto", dialog_default="auto")
    batch_planes: int = setting(4, "planes sent to the network at once; lower it if memory runs out", ge=1)
    keep_zero_columns: bool = setting(False, "denoise columns of zeros at the plane edges too (by default they stay zero)")
    tile_size: Optional[int] = setting(None, "side in pixels of the square tiles that planes larger than it go "
                                             "through the network in (the same result, less memory); lower it if "
                                             "memory runs out (default: auto, only planes too large for the free "
                                             "memory are tiled)", ge=8)
    tta: bool = setting(False, "average the network's result over the 8 flips and quarter turns of each plane "
                               "(test-time augmentation): a little less noise for 8 times the denoising time")
    check: Literal["on", "off", "only"] = setting(
        "on", "on: before denoising, compare the model with a blur and with the noisy input on a sample of the image's "
              "own pixels (at most a tenth of the denoising time) and warn when it does no better; off: skip it; "
              "only: give that verdict on a larger sample and make no image (as imagej-n2v check)")

    @field_validator("tile_size", mode="before")
    @classmethod
    def _automatic(cls, value: Any) -> Any:
        """An empty dialog field or ``auto`` leaves the choice to the free memory."""
        return None if value is None or str(value).strip().lower() in ("", "auto", "none") else value


@dataclass(frozen=True)
class SettingField:
    """One setting as a front door shows it: the CLI, the ImageJ dialog, a macro key."""

    name: str  # the field, as in the API (patch_size)
    key: str  # the macro and dialog key
    kind: str  # bool, int, float or text
    default: Any
    help: str
    choices: tuple = ()
    dialog: bool = True
    hint: str = ""  # beside the field in the ImageJ dialog
    dialog_default: Any = None  # what a new dialog offers, where not the default
    flag: str = ""  # the CLI option without its dashes (patch-size); from the name unless given

    @property
    def option(self) -> str:
        """The CLI option: ``--patch-size``, ``--3d``."""
        return "--" + (self.flag or self.name.replace("_", "-"))


def setting_fields(cls: type[Settings]) -> list[SettingField]:
    """The fields of a settings class, in order, for generating options, dialogs and macro keys."""
    found = []
    for name, info in cls.model_fields.items():
        extra = info.json_schema_extra or {}
        choices = typing.get_args(info.annotation) if typing.get_origin(info.annotation) is Literal else ()
        python_type = type(choices[0]) if choices else info.annotation
        kind = {bool: "bool", int: "int", float: "float"}.get(python_type, "text")
        found.append(SettingField(name, extra.get("key", name), kind, info.default, info.description or "",
                                  choices, extra.get("dialog", True), extra.get("hint", ""), extra.get("dialog_default"),
                                  extra.get("flag", "")))
    return found


def _allowed(cls: type[Settings], name: str, error: dict) -> str:
    """What a field accepts, in words, for the kind of mistake pydantic found."""
    kind = error["type"]
    if kind.startswith("int_"):
        return "must be a whole number"
    if kind.startswith("float_"):
        return "must be a number"
    if kind.startswith("bool_"):
        return "must be true or false"
    choices = typing.get_args(cls.model_fields[name].annotation)
    if kind == "literal_error":
        names = [str(c) for c in choices]
        return f"must be {'one of ' if len(names) > 3 else ''}{', '.join(names[:-1])} or {names[-1]}"
    bounds = {k: getattr(m, k) for m in cls.model_fields[name].metadata for k in ("ge", "gt", "le", "lt") if hasattr(m, k)}
    low = f"at least {bounds['ge']}" if "ge" in bounds else f"more than {bounds['gt']}" if "gt" in bounds else None
    if "lt" in bounds and "gt" in bounds:
        return f"must lie between {bounds['gt']} and {bounds['lt']}"
    high = f"at most {bounds['le']}" if "le" in bounds else f"less than {bounds['lt']}" if "lt" in bounds else None
    return "must be " + " and ".join(b for b in (low, high) if b) if low or high else error["msg"].lower()


def _input_error(cls: type[Settings], exc: ValidationError) -> InputError:
    """pydantic's report as one sentence naming the option (the first problem found)."""
    errors = exc.errors(include_url=False)
    unknown = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
    if unknown:
        return InputError(f"Unknown option {', '.join(unknown)}: the options are {', '.join(cls.model_fields)}.")
    error = errors[0]
    if isinstance(error.get("ctx", {}).get("error"), InputError):
        return error["ctx"]["error"]
    name = str(error["loc"][0]) if error["loc"] else cls.__name__
    return InputError(f"The option {name} {_allowed(cls, name, error)}, not {error['input']!r}.")
