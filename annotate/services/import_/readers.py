"""Reading a file into rows: (line, row dict or RowError), one at a time.

JSONL and CSV are read line by line as bytes with a bounded readline, so an oversized line is
refused unread; JSON is one array, read whole. Each reader reports a bad line or row as a RowError
in place of the row, so the caller can refuse the file or skip the row; what cannot be read at
all (bad encoding of a JSON array, a CSV header without the needed columns) raises ImportFileError.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from annotate.services.import_.errors import ImportFileError, RowError, type_name

FORMATS = ("jsonl", "json", "csv")
DEFAULT_MAX_LINE_BYTES = 2 * 1024 * 1024
CSV_JSON_COLUMNS = ("messages", "conversations", "responses", "tags")

Records = Iterator[tuple[int, dict | RowError]]


# --- the file: its name, format and bytes -------------------------------------------------------


def display_name(file: BinaryIO | Path | str, filename: str | None) -> str:
    """The name errors and provenance use: a base name, never a path on the server."""
    raw = filename or (str(file) if isinstance(file, str | Path) else getattr(file, "name", ""))
    return Path(str(raw)).name or "upload"


def format_for(name: str, fmt: str | None) -> str:
    """jsonl, json or csv: `fmt` when given, else told by the name's extension."""
    if fmt:
        if fmt not in FORMATS:
            raise ImportFileError(name, f"unknown format {fmt!r} (expected jsonl, json or csv)")
        return fmt
    suffix = Path(name).suffix.lower()
    inferred = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}.get(suffix)
    if inferred is None:
        raise ImportFileError(
            name, "cannot tell the format from the file name: name it .jsonl, .json or .csv"
        )
    return inferred


def open_binary(file: BinaryIO | Path | str, name: str) -> contextlib.AbstractContextManager:
    """The file's bytes as a context manager; a stream the caller passed is left open."""
    if isinstance(file, str | Path):
        try:
            return open(file, "rb")  # noqa: SIM115 - closed by the caller's `with`
        except OSError as exc:
            raise ImportFileError(name, f"cannot open the file: {exc.strerror}") from exc
    if isinstance(file, io.TextIOBase):
        # Text was decoded with a guessed encoding; read the bytes beneath to check UTF-8 here.
        if not hasattr(file, "buffer"):
            raise TypeError("data_import reads bytes: pass a binary file, a path or io.BytesIO")
        file = file.buffer
    return contextlib.nullcontext(file)


# --- lines ---------------------------------------------------------------------------------------


def _physical_lines(stream: BinaryIO, max_bytes: int) -> Iterator[tuple[int, str | RowError]]:
    """Decoded lines without their line break; an oversized line is reported, never parsed."""
    lineno = 0
    offset = 0
    while True:
        raw = stream.readline(max_bytes + 1)
        if not raw:
            return
        lineno += 1
        start = offset
        offset += len(raw)
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            yield (
                lineno,
                RowError(
                    None,
                    f"line is longer than {max_bytes:,} bytes (settings.IMPORT_MAX_LINE_BYTES); "
                    "refused without parsing it",
                ),
            )
            # Only reached when the caller skips the row: step over the rest of the line.
            offset += _drain_line(stream, max_bytes)
            continue
        body = raw.rstrip(b"\r\n")
        if lineno == 1 and body.startswith(codecs.BOM_UTF8):
            body, start = body[len(codecs.BOM_UTF8) :], start + len(codecs.BOM_UTF8)
        try:
            yield lineno, body.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield lineno, RowError(None, _not_utf8(body, exc.start, start))


def _drain_line(stream: BinaryIO, chunk: int) -> int:
    drained = 0
    while True:
        part = stream.readline(chunk)
        drained += len(part)
        if not part or part.endswith(b"\n"):
            return drained


def _not_utf8(data: bytes, position: int, base: int) -> str:
    where = f"byte offset {position} of the line, {base + position} of the file"
    return f"not valid UTF-8: byte 0x{data[position]:02x} at {where}; save the file as UTF-8"


# --- formats -------------------------------------------------------------------------------------


def read_jsonl(stream: BinaryIO, name: str, max_bytes: int) -> Records:
    for lineno, text in _physical_lines(stream, max_bytes):
        if isinstance(text, RowError):
            yield lineno, text
        elif text.strip():
            yield lineno, _json_object(text)


def _json_object(text: str) -> dict | RowError:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return RowError(None, f"invalid JSON: {exc.msg} (column {exc.colno})")
    if not isinstance(value, dict):
        return RowError(None, f"expected a JSON object, got {type_name(value)}")
    return value


def read_json(stream: BinaryIO, name: str, max_bytes: int) -> Records:
    """One JSON array of rows; row i is "line" i + 1."""
    data = stream.read()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        raise ImportFileError(
            name,
            f"not valid UTF-8: byte 0x{data[exc.start]:02x} on line {line} at byte offset "
            f"{exc.start - line_start} of the line, {exc.start} of the file; save it as UTF-8",
        ) from None
    if not text.strip():
        return
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            name, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(rows, list):
        raise ImportFileError(name, f"expected a JSON array of rows, got {type_name(rows)}")
    for index, row in enumerate(rows):
        if isinstance(row, dict):
            yield index + 1, row
        else:
            yield index + 1, RowError(None, f"expected a JSON object, got {type_name(row)}")


def read_csv(stream: BinaryIO, name: str, max_bytes: int) -> Records:
    """Rows named by the header; a record may span lines (quoted line breaks)."""
    line_errors: list[tuple[int, RowError]] = []
    lines_read = 0

    def lines() -> Iterator[str]:
        nonlocal lines_read
        for lineno, text in _physical_lines(stream, max_bytes):
            lines_read = lineno
            if isinstance(text, RowError):
                # The csv reader takes only text: note the error, hand it a blank line.
                line_errors.append((lineno, text))
                yield "\n"
            else:
                yield text + "\n"

    # Fields may be as long as a line may be; the default limit (128 KiB) would refuse less.
    csv.field_size_limit(max(csv.field_size_limit(), max_bytes))
    reader = csv.reader(lines())
    columns: list[str] | None = None
    while True:
        start = lines_read + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, RowError(None, f"malformed CSV: {exc}")
            continue
        if line_errors:
            yield line_errors[0]
            line_errors.clear()
            continue
        if not cells or cells == [""]:
            continue
        if columns is None:
            columns = [c.strip().lower() for c in cells]
            _check_csv_columns(columns, name, start)
            continue
        yield start, _csv_row(columns, cells)


def _check_csv_columns(columns: list[str], name: str, line: int) -> None:
    present = set(columns)
    if present & {"chosen", "rejected"}:
        needed = ["prompt", "chosen", "rejected"]
    elif present & {"question", "messages", "conversations"}:
        needed = []
    else:
        needed = ["prompt"]
    missing = [c for c in needed if c not in present]
    if missing:
        raise ImportFileError(
            name,
            f"missing column {missing[0]!r}: the header has {', '.join(columns)}; expected "
            "prompt, question(,answer), prompt,chosen,rejected or prompt,responses",
            line=line,
            field=missing[0],
        )


def _csv_row(columns: list[str], cells: list[str]) -> dict | RowError:
    if len(cells) != len(columns):
        return RowError(
            None, f"expected {len(columns)} cells ({', '.join(columns)}), got {len(cells)}"
        )
    row: dict = {}
    for column, cell in zip(columns, cells, strict=True):
        if column in CSV_JSON_COLUMNS or column == "answer":
            if not cell.strip():
                continue  # an empty optional cell means "none"
            if column == "tags" and not cell.lstrip().startswith("["):
                row[column] = [t.strip() for t in cell.split(",") if t.strip()]
                continue
            if column != "answer":
                try:
                    row[column] = json.loads(cell)
                except json.JSONDecodeError as exc:
                    return RowError(column, f"invalid JSON in the cell: {exc.msg}")
                continue
        row[column] = cell
    return row


READERS: dict[str, Callable[[BinaryIO, str, int], Records]] = {
    "jsonl": read_jsonl,
    "json": read_json,
    "csv": read_csv,
}
