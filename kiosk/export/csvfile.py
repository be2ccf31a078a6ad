"""CSV files the command can open in Excel on a Chinese Windows PC without surprises.

* UTF-8 with a byte order mark: without it Excel reads UTF-8 as the ANSI code page (GBK)
  and Chinese names turn into mojibake.
* RFC 4180: Python's csv module, comma, double quotes doubled, CRLF line ends.
* No cell a spreadsheet would run as a formula: a *text* value starting with = + - @ tab or
  carriage return (or their full-width forms, which an IME may type) gets a leading single
  quote ``'``, the OWASP recommendation. Numbers are written as numbers and never altered:
  a temperature is a float, not a string, so it cannot carry a formula.
* The file's SHA-256 and size are computed while it is written (no second read) and the file
  appears under its final name only when complete (temporary name, fsync, rename).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

BOM = "\ufeff"
#: first characters that make Excel, LibreOffice or Google Sheets evaluate a cell
FORMULA_STARTS = frozenset("=+-@\t\r＝＋－＠")


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would evaluate gets a leading ``'``; anything else
    (numbers, None, ordinary text) is returned unchanged."""
    if isinstance(value, str) and value and value[0] in FORMULA_STARTS:
        return "'" + value
    return value


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """What the manifest says about one finished file."""

    path: Path
    rows: int  # data rows, without the header
    bytes: int
    sha256: str


class _HashingRaw(io.RawIOBase):
    """Passes bytes to the real file and through SHA-256 on the way."""

    def __init__(self, fh: io.BufferedWriter) -> None:
        self._fh = fh
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self.digest.update(data)
        self._fh.write(data)
        self.size += len(data)
        return len(data)


class SafeCsvWriter:
    """Write one CSV file: header, rows (neutralised or already safe), then ``close()``.

    Use as a context manager; on an exception the temporary file is removed and nothing
    appears under the final name.
    """

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.path = path
        self._tmp = path.with_name(path.name + ".part")
        self._fh = open(self._tmp, "wb")  # closed in close() or abort()
        self._raw = _HashingRaw(self._fh)
        self._text = io.TextIOWrapper(
            io.BufferedWriter(self._raw, buffer_size=1 << 20), encoding="utf-8", newline=""
        )
        self._text.write(BOM)
        self._csv = csv.writer(self._text, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        self._csv.writerow([neutralise(h) for h in header])
        self.rows = 0
        self.result: WrittenFile | None = None

    def write(self, row: Sequence[Any]) -> None:
        """One row of arbitrary values: text cells are neutralised here."""
        self._csv.writerow([neutralise(v) for v in row])
        self.rows += 1

    def write_safe_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        """Rows whose text cells were already neutralised (by the export's SQL): the fast
        path, handed to the C writer as they are."""
        self._csv.writerows(rows)
        self.rows += len(rows)

    def close(self) -> WrittenFile:
        self._text.flush()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._text.detach()
        self._fh.close()
        os.replace(self._tmp, self.path)
        self.result = WrittenFile(self.path, self.rows, self._raw.size,
                                  self._raw.digest.hexdigest())
        return self.result

    def abort(self) -> None:
        try:
            self._fh.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> SafeCsvWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.abort()
        elif self.result is None:
            self.close()


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> WrittenFile:
    """Write a small CSV file in one call (every text cell neutralised)."""
    with SafeCsvWriter(path, header) as w:
        for row in rows:
            w.write(row)
        return w.close()


def sha256_file(path: Path) -> str:
    """SHA-256 of a file as lowercase hex, the form ``sha256sum`` and ``certutil`` print."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
