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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import itemgetter
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


def csv_text(rows: Iterable[Sequence[Any]]) -> str:
    """Rows as the csv module writes them here (QUOTE_MINIMAL, CRLF), values as they are."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
    return buf.getvalue()


def csv_field(value: Any) -> str:
    """One field exactly as the csv module writes it among others (None -> '', quoted and
    quotes doubled when it holds a comma, quote or line break)."""
    return csv_text([[value, ""]])[:-3]  # without the ",\r\n" of the empty second field


#: bytes that make the csv module quote a field (delimiter, quote, the line end's CR and LF);
#: in UTF-8 they never occur inside a multi-byte character
_QUOTE_TRIGGERS = b',"\r\n'
#: types a baked column may hold (equal values of these are written identically)
_BAKEABLE = {str, type(None)}


class FastRows:
    """Rows -> the UTF-8 bytes the csv module would write for them (``csv_text``), in a few
    C-level calls per chunk instead of the csv module's per-character loop (3-4x faster on
    the movement rows).

    Rows whose values are all text are joined with ``","`` (the SQL gives numbers as text
    where that text is what Python would write); other rows are formatted with ``%s``, i.e.
    ``str(value)``, which is what the csv module writes for a value that needs no quoting.
    Whether some value did need quoting is checked per chunk, in C: the output must hold
    exactly the commas, quotes and line breaks of the separators, line ends and baked fields;
    any more mean a value holds one, and ``render`` returns None so that the caller writes
    the chunk with the csv module instead.

    A value must never be None (``%s`` would write "None", the csv module writes nothing):
    the caller's SQL wraps every column in ``ifnull(x, '')``. Columns in ``baked`` take few
    distinct values (the reason texts, some with commas): a row whose baked values need
    quoting is written with a format that holds their exact csv form, one format per
    combination of their values, so such rows do not send every chunk to the slow path. They
    must hold text or None (else the chunk goes to the csv module).
    """

    def __init__(self, ncols: int, baked: Sequence[int] = ()) -> None:
        self.ncols = ncols
        self.baked = tuple(baked)
        self._key: Callable[[Sequence[Any]], Any] = (
            itemgetter(*self.baked) if self.baked else (lambda _row: ()))
        #: values of the baked columns -> (format, number of quote-trigger bytes it writes,
        #: whether a baked value needs quoting)
        self._formats: dict[Any, tuple[str, int, bool]] = {}

    def _format(self, key: Any) -> tuple[str, int, bool]:
        values = dict(zip(self.baked, key if len(self.baked) > 1 else (key,), strict=True))
        fields = {j: csv_field(v) for j, v in values.items()}
        parts = [fields[j].replace("%", "%%") + "%.0s" if j in fields else "%s"
                 for j in range(self.ncols)]
        fmt = ",".join(parts) + "\r\n"
        quoted = any(fields[j] != v for j, v in values.items())
        return fmt, _triggers(fmt.encode("utf-8")), quoted

    def render(self, rows: Sequence[Sequence[Any]]) -> bytes | None:
        """The chunk's CSV bytes, or None when the csv module must write it (a value that
        needs quoting, a baked value that is not text, rows of the wrong length)."""
        if not rows:
            return b""
        formats = self._formats
        try:
            if set(map(len, rows)) != {self.ncols}:
                return None
            keys = list(map(self._key, rows))
            distinct = set(keys)
            # baked values are looked up by equality, under which 0, 0.0 and False (written
            # differently) are one key; text equals nothing but text: only text and None
            # are baked (checking the distinct keys is enough)
            single = len(self.baked) == 1
            for key in distinct:
                if not all(type(v) in _BAKEABLE for v in ((key,) if single else key)):
                    return None
                if key not in formats:
                    formats[key] = self._format(key)
        except (TypeError, ValueError):  # rows that are not sequences, unhashable values
            return None
        quoted = {k for k in distinct if formats[k][2]}
        expected = len(rows) * (self.ncols + 1)  # the commas and the CRLF of each line
        lines: Sequence[Sequence[Any]] = rows
        try:
            if quoted:  # rows with a baked value that needs quoting: that row's format
                lines = list(rows)
                for i in compress(range(len(keys)), map(quoted.__contains__, keys)):
                    fmt, triggers, _ = formats[keys[i]]
                    lines[i] = ((fmt % rows[i])[:-2],)
                    expected += triggers - (self.ncols + 1)
            data = ("\r\n".join(map(",".join, lines)) + "\r\n").encode("utf-8")
        except TypeError:  # a value that is not text
            return self._formatted(rows, keys)
        except (ValueError, UnicodeError):
            return None
        if _triggers(data) != expected:
            return None
        return data

    def _formatted(self, rows: Sequence[Sequence[Any]], keys: list[Any]) -> bytes | None:
        fmts = list(map(self._formats.__getitem__, keys))
        try:
            data = "".join(map(str.__mod__, map(itemgetter(0), fmts), rows)).encode("utf-8")
        except (TypeError, ValueError, UnicodeError):
            return None
        if _triggers(data) != sum(map(itemgetter(1), fmts)):
            return None
        return data


def _triggers(data: bytes) -> int:
    """How many commas, quotes, CRs and LFs ``data`` holds (one pass, in C)."""
    return len(data) - len(data.translate(None, _QUOTE_TRIGGERS))


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
        self._out = io.BufferedWriter(self._raw, buffer_size=1 << 20)
        self._out.write((BOM + csv_text([[neutralise(h) for h in header]])).encode("utf-8"))
        self.rows = 0
        self.result: WrittenFile | None = None

    def write(self, row: Sequence[Any]) -> None:
        """One row of arbitrary values: text cells are neutralised here."""
        self._out.write(csv_text([[neutralise(v) for v in row]]).encode("utf-8"))
        self.rows += 1

    def write_safe_rows(self, rows: Sequence[Sequence[Any]],
                        fast: FastRows | None = None) -> None:
        """Rows whose text cells were already neutralised (by the export's SQL): the fast
        path, written in one piece per chunk (by ``fast`` when given and it can)."""
        data = fast.render(rows) if fast is not None else None
        if data is None:
            data = csv_text(rows).encode("utf-8")
        self._out.write(data)
        self.rows += len(rows)

    def close(self) -> WrittenFile:
        self._out.flush()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._out.detach()
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
