"""ImageJ macro option strings for the N2V commands, turned into the core's settings objects.

ImageJ hands a plugin its options as one string, ``model=[/my models/domes] bit_depth=16
overwrite``: ``key=value``, ``key=[value with spaces]`` or a bare ``key`` for a checked box. The
keys are generated from ``DenoiseConfig`` and ``TrainConfig`` (so defaults live in one place),
plus ``model`` and, for training, ``overwrite`` and ``resume``. Unknown keys are an error rather than ignored,
so a typo in a macro never silently runs with a default. No JVM is needed here.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from ...config import DenoiseConfig, SettingField, Settings, TrainConfig, setting_fields
from ...data.axes import choose
from ...errors import InputError

DENOISE = "N2V Denoise"
TRAIN = "N2V Train"
SETTINGS: dict[str, type[Settings]] = {DENOISE: DenoiseConfig, TRAIN: TrainConfig}

_OPTION = re.compile(r"(\w[\w.]*)(?:=(?:\[([^\]]*)\]|(\S*)))?")
_MODEL = SettingField("model", "model", "text", "", "the model: an n2v model folder or bioimage.io zip to denoise with, "
                                                    "or the folder a training writes")
_INPUTS = SettingField("inputs", "inputs", "text", "", "train on these TIFF files, or on every TIFF in these folders, "
                       "too, separated by ';' (the command line's inputs, with its checks); with no image open, "
                       "on these only", hint="folder or files; blank = none")
_TRAIN_FLAGS = (
    SettingField("overwrite", "overwrite", "bool", False, "replace an existing model of that name"),
    SettingField("resume", "resume", "bool", False, "continue an interrupted training of this model"),
)


@dataclass
class CommandOptions:
    """A command's parsed options: the model path, the settings object and the flags."""

    model: str
    config: DenoiseConfig | TrainConfig
    overwrite: bool = False
    resume: bool = False
    inputs: tuple[str, ...] = ()  # training: TIFF files and folders besides the current image


def command_options(command: str) -> list[SettingField]:
    """Every key ``command`` accepts, ``model`` first, generated from its settings class."""
    settings = SETTINGS.get(command)
    if settings is None:
        raise InputError(f"The command '{command}' is unknown: use {DENOISE} or {TRAIN}.")
    if command == TRAIN:
        return [_MODEL, _INPUTS, *setting_fields(settings), *_TRAIN_FLAGS]
    return [_MODEL, *setting_fields(settings)]


def _as_text(value: Any) -> str:
    """A value as a dialog shows it: nothing for None, ``1,3`` for channel numbers."""
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def dialog_spec(command: str) -> str:
    """The command's dialog for the jar to show (``N2V_Dialog.ask``): one line per field, then its help.

    A field is ``KIND<TAB>KEY<TAB>DEFAULT<TAB>HINT[<TAB>CHOICE...]``: KIND is text, path (a text
    field with a Browse button), int, float, bool, flag (a checkbox the dialog never remembers:
    overwrite, resume) or choice (the choices follow the hint). The key is the field's label and
    its macro key, so the Recorder records a ``run(...)`` line that ``build_options`` parses.
    Expert settings (``dialog=False``) are left out of the dialog but accepted in macros. The
    last line, ``help<TAB><TAB>HTML``, is the Help button's page; before it, for training, ``cost``
    (``cost<TAB><TAB>``) marks the line that says what the settings will cost here. The jar offers the values last
    used in a dialog instead of these defaults.
    """
    lines = []
    for o in command_options(command):
        if o.dialog:
            kind = "path" if o is _MODEL else "flag" if o in _TRAIN_FLAGS else "choice" if o.choices else o.kind
            default = o.default if o.dialog_default is None else o.dialog_default
            lines.append("\t".join([kind, o.key, _as_text(default), o.hint, *(str(c) for c in o.choices)]))
    if command == TRAIN:
        lines.append("cost\t\t")  # what the settings will cost here, asked as they change (``tasks.cost``)
    lines.append("\t".join(["help", "", dialog_help(command)]))
    return "\n".join(lines)


def dialog_help(command: str) -> str:
    """The Help button's page: every setting's help text (those of ``--help`` and the README tables), as HTML."""
    def default(o: SettingField) -> str:
        shown = o.default not in (None, "", False) and "default" not in o.help
        return f" (default: {html.escape(_as_text(o.default), quote=False)})" if shown else ""

    def rows(fields: list[SettingField]) -> str:
        return "".join(f"<tr><td valign=top><b>{o.key}</b></td><td>{html.escape(o.help, quote=False)}{default(o)}</td></tr>"
                       for o in fields)

    shown = [o for o in command_options(command) if o.dialog]
    expert = [o for o in command_options(command) if not o.dialog]
    page = f"<html><h2>{command}</h2><table>{rows(shown)}</table>"
    if expert:
        page += f"<p>Also accepted in macros, as key=value:</p><table>{rows(expert)}</table>"
    page += ("<p>The dialog offers the values you used last; a macro gets only the values it names, "
             "the defaults for the rest. Plugins &gt; Macros &gt; Record... writes the line that repeats a run.</p></html>")
    return " ".join(page.split())


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


def _raw_value(command: str, option: SettingField, raw: str | None) -> Any:
    """Macro syntax only: a bare key is a checked box, an empty list means all; the rest is converted by the settings."""
    if option.kind == "bool":
        if raw is None or raw.lower() in ("true", "yes", "1"):
            return True
        if raw.lower() in ("false", "no", "0"):
            return False
        raise InputError(f"The {command} option {option.key} is a checkbox: write {option.key} alone, or leave it out.")
    if option.default is None and not raw:
        return None  # an optional list left empty: all frames or channels
    if raw is None or raw == "":
        raise InputError(f"The {command} option {option.key} has no value: write {option.key}=VALUE.")
    return raw


def build_options(command: str, text: str, image_channels: int | None = 1) -> CommandOptions:
    """Parse ``text`` for ``command`` into a validated settings object.

    ``image_channels`` is the current image's channel count, against which a training
    ``channels`` list such as ``1,3`` is checked (None: not checked).
    """
    accepted = {o.key: o for o in command_options(command)}
    values: dict[str, Any] = {}
    for key, raw in parse_option_string(text).items():
        option = accepted.get(key)
        if option is None:
            raise InputError(f"The {command} option '{key}' is unknown: use {', '.join(accepted)}.")
        values[option.name] = _raw_value(command, option, raw)
    model = str(values.pop("model", "")).strip()
    if not model:
        what = "the model folder to create" if command == TRAIN else "an n2v model folder or bioimage.io zip"
        raise InputError(f"The {command} option model is missing: add model=[path of {what}].")
    flags = {flag.name: bool(values.pop(flag.name, False)) for flag in _TRAIN_FLAGS}
    inputs = tuple(part.strip() for part in str(values.pop("inputs", None) or "").split(";") if part.strip())
    config = SETTINGS[command](**values)
    if command == TRAIN and image_channels is not None:
        choose(config.channels, image_channels, "channel")
    return CommandOptions(model, config, **flags, inputs=inputs)
