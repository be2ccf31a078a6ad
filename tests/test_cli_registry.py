"""The ``kiosk`` command's sub-commands are listed once (kiosk.cli.SUBCOMMANDS) and imported
when used: every entry loads, an import error fails its command loudly instead of hiding it,
the central store's web stack is not loaded to run a gate command, and a missing server extra
is a clear message."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from kiosk.cli import SUBCOMMANDS, main


def test_every_registered_command_loads_under_its_name_with_its_help():
    ctx = click.Context(main)
    for name, sub in SUBCOMMANDS.items():
        cmd = main.get_command(ctx, name)
        assert isinstance(cmd, click.Command), name
        assert cmd.get_short_help_str(200) == \
            click.Command(name, help=sub.help).get_short_help_str(200), name
    assert set(SUBCOMMANDS) <= set(main.list_commands(ctx))


def test_an_import_error_in_a_sub_cli_fails_its_command_loudly(monkeypatch: pytest.MonkeyPatch):
    # a bug in a module the qr command imports: the command must not silently disappear
    monkeypatch.setitem(sys.modules, "kiosk.qr.decode", None)
    monkeypatch.delitem(sys.modules, "kiosk.qr.cli", raising=False)
    monkeypatch.delitem(main.commands, "qr", raising=False)
    runner = CliRunner()
    listed = runner.invoke(main, ["--help"])
    assert listed.exit_code == 0 and "qr " in listed.output  # still listed
    result = runner.invoke(main, ["qr", "decode", "x.png"])
    assert result.exit_code != 0
    assert isinstance(result.exception, ImportError), result.output
    assert "kiosk.qr.decode" in str(result.exception)
    assert "No such command" not in result.output


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "KIVY_NO_ARGS": "1"})


def test_gate_commands_do_not_load_the_central_store():
    r = _python("import sys\n"
                "from kiosk.cli import main\n"
                "for args in (['--help'], ['check', '--help'], ['export', '--help']):\n"
                "    try:\n"
                "        main(args)\n"
                "    except SystemExit:\n"
                "        pass\n"
                "print(sorted(m for m in ('fastapi', 'uvicorn', 'kiosk.server')"
                " if m in sys.modules))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_serve_without_the_server_extra_says_what_to_install():
    r = _python("import sys\n"
                "sys.modules['fastapi'] = sys.modules['uvicorn'] = None  # not installed\n"
                "from kiosk.cli import main\n"
                "main(['serve', '--help'])")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "pip install 'checkpoint-kiosk[server]'" in r.stderr
    assert "Traceback" not in r.stderr
