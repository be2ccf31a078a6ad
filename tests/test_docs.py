"""Every command a user can type is documented: the README's command table names each
top-level command, and every command and option has help text."""

from __future__ import annotations

from pathlib import Path

import click

from kiosk.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def walk(group: click.Group, prefix: str = "kiosk"):  # noqa: ANN201
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # lazy commands too (imported here)
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
        yield f"{prefix} {name}", cmd
        if isinstance(cmd, click.Group):
            yield from walk(cmd, f"{prefix} {name}")


def test_every_top_level_command_is_in_the_readme():
    names = main.list_commands(click.Context(main))
    missing = [name for name in names if f"`kiosk {name}" not in README]
    assert missing == [], f"README does not document: {missing}"


def test_every_command_and_option_has_help():
    undocumented = []
    for path, cmd in walk(main):
        if not (cmd.help or cmd.short_help):
            undocumented.append(path)
        for param in cmd.params:
            if isinstance(param, click.Option) and not param.help and param.name != "help":
                undocumented.append(f"{path} {param.opts[0]}")
    assert undocumented == []
