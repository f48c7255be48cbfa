"""ImageJ macro option strings for the N2V commands, turned into the core's settings objects.

ImageJ hands a plugin its options as one string, ``model=[/my models/domes] bit_depth=16
overwrite``: ``key=value``, ``key=[value with spaces]`` or a bare ``key`` for a checked box. The
keys are the fields of ``DenoiseConfig`` and ``TrainConfig`` (so defaults live in one place),
plus ``model`` and, for training, ``overwrite``. Unknown keys are an error rather than ignored,
so a typo in a macro never silently runs with a default. No JVM is needed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from ..config import DenoiseConfig, TrainConfig
from ..errors import InputError

DENOISE = "N2V Denoise"
TRAIN = "N2V Train"

_OPTION = re.compile(r"([A-Za-z_][\w.]*)(?:=(?:\[([^\]]*)\]|(\S*)))?")
_RENAMED = {"val_fraction": "validation"}  # config field -> macro key, in the user's words
_TRAIN_DIALOG = ("model", "patch_size", "patches", "validation", "epochs", "steps", "batch_size", "seed",
                 "channels", "keep_zero_columns", "overwrite", "resume")
_TRAIN_FLAGS = ("overwrite", "resume")


_last_used: dict[str, dict[str, object]] = {}
"""Per command, the values of its last successful parse: the dialog offers them next time."""


@dataclass(frozen=True)
class Option:
    """One macro key: its dialog kind (s text, i integer, f decimal, b checkbox) and default."""

    key: str
    kind: str
    default: Any
    field: str | None  # the config field it sets; None for model/overwrite/resume


@dataclass
class CommandOptions:
    """A command's parsed options: the model path, the settings object and the flags."""

    model: str
    config: DenoiseConfig | TrainConfig
    overwrite: bool = False
    resume: bool = False


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int):
        return "i"
    if isinstance(value, float):
        return "f"
    return "s"


def command_options(command: str) -> list[Option]:
    """Every key ``command`` accepts, ``model`` first, with defaults taken from its config class."""
    config_class = {DENOISE: DenoiseConfig, TRAIN: TrainConfig}.get(command)
    if config_class is None:
        raise InputError(f"The command '{command}' is unknown: use {DENOISE} or {TRAIN}.")
    defaults = config_class()
    options = [Option("model", "s", "", None)]
    for f in fields(config_class):
        value = getattr(defaults, f.name)
        options.append(Option(_RENAMED.get(f.name, f.name), _kind(value), value, f.name))
    if command == TRAIN:
        options += [Option(flag, "b", False, None) for flag in _TRAIN_FLAGS]
    return options


def dialog_fields(command: str) -> list[str]:
    """The fields of the command's dialog as ``kind:key:default`` (read by the Java plugin).

    A field's default is the value last used in this session, else the config's default.
    """
    options = command_options(command)
    if command == TRAIN:
        by_key = {o.key: o for o in options}
        options = [by_key[k] for k in _TRAIN_DIALOG]
    last = _last_used.get(command, {})
    shown = []
    for o in options:
        value = last.get(o.key, o.default)
        shown.append(f"{o.kind}:{o.key}:{'' if value is None else value}")
    return shown


def parse_option_string(text: str) -> dict[str, str | None]:
    """Split an ImageJ options string into ``{key: value}``; a bare key (a checked box) maps to None."""
    parsed: dict[str, str | None] = {}
    position = 0
    text = text or ""
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return parsed
        match = _OPTION.match(text, position)
        unclosed = match is not None and (match.group(3) or "").startswith("[")
        if not match or unclosed or (match.end() < len(text) and not text[match.end()].isspace()):
            raise InputError(  # whitespace folded: a macro's newlines must not split the sentence
                f"The options '{' '.join(text.split())}' are malformed near '{' '.join(text[position:position + 20].split())}': "
                f"write key=value, with [brackets] around values that contain spaces."
            )
        key, bracketed, plain = match.groups()
        parsed[key.lower()] = bracketed if bracketed is not None else plain
        position = match.end()


def _convert(command: str, option: Option, raw: str | None) -> Any:
    if option.kind == "b":
        if raw is None or raw.lower() in ("true", "yes", "1"):
            return True
        if raw.lower() in ("false", "no", "0"):
            return False
        raise InputError(f"The {command} option {option.key} is a checkbox: write {option.key} alone, or leave it out.")
    if option.kind == "s" and option.default is None and not raw:
        return None  # an optional list left empty: all frames or channels
    if raw is None or raw == "":
        raise InputError(f"The {command} option {option.key} has no value: write {option.key}=VALUE.")
    if option.kind == "s":
        return raw
    try:
        number = float(raw)
        if option.kind == "i":
            if not number.is_integer():
                raise ValueError
            return int(number)
        return number
    except ValueError:
        what = "a whole number" if option.kind == "i" else "a number"
        raise InputError(f"The {command} option {option.key} must be {what}, not '{raw}'.") from None


def build_options(command: str, text: str, image_channels: int = 1) -> CommandOptions:
    """Parse ``text`` for ``command`` into a validated settings object.

    ``image_channels`` is the current image's channel count, against which a training
    ``channels`` list such as ``1,3`` is checked.
    """
    from ..axes import parse_index_list

    accepted = {o.key: o for o in command_options(command)}
    values: dict[str, Any] = {}
    for key, raw in parse_option_string(text).items():
        option = accepted.get(key)
        if option is None:
            raise InputError(f"The {command} option '{key}' is unknown: use {', '.join(accepted)}.")
        values[key] = _convert(command, option, raw)
    remembered = dict(values)
    model = str(values.pop("model", "")).strip()
    if not model:
        what = "the model folder to create" if command == TRAIN else "an n2v model folder or bioimage.io zip"
        raise InputError(f"The {command} option model is missing: add model=[path of {what}].")
    overwrite = bool(values.pop("overwrite", False))
    resume = bool(values.pop("resume", False))
    settings = {accepted[k].field: v for k, v in values.items()}
    if command == TRAIN:
        if settings.get("channels"):
            settings["channels"] = [c + 1 for c in parse_index_list(settings["channels"], image_channels, "channel") or []]
        config: DenoiseConfig | TrainConfig = TrainConfig(**settings)
    else:
        config = DenoiseConfig(**settings)
    _last_used[command] = remembered
    return CommandOptions(model, config, overwrite, resume)
