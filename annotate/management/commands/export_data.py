"""`manage.py export_data --project SLUG`: export votes as trl-ready data, recorded as a snapshot."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from annotate.errors import ValidationError
from annotate.models import Project, RaterKind, SnapshotFormat, SnapshotKind
from annotate.services.export import ExportOptions, export_rows, snapshot_export
from annotate.services.export.gate import judge_notes
from annotate.services.io_errors import storage_problem


def parse_moment(value: str, *, end_of_day: bool = False) -> datetime:
    """An ISO date or datetime; a bare date means the day's start (or its end for --until)."""
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ValueError(f"{value!r} is not an ISO date (2025-01-31) or datetime")
        moment = datetime.combine(day, time.max if end_of_day else time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class Command(BaseCommand):
    help = (
        "Export preference pairs, KTO or SFT rows (trl's standard or conversational format) as "
        "JSONL plus a `datasets` directory, recorded as a DatasetSnapshot. See docs/export.md."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--project", metavar="SLUG", help="default: every project")
        parser.add_argument("--kind", choices=SnapshotKind.values, default=SnapshotKind.PREFERENCE)
        parser.add_argument(
            "--format", dest="fmt", choices=SnapshotFormat.values, default=SnapshotFormat.STANDARD
        )
        parser.add_argument(
            "--rater-kinds",
            default=",".join(RaterKind.values),
            help=f"comma-separated, from {','.join(RaterKind.values)} (default: all)",
        )
        parser.add_argument("--since", help="only votes created from this ISO date/datetime on")
        parser.add_argument("--until", help="only votes created up to this ISO date/datetime")
        parser.add_argument("--min-agreement", type=float, default=0.0, metavar="SHARE")
        parser.add_argument("--keep-ties", action="store_true")
        parser.add_argument("--keep-both-bad", action="store_true")
        parser.add_argument("--margin", action="store_true", help='add a float "margin" column')
        parser.add_argument(
            "--judge-votes", choices=["include", "exclude", "only"], default="include"
        )
        parser.add_argument(
            "--judge-admission",
            choices=["admitted", "any"],
            default="admitted",
            help="admitted: only judges passing the project's admission gate (default); any: all",
        )
        parser.add_argument(
            "--include-judge",
            action="append",
            default=[],
            metavar="NAME",
            help="count this judge although the gate does not admit it (repeatable)",
        )
        parser.add_argument("--judge-weight", type=float, default=1.0, metavar="W")
        parser.add_argument("--judge-soft-labels", action="store_true")
        parser.add_argument("--judge-min-confidence", type=float, default=0.0, metavar="P")
        parser.add_argument("--judge-consistent-only", action="store_true")
        parser.add_argument(
            "--majority-only",
            action="store_true",
            help="ignore reviewers' final verdicts (adjudications)",
        )
        parser.add_argument("--name", help="the snapshot's name (default: project, kind, time)")
        parser.add_argument(
            "--no-dataset-dir",
            action="store_true",
            help="write only data.jsonl, not the datasets save_to_disk directory",
        )
        parser.add_argument(
            "--print",
            dest="print_rows",
            action="store_true",
            help="stream JSONL to standard output instead of recording a snapshot",
        )

    def handle(self, *args, **options) -> None:
        project = self._project(options["project"])
        export_options = self._options(options)
        try:
            if options["print_rows"]:
                self._stream(project, export_options)
                return
            snapshot = snapshot_export(
                project=project,
                options=export_options,
                name=options["name"],
                save_to_disk=not options["no_dataset_dir"],
            )
        except ValidationError as exc:
            raise CommandError(f"nothing was exported: {exc}") from exc
        except OSError as exc:
            raise CommandError(storage_problem(exc)) from exc
        self.stdout.write(f"Snapshot {snapshot.pk}: {snapshot.name}")
        self.stdout.write(f"rows:   {snapshot.row_count} ({snapshot.kind}, {snapshot.format})")
        self.stdout.write(f"path:   {snapshot.path}")
        for role, rel in snapshot.files.items():
            self.stdout.write(f"  {role}: {rel}")
        self.stdout.write(f"sha256: {snapshot.content_hash}")
        self.stdout.write("counts: " + json.dumps(snapshot.counts, sort_keys=True))
        gate = snapshot.filters.get("judge_gate", {})
        for note in judge_notes(record=gate, counts=snapshot.counts):
            self.stdout.write(f"judges: {note}")

    def _stream(self, project: Project | None, export_options: ExportOptions) -> None:
        counts: Counter = Counter()
        encode = json.JSONEncoder(ensure_ascii=False).encode
        out = self.stdout
        for row in export_rows(project=project, options=export_options, counts=counts):
            out.write(encode(row))
        self.stderr.write("counts: " + json.dumps(dict(counts), sort_keys=True))

    def _project(self, slug: str | None) -> Project | None:
        if slug is None:
            return None
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"--project: no project with slug {slug!r}")
        return project

    def _options(self, options: dict) -> ExportOptions:
        kinds = tuple(k.strip() for k in options["rater_kinds"].split(",") if k.strip())
        try:
            since = parse_moment(options["since"]) if options["since"] else None
            until = parse_moment(options["until"], end_of_day=True) if options["until"] else None
        except ValueError as exc:
            raise CommandError(f"--since/--until: {exc}") from exc
        export_options = ExportOptions(
            kind=options["kind"],
            format=options["fmt"],
            rater_kinds=kinds,
            since=since,
            until=until,
            min_agreement=options["min_agreement"],
            keep_ties=options["keep_ties"],
            keep_both_bad=options["keep_both_bad"],
            include_margin=options["margin"],
            judge_votes=options["judge_votes"],
            judge_admission=options["judge_admission"],
            judge_include=tuple(options["include_judge"]),
            judge_weight=options["judge_weight"],
            judge_soft_labels=options["judge_soft_labels"],
            judge_min_confidence=options["judge_min_confidence"],
            judge_consistent_only=options["judge_consistent_only"],
            prefer_adjudication=not options["majority_only"],
        )
        try:
            export_options.validate()
        except ValidationError as exc:
            flag = (exc.field or "options").replace("_", "-")
            raise CommandError(f"--{flag}: {exc.message}") from exc
        return export_options
