"""Start a training run (reward model, SFT, DPO) or an evaluation from the command line."""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.errors import ValidationError
from annotate.models import DatasetSnapshot, Project, SnapshotKind
from annotate.services.export import ExportOptions, snapshot_export
from annotate.services.export.gate import judge_notes
from training.models import PROMPT_KINDS, JobStatus, Method, ModelVersion, RunKind, TrainingRun
from training.services import preflight
from training.services.defaults import hyperparameters_for
from training.services.runs import run_create, run_execute


def model_version(value: str) -> ModelVersion:
    """A model version by name, or by id."""
    version = ModelVersion.objects.filter(name=value).first()
    if version is None and value.isdigit():
        version = ModelVersion.objects.filter(pk=int(value)).first()
    if version is None:
        known = ", ".join(ModelVersion.objects.values_list("name", flat=True)[:20]) or "none"
        raise CommandError(f"No model version named {value!r} (known: {known}).")
    return version


def parse_sets(items: list[str]) -> dict:
    """--set name=value pairs; values are JSON when they parse (0.1, true, ["a"]), else text."""
    values = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise CommandError(f"--set takes name=value, got {item!r}.")
        try:
            values[name] = json.loads(raw)
        except ValueError:
            values[name] = raw
    return values


class Command(BaseCommand):
    help = (
        "Start a training run through the job queue (a qcluster must be running), or run it here "
        "with --foreground. Prints the run's page and outcome."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", required=True, choices=RunKind.values)
        parser.add_argument("--base", required=True, help="Model version name (or id).")
        data = parser.add_mutually_exclusive_group()
        data.add_argument("--snapshot", type=int, help="DatasetSnapshot id to train on.")
        data.add_argument(
            "--project",
            help="Project slug: export a fresh snapshot of its votes and train on it (PPO, GRPO, "
            "RLOO and rejection sampling sample its prompts instead).",
        )
        parser.add_argument("--method", choices=Method.values, default=Method.FULL)
        parser.add_argument(
            "--reward-model",
            help="Reward model version: scores PPO/GRPO/RLOO and rejection sampling, and "
            "evaluates policies.",
        )
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="A hyperparameter, e.g. --set learning_rate=1e-4 --set beta=0.2.",
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--accelerate-config", default="", help="accelerate config file.")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--foreground",
            action="store_true",
            help="Run here, then its evaluation, instead of through the queue.",
        )
        mode.add_argument(
            "--wait", action="store_true", help="Queue it and print progress until it ends."
        )

    def handle(self, *args, **options) -> None:
        # Every option is checked before a snapshot is exported: a refusal leaves nothing behind.
        try:
            hyperparameters_for(options["kind"], parse_sets(options["set"]))
            preflight.request_check(
                method=options["method"],
                seed=options["seed"],
                accelerate_config=options["accelerate_config"],
            )
        except ValidationError as exc:
            raise CommandError(str(exc)) from exc
        project = self._project(options)
        snapshot = None if project else self._snapshot(options)
        try:
            run = run_create(
                kind=options["kind"],
                base=model_version(options["base"]),
                snapshot=snapshot,
                project=project,
                method=options["method"],
                hyperparameters=parse_sets(options["set"]),
                reward_model=(
                    model_version(options["reward_model"]) if options["reward_model"] else None
                ),
                seed=options["seed"],
                accelerate_config=options["accelerate_config"],
                enqueue=not options["foreground"],
            )
        except ValidationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Run {run.pk} ({run.get_kind_display()}): {run.status}")
        if run.status == JobStatus.FAILED:
            raise CommandError(run.error)
        if options["foreground"]:
            self._foreground(run)
        elif options["wait"]:
            self._wait(run)

    def _project(self, options) -> Project | None:
        """The project whose prompts a prompts-only run samples (None: use a snapshot)."""
        if not options["project"] or options["kind"] not in PROMPT_KINDS:
            return None
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"No project with slug {options['project']!r}.")
        return project

    def _snapshot(self, options) -> DatasetSnapshot | None:
        if options["snapshot"] is not None:
            snapshot = DatasetSnapshot.objects.filter(pk=options["snapshot"]).first()
            if snapshot is None:
                raise CommandError(f"No dataset snapshot {options['snapshot']}.")
            return snapshot
        if not options["project"]:
            return None
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"No project with slug {options['project']!r}.")
        kind = SnapshotKind.SFT if options["kind"] == RunKind.SFT else SnapshotKind.PREFERENCE
        try:
            snapshot = snapshot_export(project=project, options=ExportOptions(kind=kind))
        except ValidationError as exc:
            raise CommandError(f"{project}: nothing to train on: {exc.message}") from exc
        self.stdout.write(f"Exported snapshot {snapshot.pk}: {snapshot}")
        gate = snapshot.filters.get("judge_gate", {})
        for note in judge_notes(record=gate, counts=snapshot.counts):
            self.stderr.write(f"Warning: {note}")
        return snapshot

    def _foreground(self, run: TrainingRun) -> None:
        started = time.monotonic()
        run_execute(run_id=run.pk)
        run.refresh_from_db()
        self._report(run, time.monotonic() - started)
        for evaluation in run.evaluations.filter(status=JobStatus.QUEUED):
            self.stdout.write(f"Evaluating with run {evaluation.pk}...")
            run_execute(run_id=evaluation.pk)
            evaluation.refresh_from_db()
            self._report(evaluation, None)

    def _wait(self, run: TrainingRun) -> None:
        started, shown = time.monotonic(), None
        while True:
            run.refresh_from_db()
            line = f"  {run.status} step {run.step}/{run.total_steps or '?'}"
            if line != shown:
                self.stdout.write(line)
                shown = line
            if not run.is_active:
                break
            time.sleep(2)
        self._report(run, time.monotonic() - started)

    def _report(self, run: TrainingRun, seconds: float | None) -> None:
        took = f" in {seconds:.1f} s" if seconds is not None else ""
        if run.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Run {run.pk} {run.status}{took}: {run.error}")
        metrics = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in sorted(run.final_metrics.items())
        )
        self.stdout.write(self.style.SUCCESS(f"Run {run.pk} succeeded{took}: {metrics}"))
        for warning in run.warnings:
            self.stdout.write(self.style.WARNING(f"  warning: {warning}"))
        produced = getattr(run, "produced_version", None)
        if produced:
            self.stdout.write(f"  new model version: {produced.name} ({produced.base_model})")
        for snapshot_id in (run.outputs or {}).get("snapshots", []):
            snapshot = DatasetSnapshot.objects.filter(pk=snapshot_id).first()
            if snapshot:
                self.stdout.write(f"  new dataset snapshot {snapshot.pk}: {snapshot}")
