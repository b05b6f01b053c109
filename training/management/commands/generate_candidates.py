"""Generate K candidate responses per prompt of a project from a model version."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.errors import ValidationError
from annotate.models import Project, Prompt
from training.management.commands.train import model_version
from training.models import JobStatus
from training.services.generation import generation_create, generation_execute


class Command(BaseCommand):
    help = (
        "K responses per prompt from a model version (local, or served by an OpenAI-compatible "
        "endpoint), with comparisons per the project's mode. Through the job queue, or here with "
        "--foreground."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Project slug.")
        parser.add_argument("--model", required=True, help="Model version name (or id).")
        parser.add_argument("-k", type=int, default=4, help="Candidates per prompt (default 4).")
        parser.add_argument(
            "--prompt", type=int, action="append", help="Only this prompt id (repeatable)."
        )
        parser.add_argument("--temperature", type=float, default=1.0)
        parser.add_argument("--top-p", type=float, default=1.0)
        parser.add_argument("--max-new-tokens", type=int, default=128)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--concurrency", type=int, help="Endpoints: requests in flight.")
        parser.add_argument("--foreground", action="store_true", help="Run here, not queued.")

    def handle(self, *args, **options) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"No project with slug {options['project']!r}.")
        version = model_version(options["model"])
        params = {
            "temperature": options["temperature"],
            "top_p": options["top_p"],
            "max_new_tokens": options["max_new_tokens"],
        }
        if options["seed"] is not None:
            params["seed"] = options["seed"]
        if options["concurrency"] and version.endpoint:
            params["concurrency"] = options["concurrency"]
        prompts = None
        if options["prompt"]:
            prompts = list(Prompt.objects.filter(pk__in=options["prompt"]))
            missing = sorted(set(options["prompt"]) - {p.pk for p in prompts})
            if missing:
                raise CommandError(f"No prompt(s) {missing}.")
        try:
            job = generation_create(
                project=project,
                model_version=version,
                k=options["k"],
                prompts=prompts,
                params=params,
                enqueue=not options["foreground"],
            )
        except ValidationError as exc:
            raise CommandError(str(exc)) from exc
        if job.status == JobStatus.FAILED:
            raise CommandError(job.error)
        if not options["foreground"]:
            self.stdout.write(f"Generation job {job.pk} queued.")
            return
        generation_execute(job_id=job.pk)
        job.refresh_from_db()
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Generation job {job.pk} {job.status}: {job.error}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Generation job {job.pk}: {job.responses_created} responses, "
                f"{job.comparisons_created} comparisons in {project}."
            )
        )
        for warning in job.warnings:
            self.stdout.write(self.style.WARNING(f"  warning: {warning}"))
