"""Run a judge over a project from the command line, in this process, with progress."""

from __future__ import annotations

import threading
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from annotate.errors import ValidationError
from annotate.models import Project
from judges.models import Judge, JudgeRun
from judges.services.runs import judge_run_create, judge_run_execute


class Command(BaseCommand):
    help = "Judge a project's comparisons (both orders, cached) and cast the judge's votes."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--judge", required=True, help="The judge's name (its rater name).")
        parser.add_argument("--project", required=True, help="Project slug.")
        parser.add_argument(
            "--comparisons", default="", help="Comma-separated comparison ids (default: all)."
        )
        parser.add_argument(
            "--rejudge",
            action="store_true",
            help="Judge again what this judge version already voted on (cache answers it).",
        )
        parser.add_argument(
            "--queue",
            action="store_true",
            help="Enqueue for the django-q2 cluster instead of running here.",
        )

    def handle(self, *args, **options) -> None:
        judge = Judge.objects.filter(rater__name=options["judge"]).first()
        if judge is None:
            names = ", ".join(Judge.objects.values_list("rater__name", flat=True)) or "none yet"
            raise CommandError(f"no judge named {options['judge']!r} (judges: {names})")
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project with slug {options['project']!r}")
        try:
            ids = [int(x) for x in options["comparisons"].split(",") if x.strip()]
        except ValueError:
            raise CommandError("--comparisons takes comma-separated ids, e.g. 3,4,9") from None
        try:
            run = judge_run_create(
                judge=judge,
                project=project,
                comparison_ids=ids or None,
                rejudge=options["rejudge"],
                enqueue=options["queue"],
            )
        except ValidationError as exc:
            raise CommandError(str(exc)) from None
        if options["queue"]:
            self.stdout.write(f"queued judge run {run.pk}")
            return
        run = self._execute_with_progress(run.pk)
        self.stdout.write(
            f"run {run.pk} {run.status}: {run.voted} votes ({run.consistent} consistent, "
            f"{run.inconsistent} inconsistent), {run.unparseable} unparseable, "
            f"{run.failed} failed, {run.skipped} already done; {run.calls} calls, "
            f"{run.cached_calls} cached; tokens {run.prompt_tokens}/{run.completion_tokens}; "
            f"cost {run.cost}"
        )
        if run.error:
            raise CommandError(run.error)

    def _execute_with_progress(self, run_id: int) -> JudgeRun:
        done = threading.Event()

        def report() -> None:
            try:
                while not done.wait(2.0):
                    row = JudgeRun.objects.filter(pk=run_id).values("processed", "total").first()
                    if row:
                        self.stderr.write(f"  {row['processed']}/{row['total']} comparisons")
            finally:
                connection.close()  # this thread's own connection

        reporter = threading.Thread(target=report, daemon=True)
        reporter.start()
        started = time.perf_counter()
        try:
            return judge_run_execute(run_id=run_id)
        finally:
            done.set()
            self.stderr.write(f"  took {time.perf_counter() - started:.1f}s")
