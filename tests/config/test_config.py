"""Settings: one object per command, reached the same way from the CLI, macros and the API."""

from __future__ import annotations

import pytest

from imagej_n2v.cli import _settings, build_parser
from imagej_n2v.config import DenoiseConfig, TrainConfig, setting_fields
from imagej_n2v.errors import InputError
from imagej_n2v.imagej.bridge.options import (
    DENOISE,
    TRAIN,
    build_options,
    command_options,
    dialog_spec,
)

COMMANDS = [("train", TRAIN, TrainConfig), ("denoise", DENOISE, DenoiseConfig)]


def _cli_settings(command: str, settings: type, *options: str):
    required = ["--name", "m"] if command == "train" else ["--model", "m"]
    return _settings(build_parser().parse_args([command, "in.tif", *required, *options]), settings)


def _other_value(field) -> str | None:
    """A valid value, as text, that differs from the field's default (None: a checkbox to tick)."""
    if field.kind == "bool":
        return None
    if field.choices:
        return str(field.choices[-1])
    if field.name == "patch_size":
        return "32"  # divisible by 2**unet_depth
    special = {"time_limit": "30m", "struct_mask": "rows", "tile_size": "64"}  # a duration, a mask's name, a side
    if field.name in special:
        return special[field.name]
    return {"int": str((field.default or 0) + 2), "float": "0.5", "text": "1"}[field.kind]


@pytest.mark.parametrize("command, macro_command, settings", COMMANDS)
def test_every_setting_is_a_cli_option_and_a_macro_key(command, macro_command, settings):
    keys = {o.key for o in command_options(macro_command)}
    for field in setting_fields(settings):
        assert field.key in keys
        flag = field.option
        value = _other_value(field)
        if field.kind == "bool" and field.default:  # on by default: turned off as --no-x, x=false, x=False
            from_cli = _cli_settings(command, settings, "--no-" + flag.removeprefix("--"))
            from_macro = build_options(macro_command, f"model=m {field.key}=false", image_channels=3).config
            assert from_cli == from_macro == settings(**{field.name: False}) != settings(), field.name
            continue
        from_cli = _cli_settings(command, settings, flag, *([value] if value is not None else []))
        from_macro = build_options(macro_command, f"model=m {field.key}{'' if value is None else '=' + value}",
                                   image_channels=3).config
        from_api = settings(**{field.name: True if value is None else value})
        assert from_cli == from_macro == from_api != settings(), field.name


@pytest.mark.parametrize("command, macro_command, settings", COMMANDS)
def test_defaults_live_in_the_settings_class(command, macro_command, settings):
    assert _cli_settings(command, settings) == build_options(macro_command, "model=m").config == settings()
    shown = {line.split("\t")[1]: line.split("\t")[2] for line in dialog_spec(macro_command).split("\n")}
    for field in setting_fields(settings):
        if field.dialog and field.default is not None:
            assert shown[field.key] == str(field.default if field.dialog_default is None else field.dialog_default)


def test_one_conversion_for_every_front_door():
    api = TrainConfig(epochs="2.0", channels="1,3")
    assert api == TrainConfig(epochs=2, channels=[3, 1]) == build_options(TRAIN, "model=m epochs=2.0 channels=[1,3]",
                                                                          image_channels=3).config
    assert api == _cli_settings("train", TrainConfig, "--epochs", "2.0", "--channels", "1,3")
    assert api.channels == DenoiseConfig(channels="1,3").channels == (1, 3)  # one form for channels


def test_bad_values_are_value_errors_naming_the_option():
    with pytest.raises(ValueError, match="The option epochs must be a whole number, not '2.5'"):
        TrainConfig(epochs="2.5")
    with pytest.raises(InputError, match="The option bit_depth must be auto, 16 or 32, not 12"):
        DenoiseConfig(bit_depth=12)
    with pytest.raises(InputError, match="The option perc_pix must be more than 0 and at most 100, not 101"):
        TrainConfig(perc_pix=101)
