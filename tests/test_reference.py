"""The README's option tables are the ones the code generates (issue 17: every option and macro key, never drifting)."""

from __future__ import annotations

from pathlib import Path

from imagej_n2v.cli import build_parser
from imagej_n2v.imagej.bridge.options import DENOISE, TRAIN, command_options
from imagej_n2v.reference import BEGIN, END, option_table, options_section

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_holds_the_generated_option_tables():
    text = README.read_text(encoding="utf-8")
    shown = text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip()
    assert shown == options_section(), "README.md's option tables are out of date: run " \
                                       "`python -m imagej_n2v.reference --write README.md` to update them."


def test_every_option_and_macro_key_has_a_row():
    for command, macro in (("train", TRAIN), ("denoise", DENOISE)):
        table = option_table(command)
        parser = build_parser()._subparsers._group_actions[0].choices[command]
        for action in parser._actions:
            for flag in action.option_strings:
                assert f"`{flag}`" in table or flag in ("-h", "--help"), flag
        for key in command_options(macro):
            assert f"`{key.key}`" in table, key.key
    assert "| `--patience` | `patience` | 15 |" in option_table("train")
    assert "| `--val-fraction` | `validation` | 0.1 |" in option_table("train")
    assert "| `--perc-pix` | `perc_pix` (macro only) | 1.5 |" in option_table("train")
    assert "| `--model-dir` |  | models | folder for models |" in option_table("train")
    assert "| `--task-planes` |  | 64 MB of float32 planes |" in option_table("denoise")
