"""Atomic import of prompts, candidate responses and preference data from JSONL, JSON or CSV.

Rows are read as bytes and streamed (JSONL and CSV line by line, with a bounded readline so an
oversized line is refused unread), parsed and validated, then written in batches, all inside one
transaction: the first bad row raises ImportFileError naming file, line and field, and the
database is left exactly as it was. With `skip_invalid=True`, bad rows are listed in the report
and the rest is imported.

Accepted rows (one JSON object, or one CSV row whose cells are named by the header):
- prompts: {"prompt": str | [messages]}, {"messages": [...]}, {"conversations": [...]}
  (minimind), {"question": str, "answer": str}; a conversation ending with an assistant turn
  gives that turn as a Response to the conversation before it;
- prompts with candidates: the above plus "responses": [str | {"text", "source" | "model"}],
  turned into Comparisons per the project's mode;
- trl preference pairs, standard ({"prompt", "chosen", "rejected"} strings), conversational
  (lists of messages) or with an implicit prompt (no "prompt": the shared prefix of chosen and
  rejected), recorded as a comparison [chosen, rejected] and a vote "a" from an imported rater;
- an optional "tags" list on any row. In CSV, "messages", "conversations" and "responses" cells
  hold JSON, and "tags" a JSON array or comma-separated names.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction

from annotate.errors import ValidationError
from annotate.models import (
    Choice,
    Comparison,
    ComparisonItem,
    Project,
    ProjectMode,
    Prompt,
    Rater,
    Response,
    Vote,
    content_hash,
)
from annotate.services.raters import rater_imported
from annotate.services.votes import vote_submit

FORMATS = ("jsonl", "json", "csv")
ROLES = ("system", "user", "assistant")
DEFAULT_MAX_LINE_BYTES = 2 * 1024 * 1024
BATCH_SIZE = 500
# A file of a million bad rows must not hold a million messages in memory.
MAX_REJECTED_LISTED = 1000
CSV_JSON_COLUMNS = ("messages", "conversations", "responses", "tags")


@dataclass
class ImportReport:
    created_prompts: int = 0
    duplicate_prompts: int = 0
    created_responses: int = 0
    duplicate_responses: int = 0
    created_comparisons: int = 0
    created_votes: int = 0
    rejected: int = 0
    rejected_rows: list[str] = field(default_factory=list)
    """"file:line: field: message" for the first MAX_REJECTED_LISTED rows skipped."""

    def as_dict(self) -> dict:
        return asdict(self)


class ImportFileError(Exception):
    """Why a file was refused, and where: str() is "<file>:<line>: <field>: <message>"."""

    def __init__(
        self, file: str, message: str, *, line: int | None = None, field: str | None = None
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class RowError(Exception):
    """A bad row; the caller adds file and line."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class ParsedRow:
    line: int
    messages: list[dict]
    responses: list[tuple[str, str]]  # (text, source), chosen first for preference rows
    tags: list[str]
    kind: str  # "prompt", "candidates" or "preference"


# --- entry point -----------------------------------------------------------------------------


def data_import(
    *,
    project: Project,
    file: BinaryIO | Path | str,
    filename: str | None = None,
    fmt: str | None = None,
    skip_invalid: bool = False,
) -> ImportReport:
    """Import every row of `file` into `project`, or nothing at all (raises ImportFileError)."""
    name = _display_name(file, filename)
    fmt = _format_for(name, fmt)
    max_bytes = int(getattr(settings, "IMPORT_MAX_LINE_BYTES", DEFAULT_MAX_LINE_BYTES))
    report = ImportReport()
    with _open_binary(file, name) as stream:
        try:
            with transaction.atomic():
                _import_records(
                    READERS[fmt](stream, name, max_bytes),
                    writer=_Writer(project=project, filename=name, report=report),
                    name=name,
                    skip_invalid=skip_invalid,
                )
        except IntegrityError as exc:
            raise ImportFileError(
                name, f"another write conflicted with this import ({exc}); nothing was imported"
            ) from exc
    return report


def _import_records(
    records: Iterator[tuple[int, dict | RowError]],
    *,
    writer: _Writer,
    name: str,
    skip_invalid: bool,
) -> None:
    report = writer.report
    batch: list[ParsedRow] = []
    seen_rows = False
    for line, record in records:
        seen_rows = True
        try:
            if isinstance(record, RowError):
                raise record
            row = parse_row(record, line=line, source=name)
        except RowError as err:
            error = ImportFileError(name, err.message, line=line, field=err.field)
            if not skip_invalid:
                raise error from None
            report.rejected += 1
            if len(report.rejected_rows) < MAX_REJECTED_LISTED:
                report.rejected_rows.append(str(error))
            continue
        batch.append(row)
        if len(batch) >= BATCH_SIZE:
            writer.write(batch)
            batch = []
    if batch:
        writer.write(batch)
    if not seen_rows:
        raise ImportFileError(name, "the file is empty: no rows to import")


def _display_name(file: BinaryIO | Path | str, filename: str | None) -> str:
    raw = filename or (str(file) if isinstance(file, str | Path) else getattr(file, "name", ""))
    return Path(str(raw)).name or "upload"


def _format_for(name: str, fmt: str | None) -> str:
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


def _open_binary(file: BinaryIO | Path | str, name: str) -> contextlib.AbstractContextManager:
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


# --- readers: (line, row dict or RowError) ----------------------------------------------------


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


def read_jsonl(
    stream: BinaryIO, name: str, max_bytes: int
) -> Iterator[tuple[int, dict | RowError]]:
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
        return RowError(None, f"expected a JSON object, got {_type_name(value)}")
    return value


def read_json(stream: BinaryIO, name: str, max_bytes: int) -> Iterator[tuple[int, dict | RowError]]:
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
        raise ImportFileError(name, f"expected a JSON array of rows, got {_type_name(rows)}")
    for index, row in enumerate(rows):
        if isinstance(row, dict):
            yield index + 1, row
        else:
            yield index + 1, RowError(None, f"expected a JSON object, got {_type_name(row)}")


def read_csv(stream: BinaryIO, name: str, max_bytes: int) -> Iterator[tuple[int, dict | RowError]]:
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


READERS = {"jsonl": read_jsonl, "json": read_json, "csv": read_csv}


# --- rows: validate and normalise ---------------------------------------------------------------


def parse_row(row: dict, *, line: int, source: str) -> ParsedRow:
    """One row as a prompt conversation and its responses; raises RowError naming the field."""
    tags = _tags(row.get("tags"))
    if "chosen" in row or "rejected" in row:
        messages, chosen, rejected = _preference(row)
        return ParsedRow(line, messages, [(chosen, source), (rejected, source)], tags, "preference")
    messages, answers = _prompt(row)
    responses = [(text, source) for text in answers]
    kind = "prompt"
    if "responses" in row:
        responses += _candidates(row["responses"], source)
        kind = "candidates"
    return ParsedRow(line, messages, responses, tags, kind)


def _prompt(row: dict) -> tuple[list[dict], list[str]]:
    """(prompt conversation, answers given with it)."""
    for key in ("prompt", "messages", "conversations"):
        if key not in row:
            continue
        value = row[key]
        if key == "prompt" and isinstance(value, str):
            return [{"role": "user", "content": _text(value, key)}], []
        if key == "prompt" and not isinstance(value, list):
            raise RowError(key, f"expected a string or a list of messages, got {_type_name(value)}")
        return _split_answer(_messages(value, key), key)
    if "question" in row:
        messages = [{"role": "user", "content": _text(row["question"], "question")}]
        answers = [_text(row["answer"], "answer")] if row.get("answer") is not None else []
        return messages, answers
    raise RowError(
        "prompt",
        "missing field: a row needs prompt, messages, conversations, question, "
        "or chosen and rejected",
    )


def _split_answer(messages: list[dict], key: str) -> tuple[list[dict], list[str]]:
    """A trailing assistant turn is an answer to the turns before it."""
    answers = []
    if messages[-1]["role"] == "assistant":
        answers = [messages[-1]["content"]]
        messages = messages[:-1]
    _check_prompt(messages, key, hint=" (optionally followed by one assistant answer)")
    return messages, answers


def _check_prompt(messages: list[dict], key: str, hint: str = "") -> None:
    if not any(m["role"] == "user" for m in messages):
        raise RowError(key, "needs at least one user turn")
    if messages[-1]["role"] != "user":
        raise RowError(
            key,
            f"the conversation must end with a user turn{hint}, not {messages[-1]['role']}",
        )


def _messages(value: object, key: str) -> list[dict]:
    if not isinstance(value, list):
        raise RowError(key, f"expected a list of messages, got {_type_name(value)}")
    if not value:
        raise RowError(key, "the list of messages is empty")
    clean = []
    for i, message in enumerate(value):
        where = f"{key}[{i}]"
        if not isinstance(message, dict):
            raise RowError(
                where, f"expected an object with role and content, got {_type_name(message)}"
            )
        for part in ("role", "content"):
            if part not in message:
                raise RowError(f"{where}.{part}", "missing field")
        role = message["role"]
        if role not in ROLES:
            raise RowError(
                f"{where}.role", f"unknown role {role!r} (expected system, user or assistant)"
            )
        clean.append({"role": role, "content": _text(message["content"], f"{where}.content")})
    return clean


def _text(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise RowError(key, f"expected a string, got {_type_name(value)}")
    if not value.strip():
        raise RowError(key, "must not be empty")
    return value


def _tags(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RowError("tags", f"expected a list of strings, got {_type_name(value)}")
    for i, tag in enumerate(value):
        if not isinstance(tag, str):
            raise RowError(f"tags[{i}]", f"expected a string, got {_type_name(tag)}")
    return list(dict.fromkeys(value))


def _candidates(value: object, source: str) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        raise RowError(
            "responses",
            f"expected a list of strings or {{text, source}} objects, got {_type_name(value)}",
        )
    out = []
    for i, item in enumerate(value):
        where = f"responses[{i}]"
        if isinstance(item, str):
            out.append((_text(item, where), source))
        elif isinstance(item, dict):
            if "text" not in item:
                raise RowError(f"{where}.text", "missing field")
            origin = item.get("source", item.get("model"))
            if origin is not None and not isinstance(origin, str):
                raise RowError(f"{where}.source", f"expected a string, got {_type_name(origin)}")
            out.append((_text(item["text"], f"{where}.text"), origin or source))
        else:
            raise RowError(where, f"expected a string or an object, got {_type_name(item)}")
    return out


def _preference(row: dict) -> tuple[list[dict], str, str]:
    """(prompt, chosen text, rejected text) from any of trl's preference layouts."""
    for key in ("chosen", "rejected"):
        if key not in row:
            raise RowError(key, "missing field: a preference row needs chosen and rejected")
    if "prompt" in row:
        prompt = row["prompt"]
        if isinstance(prompt, str):
            messages = [{"role": "user", "content": _text(prompt, "prompt")}]
        elif isinstance(prompt, list):
            messages = _messages(prompt, "prompt")
            _check_prompt(messages, "prompt")
        else:
            raise RowError(
                "prompt", f"expected a string or a list of messages, got {_type_name(prompt)}"
            )
        chosen = _completion(row["chosen"], "chosen")
        rejected = _completion(row["rejected"], "rejected")
    else:
        messages, chosen, rejected = _implicit_prompt(row["chosen"], row["rejected"])
    if chosen == rejected:
        raise RowError("rejected", "same text as chosen: nothing to prefer")
    return messages, chosen, rejected


def _completion(value: object, key: str) -> str:
    if isinstance(value, str):
        return _text(value, key)
    if not isinstance(value, list):
        raise RowError(key, f"expected a string or a list of messages, got {_type_name(value)}")
    return _single_assistant(_messages(value, key), key)


def _single_assistant(messages: list[dict], key: str, offset: int = 0) -> str:
    if len(messages) != 1:
        raise RowError(key, f"expected one assistant message, got {len(messages)} messages")
    if messages[0]["role"] != "assistant":
        raise RowError(f"{key}[{offset}].role", f"expected assistant, got {messages[0]['role']!r}")
    return messages[0]["content"]


def _implicit_prompt(chosen: object, rejected: object) -> tuple[list[dict], str, str]:
    """trl's implicit prompt: the messages chosen and rejected share before they differ."""
    if isinstance(chosen, str) or isinstance(rejected, str):
        raise RowError("prompt", "missing field: chosen and rejected are strings, so give a prompt")
    chosen_msgs = _messages(chosen, "chosen")
    rejected_msgs = _messages(rejected, "rejected")
    shared = 0
    for a, b in zip(chosen_msgs, rejected_msgs, strict=False):
        if a != b:
            break
        shared += 1
    if shared == len(chosen_msgs) == len(rejected_msgs):
        raise RowError("rejected", "same conversation as chosen: nothing to prefer")
    prompt = chosen_msgs[:shared]
    if not prompt:
        raise RowError("chosen", "chosen and rejected share no prompt: their first turns differ")
    _check_prompt(prompt, "chosen")
    return (
        prompt,
        _single_assistant(chosen_msgs[shared:], "chosen", shared),
        _single_assistant(rejected_msgs[shared:], "rejected", shared),
    )


def _type_name(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


# --- writing ------------------------------------------------------------------------------------


class _Writer:
    """Writes parsed rows a batch at a time, in bulk: a few queries per batch, not per row.

    Comparisons and votes follow the rules of annotate.services.comparisons and .votes (the same
    grouping, hash and vote_count); a comparison that already existed gets its vote through
    vote_submit, which also settles its assignments.
    """

    def __init__(self, *, project: Project, filename: str, report: ImportReport) -> None:
        self.project = project
        self.filename = filename
        self.report = report
        self._rater: Rater | None = None

    def write(self, rows: list[ParsedRow]) -> None:
        prompts = self._prompts(rows)
        responses = self._responses(rows, prompts)
        self._comparisons(rows, prompts, responses)

    def _prompts(self, rows: list[ParsedRow]) -> list[Prompt]:
        hashes = [content_hash(row.messages) for row in rows]
        known = {
            p.content_hash: p
            for p in Prompt.objects.filter(project=self.project, content_hash__in=set(hashes)).only(
                "id", "project_id", "content_hash"
            )
        }
        new: dict[str, Prompt] = {}
        out = []
        for row, digest in zip(rows, hashes, strict=True):
            prompt = known.get(digest) or new.get(digest)
            if prompt is None:
                # bulk_create skips save(), which is where the hash is usually set.
                prompt = new[digest] = Prompt(
                    project=self.project,
                    messages=row.messages,
                    tags=row.tags,
                    source_file=self.filename[:500],
                    source_line=row.line,
                    content_hash=digest,
                )
            else:
                self.report.duplicate_prompts += 1
            out.append(prompt)
        Prompt.objects.bulk_create(new.values())
        self.report.created_prompts += len(new)
        return out

    def _responses(self, rows: list[ParsedRow], prompts: list[Prompt]) -> list[list[Response]]:
        """Each row's responses, deduped within the row, against the database and the file."""
        wanted = [
            [(prompt.pk, content_hash(text), text, source) for text, source in row.responses]
            for row, prompt in zip(rows, prompts, strict=True)
        ]
        keys = [(pid, digest) for row in wanted for pid, digest, _, _ in row]
        known: dict[tuple[int, str], Response] = {}
        if keys:
            for r in Response.objects.filter(
                prompt_id__in={k[0] for k in keys}, content_hash__in={k[1] for k in keys}
            ).only("id", "prompt_id", "content_hash"):
                known[(r.prompt_id, r.content_hash)] = r
        new: dict[tuple[int, str], Response] = {}
        out = []
        for row in wanted:
            mine: list[Response] = []
            for pid, digest, text, source in row:
                key = (pid, digest)
                response = known.get(key) or new.get(key)
                if response is None:
                    response = new[key] = Response(
                        prompt_id=pid, text=text, source=source[:200], content_hash=digest
                    )
                else:
                    self.report.duplicate_responses += 1
                if response not in mine:
                    mine.append(response)
            out.append(mine)
        Response.objects.bulk_create(new.values())
        self.report.created_responses += len(new)
        return out

    def _groups(self, row: ParsedRow, responses: list[Response]) -> list[list[Response]]:
        """What comparisons_create_for_prompt would make: every pair, or one N-way ranking."""
        if row.kind == "preference":
            return [responses]  # chosen at position 0, so the vote is "a"
        if row.kind != "candidates" or len(responses) < 2:
            return []
        if self.project.mode == ProjectMode.RANKING:
            return [responses]
        return [list(pair) for pair in combinations(responses, 2)]

    def _comparisons(
        self, rows: list[ParsedRow], prompts: list[Prompt], responses: list[list[Response]]
    ) -> None:
        planned = [
            (row, prompt, group, Comparison.hash_for(prompt.pk, [r.pk for r in group]))
            for row, prompt, answers in zip(rows, prompts, responses, strict=True)
            for group in self._groups(row, answers)
        ]
        if not planned:
            return
        known = {
            c.content_hash: c
            for c in Comparison.objects.filter(
                project=self.project, content_hash__in={p[3] for p in planned}
            ).only("id", "content_hash")
        }
        new: dict[str, Comparison] = {}
        members: dict[str, list[Response]] = {}
        votes: dict[str, int] = {}  # comparison hash -> line of the first row voting on it
        for row, prompt, group, digest in planned:
            if digest not in known and digest not in new:
                new[digest] = Comparison(project=self.project, prompt=prompt, content_hash=digest)
                members[digest] = group
            if row.kind == "preference":
                votes.setdefault(digest, row.line)
        for digest in votes.keys() & new.keys():
            new[digest].vote_count = 1
        Comparison.objects.bulk_create(new.values())
        ComparisonItem.objects.bulk_create(
            ComparisonItem(comparison=new[digest], response=response, position=position)
            for digest, group in members.items()
            for position, response in enumerate(group)
        )
        self.report.created_comparisons += len(new)
        self._votes(
            fresh={new[d]: line for d, line in votes.items() if d in new},
            older={known[d].pk: line for d, line in votes.items() if d in known},
        )

    def _votes(self, *, fresh: dict[Comparison, int], older: dict[int, int]) -> None:
        """Vote "a" (chosen) from the imported rater; an existing vote of theirs is kept."""
        if not fresh and not older:
            return
        rater = self._imported_rater()
        # A comparison made by this import has no votes or assignments yet: nothing to settle.
        Vote.objects.bulk_create(
            Vote(comparison=c, rater=rater, choice=Choice.A, metadata=self._provenance(line))
            for c, line in fresh.items()
        )
        self.report.created_votes += len(fresh)
        voted = set(
            Vote.objects.filter(rater=rater, comparison_id__in=older).values_list(
                "comparison_id", flat=True
            )
        )
        for comparison in Comparison.objects.filter(pk__in=older.keys() - voted).select_related(
            "project"
        ):
            line = older[comparison.pk]
            try:
                vote_submit(
                    comparison=comparison,
                    rater=rater,
                    choice=Choice.A,
                    metadata=self._provenance(line),
                )
            except ValidationError as exc:
                raise ImportFileError(
                    self.filename, exc.message, line=line, field=exc.field
                ) from exc
            self.report.created_votes += 1

    def _provenance(self, line: int) -> dict:
        return {"source_file": self.filename, "source_line": line}

    def _imported_rater(self) -> Rater:
        if self._rater is None:
            self._rater = rater_imported(source=self.filename[: 200 - len("imported:")])
        return self._rater
