"""``kiosk qr decode``: one output line per image, errors on stderr, status 1 at the end."""

from __future__ import annotations

from pathlib import Path

import qrcode
from click.testing import CliRunner

from kiosk.qr.cli import one_line, qr


def _write_qr(path: Path, text: str) -> Path:
    qrcode.make(text).save(path)
    return path


def test_prints_one_line_per_image_in_order(tmp_path: Path) -> None:
    first = _write_qr(tmp_path / "a.png", "KP1.FIRST")
    blank = tmp_path / "blank.png"
    qrcode.make("x").resize((10, 10)).point(lambda _: 255).save(blank)
    second = _write_qr(tmp_path / "b.png", "SECOND")
    result = CliRunner().invoke(qr, ["decode", str(first), str(blank), str(second)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "KP1.FIRST\n\nSECOND\n"


def test_unreadable_file_reports_on_stderr_and_exits_1_after_the_rest(tmp_path: Path) -> None:
    good = _write_qr(tmp_path / "good.png", "GOOD")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"not a jpeg")
    missing = tmp_path / "missing.png"
    result = CliRunner().invoke(qr, ["decode", str(missing), str(corrupt), str(good)])
    assert result.exit_code == 1
    assert result.stdout == "\n\nGOOD\n"
    assert "cannot read" in result.stderr
    assert "missing.png" in result.stderr and "corrupt.jpg" in result.stderr


def test_needs_at_least_one_image() -> None:
    assert CliRunner().invoke(qr, ["decode"]).exit_code == 2


def test_payload_line_breaks_and_tabs_are_escaped() -> None:
    assert one_line("A\tB\r\nC\\D\x01阿") == "A\\tB\\r\\nC\\\\D\\x01阿"
