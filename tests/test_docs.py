"""Every command a user can type is documented: the README's command table names each
top-level command, and every command and option has help text."""

from __future__ import annotations

import re
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


ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")


def test_each_recipe_names_at_most_two_files_and_they_exist():
    recipes = re.findall(r"^### (Recipe \([a-e]\)[^\n]*)\n(.*?)(?=^#{2,3} |\Z)", ARCHITECTURE,
                         re.S | re.M)
    assert [r[0][:10] for r in recipes] == [f"Recipe ({c})" for c in "abcde"]
    for title, body in recipes:
        files_line = next((line for line in body.splitlines() if line.startswith("Files:")),
                          None)
        if files_line is None:  # a placeholder another section fills in
            continue
        files = re.findall(r"\*\*`([^`]+)`\*\*", files_line)
        assert 1 <= len(files) <= 2, title
        for name in files:
            assert list(ROOT.glob(re.sub(r"<[^>]+>", "*", name))), f"{title}: {name}"


def test_every_movement_column_is_documented_in_export_md():
    from kiosk.export.columns import MOVEMENTS

    export_md = (ROOT / "docs" / "EXPORT.md").read_text(encoding="utf-8")
    missing = [c.key for c in MOVEMENTS if c.key not in export_md or c.zh not in export_md]
    assert missing == []
