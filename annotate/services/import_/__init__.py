"""Atomic import of prompts, candidate responses and preference data from JSONL, JSON or CSV.

Rows are read as bytes and streamed (readers), parsed and validated (rows), then written in
batches (writer), all inside one transaction: the first bad row raises ImportFileError naming
file, line and field, and the database is left exactly as it was. With `skip_invalid=True`, bad
rows are listed in the report and the rest is imported.

Accepted rows are listed in annotate.services.import_.rows: prompts (prompt, messages,
conversations, question/answer), prompts with candidate "responses" (turned into comparisons per
the project's mode) and trl preference pairs (standard, conversational or with an implicit prompt;
recorded as a comparison [chosen, rejected] and a vote "a" from an imported rater). In CSV,
"messages", "conversations" and "responses" cells hold JSON, and "tags" a JSON array or
comma-separated names.
"""

from __future__ import annotations

# Not used here: kept so `import_.json` resolves as it did when this package was one module
# (tests patch json.loads through it).
import json  # noqa: F401
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction

from annotate.models import Project
from annotate.services.import_.errors import ImportFileError, RowError
from annotate.services.import_.readers import (
    DEFAULT_MAX_LINE_BYTES,
    FORMATS,
    READERS,
    Records,
    display_name,
    format_for,
    open_binary,
)
from annotate.services.import_.report import MAX_REJECTED_LISTED, ImportReport
from annotate.services.import_.rows import ParsedRow, parse_row
from annotate.services.import_.writer import ImportWriter
from annotate.services.text_checks import field_problem

__all__ = ["FORMATS", "ImportFileError", "ImportReport", "data_import"]

# Read at each batch, so a test can shrink it to prove rows before a bad one are rolled back.
BATCH_SIZE = 500


def data_import(
    *,
    project: Project,
    file: BinaryIO | Path | str,
    filename: str | None = None,
    fmt: str | None = None,
    skip_invalid: bool = False,
) -> ImportReport:
    """Import every row of `file` into `project`, or nothing at all (raises ImportFileError)."""
    name = display_name(file, filename)
    fmt = format_for(name, fmt)
    max_bytes = int(getattr(settings, "IMPORT_MAX_LINE_BYTES", DEFAULT_MAX_LINE_BYTES))
    report = ImportReport()
    with open_binary(file, name) as stream:
        try:
            with transaction.atomic():
                _import_records(
                    READERS[fmt](stream, name, max_bytes),
                    writer=ImportWriter(project=project, filename=name, report=report),
                    name=name,
                    skip_invalid=skip_invalid,
                )
        except IntegrityError as exc:
            raise ImportFileError(
                name, f"another write conflicted with this import ({exc}); nothing was imported"
            ) from exc
    return report


def _import_records(
    records: Records, *, writer: ImportWriter, name: str, skip_invalid: bool
) -> None:
    report = writer.report
    batch: list[ParsedRow] = []
    seen_rows = False
    for line, record in records:
        seen_rows = True
        try:
            if isinstance(record, RowError):
                raise record
            if unstorable := field_problem(record):  # a lone surrogate, NUL, deep nesting
                raise RowError(*unstorable)
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
