"""`manage.py import_data FILE --project SLUG`: import a file into a project, all or nothing."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug
from django.db import transaction

from annotate.models import Project
from annotate.services.import_ import FORMATS, ImportFileError, ImportReport, data_import
from annotate.services.io_errors import too_deep


def report_lines(report: ImportReport) -> list[str]:
    lines = [
        f"prompts:     {report.created_prompts} created, {report.duplicate_prompts} duplicate",
        f"responses:   {report.created_responses} created, {report.duplicate_responses} duplicate",
        f"comparisons: {report.created_comparisons} created",
        f"votes:       {report.created_votes} created, {report.duplicate_votes} duplicate",
        f"rejected:    {report.rejected}",
    ]
    lines += [f"  {row}" for row in report.rejected_rows]
    if report.rejected > len(report.rejected_rows):
        lines.append(f"  ... and {report.rejected - len(report.rejected_rows)} more")
    return lines


class Command(BaseCommand):
    help = (
        "Import prompts, candidate responses or trl preference pairs (JSONL, JSON or CSV) into a "
        "project. A bad row imports nothing and names file, line and field, unless --skip-invalid."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="a .jsonl, .json or .csv file")
        parser.add_argument("--project", required=True, metavar="SLUG", help="the project's slug")
        parser.add_argument(
            "--format", dest="fmt", choices=FORMATS, help="default: from the file's extension"
        )
        parser.add_argument(
            "--skip-invalid", action="store_true", help="skip bad rows, list them, import the rest"
        )
        parser.add_argument(
            "--create-project", action="store_true", help="create the project if it is missing"
        )

    def handle(self, *args, **options) -> None:
        path: Path = options["file"]
        try:
            # The project is created in the same transaction, so a failed import leaves no trace.
            with transaction.atomic():
                project = self._project(options["project"], create=options["create_project"])
                report = data_import(
                    project=project,
                    file=path,
                    fmt=options["fmt"],
                    skip_invalid=options["skip_invalid"],
                )
        except ImportFileError as exc:
            raise CommandError(f"nothing was imported: {exc}") from exc
        except RecursionError:
            raise CommandError(too_deep(str(path))) from None
        self.stdout.write(f"Imported {path.name} into project {project.slug}:")
        for line in report_lines(report):
            self.stdout.write(line)

    def _project(self, slug: str, *, create: bool) -> Project:
        project = Project.objects.filter(slug=slug).first()
        if project is not None:
            return project
        if not create:
            raise CommandError(f"no project with slug {slug!r}; pass --create-project to create it")
        try:
            validate_slug(slug)
        except DjangoValidationError as exc:
            raise CommandError(f"--project: {slug!r} is not a valid slug") from exc
        if Project.objects.filter(name=slug).exists():
            raise CommandError(f"a project named {slug!r} already exists with another slug")
        return Project.objects.create(name=slug, slug=slug)
