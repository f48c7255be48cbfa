"""Macro option strings -> the core's settings (no JVM needed)."""

from __future__ import annotations

import html

import pytest

from imagej_n2v.config import DenoiseConfig, TrainConfig, setting_fields
from imagej_n2v.errors import InputError
from imagej_n2v.imagej.bridge.options import (
    DENOISE,
    TRAIN,
    build_options,
    dialog_spec,
    parse_option_string,
)


def test_option_string_syntax_of_imagej():
    parsed = parse_option_string("model=[/my models/domes] bit_depth=32 keep_zero_columns frames=1-3,7 ")
    assert parsed == {"model": "/my models/domes", "bit_depth": "32", "keep_zero_columns": None, "frames": "1-3,7"}


def test_denoise_options_build_a_denoise_config():
    chosen = build_options(DENOISE, "model=[/m d] bit_depth=32 frames=[2-3] precision=fp32 keep_zero_columns")
    assert chosen.model == "/m d"
    assert chosen.config == DenoiseConfig(bit_depth=32, frames="2-3", keep_zero_columns=True)


def test_train_options_use_the_config_defaults_and_the_users_words():
    chosen = build_options(TRAIN, "model=/m/new patch_size=32 validation=0.2 epochs=2 steps=10 channels=[1,3] overwrite",
                           image_channels=3)
    expected = TrainConfig(patch_size=32, val_fraction=0.2, epochs=2, steps=10, channels=[1, 3])
    assert chosen.config == expected and chosen.overwrite and chosen.model == "/m/new"
    assert build_options(TRAIN, "model=/m").config == TrainConfig()


def _fields(command: str) -> dict[str, list[str]]:
    """The dialog spec's fields as {key: [kind, default, choices...]}, in the dialog's order (hints and help left out)."""
    lines = [line.split("\t") for line in dialog_spec(command).split("\n")]
    return {kind_key_default[1]: [kind_key_default[0], kind_key_default[2], *rest]
            for *kind_key_default, _hint, rest in ((*line[:4], line[4:]) for line in lines if line[0] not in ("help", "cost"))}


def _hints(command: str) -> dict[str, str]:
    return {line.split("\t")[1]: line.split("\t")[3] for line in dialog_spec(command).split("\n") if not line.startswith(("help", "cost"))}


def test_train_options_end_training_by_time_or_patience_and_choose_a_mask():
    chosen = build_options(TRAIN, "model=/m time_limit=90m patience=5 struct_mask=[0,1,0;0,1,0;0,1,0]")
    assert chosen.config == TrainConfig(time_limit="1h30m", patience=5, struct_mask="0,1,0;0,1,0;0,1,0")
    assert build_options(TRAIN, "model=/m time_limit=").config.time_limit is None
    assert {"time_limit", "patience", "struct_mask"} <= set(_fields(TRAIN))


def test_train_resume_is_a_checkbox_that_defaults_to_off():
    assert build_options(TRAIN, "model=/m resume").resume
    assert not build_options(TRAIN, "model=/m").resume
    assert _fields(TRAIN)["resume"] == ["flag", "False"]  # a checkbox the dialog never remembers


def test_dialog_defaults_come_from_the_config_classes():
    denoise = _fields(DENOISE)
    assert denoise["bit_depth"] == ["choice", str(DenoiseConfig().bit_depth), "auto", "16", "32"]
    assert denoise["model"] == ["path", ""]
    # the dialog offers auto (its help says what it changes); a macro without the key still gets fp32
    assert denoise["precision"] == ["choice", "auto", "fp32", "bf16", "fp16", "auto"]
    assert build_options(DENOISE, "model=/m").config.precision == "fp32"
    train = _fields(TRAIN)
    assert train["epochs"] == ["int", str(TrainConfig().epochs)]
    assert train["validation"] == ["float", str(TrainConfig().val_fraction)]
    assert train["overwrite"][0] == "flag" and list(train)[0] == "model"


def test_free_text_fields_have_hints_and_the_help_page_has_every_settings_help():
    assert _hints(TRAIN)["time_limit"].startswith("e.g. 30m") and _hints(TRAIN)["channels"] == "blank = all"
    assert "blank = all" in _hints(DENOISE)["channels"] and _hints(DENOISE)["model"] == ""
    for command, settings in ((DENOISE, DenoiseConfig), (TRAIN, TrainConfig)):
        kind, _, page = dialog_spec(command).split("\n")[-1].split("\t")
        assert kind == "help" and page.startswith("<html>") and "\t" not in page
        for field in setting_fields(settings):  # the texts of --help and the README tables
            assert html.escape(" ".join(field.help.split()), quote=False) in page, field.name
    assert "small fraction of the noise" in dialog_spec(DENOISE)
    assert dialog_spec(TRAIN).split("\n")[-2] == "cost\t\t" and "cost" not in dialog_spec(DENOISE).split("\t")


@pytest.mark.parametrize("command, options, words", [
    (DENOISE, "model=/m colour=red", "'colour' is unknown"),
    (DENOISE, "bit_depth=16", "model is missing"),
    (DENOISE, "model=/m bit_depth=12", "bit_depth must be auto, 16 or 32"),
    (DENOISE, "model=[/m", "malformed"),
    (TRAIN, "model=/m epochs=2.5", "epochs must be a whole number"),
    (TRAIN, "model=/m patch_size=30", "patch_size"),
    (TRAIN, "model=/m channels=4", "channel"),
    (TRAIN, "model=/m overwrite=maybe", "checkbox"),
    (TRAIN, "model=/m time_limit=soon", "time_limit 'soon' is not a duration"),
    (TRAIN, "model=/m patience=0", "patience must be at least 1"),
    (TRAIN, "model=/m struct_mask=diagonal", "struct_mask 'diagonal' is unknown"),
])
def test_bad_options_are_one_sentence_naming_the_option(command, options, words):
    with pytest.raises(InputError, match=words) as raised:
        build_options(command, options, image_channels=2)
    message = str(raised.value)
    assert message.endswith(".") and "\n" not in message
