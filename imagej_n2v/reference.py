"""The README's option tables, generated from the command line parser and the macro keys.

The CLI options are generated from the settings classes (``config``) and the macro keys from
the same classes (``bridge.options``), so tables built from those two never drift from the
code. ``python -m imagej_n2v.reference`` prints them; ``--write README.md`` puts them between
the README's marker comments, and a test fails when the README's copy is out of date.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .cli import build_parser
from .imagej.bridge.options import DENOISE, TRAIN, command_options

BEGIN = "<!-- options:begin -->"
END = "<!-- options:end -->"
COMMANDS = {"train": TRAIN, "denoise": DENOISE}
"""The commands whose options are also macro keys of an ImageJ command."""

_DEFAULT = re.compile(r"\s*\((?:(?P<before>[^()]*?);\s*)?default: (?P<default>[^()]*)\)")


def _subparser(command: str) -> argparse.ArgumentParser:
    actions = build_parser()._subparsers._group_actions  # argparse keeps its subparsers here only
    return actions[0].choices[command]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default_and_meaning(action: argparse.Action) -> tuple[str, str]:
    """The default as the help text words it (``(default: all)``), and the help without it."""
    meaning = (action.help or "") % {"default": action.default}
    found = _DEFAULT.search(meaning)
    if found:
        default, before = found.group("default"), found.group("before")
        meaning = meaning[:found.start()] + (f" ({before})" if before else "") + meaning[found.end():]
    elif isinstance(action, argparse._StoreTrueAction):
        default = "off"
    elif isinstance(action, argparse.BooleanOptionalAction):  # the CLI gives it only to settings on by default
        default = "on"
    elif action.required or not action.option_strings:
        default = "(required)"
    else:
        default = ""
    return default, meaning


def option_table(command: str) -> str:
    """One Markdown row per option of ``imagej-n2v COMMAND``, with its macro key where it has one."""
    macro = {o.name: o for o in command_options(COMMANDS[command])}
    rows = [f"| `imagej-n2v {command}` option | macro key of `{COMMANDS[command]}` | default | meaning |",
            "|---|---|---|---|"]
    for action in _subparser(command)._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        flag = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.metavar or action.dest}`"
        key = macro.pop(action.dest, None)
        key_cell = "" if key is None else f"`{key.key}`" + ("" if key.dialog else " (macro only)")
        default, meaning = _default_and_meaning(action)
        rows.append(f"| {flag} | {key_cell} | {_cell(default)} | {_cell(meaning)} |")
    for key in macro.values():  # keys with no option of the same name (a train macro's model path)
        rows.append(f"| | `{key.key}` | | {_cell(key.help)} |")
    return "\n".join(rows)


def options_section() -> str:
    """The text between the README's markers: one table per command."""
    return "\n\n".join(option_table(command) for command in COMMANDS)


def update_readme(readme: Path) -> bool:
    """Replace the tables between the markers of ``readme``; True if the file changed."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    updated = text[:start] + "\n" + options_section() + "\n" + text[end:]
    if updated != text:
        readme.write_text(updated, encoding="utf-8")
    return updated != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imagej_n2v.reference", description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="README", type=Path, help="update the tables between the markers of this file")
    args = parser.parse_args(argv)
    if args.write:
        print(f"{args.write}: {'updated' if update_readme(args.write) else 'already up to date'}")
    else:
        print(options_section())
    return 0


if __name__ == "__main__":
    sys.exit(main())
