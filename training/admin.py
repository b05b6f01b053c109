"""Admin pages for model versions, runs and generation jobs.

A job's change page is its live view: progress bar, curves (plotly), log tail, final metrics and
a cancel button, refreshed by htmx polling while the job is queued or running. Jobs are records
created through the services (admin actions on projects, snapshots and prompts; the API; the
`train` and `generate_candidates` commands), so their pages are read-only.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from annotate.errors import ValidationError
from training.charts import plotly_js_path, run_chart_html
from training.models import (
    EngineJob,
    GenerationJob,
    ModelVersion,
    RunMetric,
    TrainingRun,
)
from training.selectors import head_to_head
from training.services.generation import generation_cancel
from training.services.runs import run_cancel, run_resume

POLL_SECONDS = 2


def pretty_json(value: object) -> str:
    return format_html("<pre class='ps-json'>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


def progress_bar(job: EngineJob) -> str:
    return format_html(
        '<progress value="{}" max="100" title="{}%"></progress> {}',
        job.progress_percent,
        job.progress_percent,
        job.get_status_display(),
    )


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "base_model",
        "adapter_path",
        "parent",
        "headline",
        "created_at",
    ]
    list_filter = ["kind"]
    search_fields = ["name", "base_model", "adapter_path", "endpoint"]
    raw_id_fields = ["parent", "produced_by"]
    readonly_fields = ["metrics_table", "head_to_head_table", "created_at"]
    view_on_site = False

    @admin.display(description="evaluation")
    def headline(self, obj: ModelVersion) -> str:
        m = obj.metrics or {}
        parts = [f"{k} {m[k]:.3g}" for k in ("accuracy", "win_rate", "kl") if _number(m.get(k))]
        return ", ".join(parts) or "-"

    @admin.display(description="metrics")
    def metrics_table(self, obj: ModelVersion) -> str:
        return pretty_json(obj.metrics)

    @admin.display(description="head to head with its parent")
    def head_to_head_table(self, obj: ModelVersion) -> str:
        if obj.pk is None or obj.parent_id is None:
            return "-"
        return head_to_head_html(head_to_head(version=obj, opponent=obj.parent))


def head_to_head_html(rows) -> str:
    """Wins / losses / ties per rater group; 'no votes yet' says how to get some."""
    if not rows:
        return format_html(
            "No votes yet on comparisons of its answers against its parent's. Generate K "
            "candidates with 'Head to head with' set to the parent, then let raters or a judge "
            "vote."
        )
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((r.rater, r.kind, r.wins, r.losses, r.ties, f"{r.win_rate:.2f}") for r in rows),
    )
    return format_html(
        "<table><thead><tr><th>rater</th><th>kind</th><th>wins</th><th>losses</th>"
        "<th>ties</th><th>win rate</th></tr></thead><tbody>{}</tbody></table>",
        body,
    )


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class JobAdmin(admin.ModelAdmin):
    """What run and generation pages share: read-only records with a live panel."""

    live_template = "admin/training/live.html"
    change_form_template = "admin/training/job_change_form.html"
    view_on_site = False  # their admin page is their page
    cancel_service = None

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # records: changed only by their worker and the buttons below

    def has_delete_permission(self, request, obj=None) -> bool:
        # A live job's worker and child would go on writing for a row that is gone.
        return super().has_delete_permission(request, obj) and not (obj and obj.is_active)

    def may_control(self, request) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    def get_urls(self):
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/live/", wrap(self.live_view), name=f"{name}_live"),
            path("<int:object_id>/cancel/", wrap(self.cancel_view), name=f"{name}_cancel"),
            *self.extra_urls(name, wrap),
            *super().get_urls(),
        ]

    def extra_urls(self, name: str, wrap) -> list:
        return []

    def get_job(self, request, object_id: int) -> EngineJob:
        job = self.get_object(request, str(object_id))
        if job is None:
            raise Http404(f"No {self.model._meta.verbose_name} {object_id}.")
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        return job

    def live_context(self, request, job: EngineJob) -> dict:
        opts = self.model._meta
        name = f"admin:{opts.app_label}_{opts.model_name}"
        return {
            "job": job,
            "opts": opts,
            "live_url": reverse(f"{name}_live", args=[job.pk]),
            "cancel_url": reverse(f"{name}_cancel", args=[job.pk]),
            "may_control": self.may_control(request),
            "poll_seconds": POLL_SECONDS,
            "eta": duration(job.eta_seconds) if job.status == "running" else "",
        }

    def live_view(self, request, object_id: int):
        job = self.get_job(request, object_id)
        return TemplateResponse(request, self.live_template, self.live_context(request, job))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_job(request, int(object_id))
        extra = {**self.live_context(request, job), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def _control(self, request, object_id: int, service, done: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = self.get_job(request, object_id)
        if not self.may_control(request):
            raise PermissionDenied
        try:
            service(job)
        except ValidationError as exc:
            self.message_user(request, exc.message, level=messages.WARNING)
        else:
            self.message_user(request, done, level=messages.SUCCESS)
        return HttpResponseRedirect(job.get_absolute_url())

    def cancel_view(self, request, object_id: int):
        return self._control(
            request,
            object_id,
            self.cancel_service,
            "Cancel requested: the engine saves a checkpoint and stops within seconds.",
        )

    @admin.display(description="progress")
    def progress(self, obj: EngineJob) -> str:
        return progress_bar(obj)


@admin.register(TrainingRun)
class TrainingRunAdmin(JobAdmin):
    list_display = ["id", "kind", "method", "base", "snapshot", "progress", "created_at"]
    list_filter = ["kind", "status", "method"]
    search_fields = ["base__name", "snapshot__name", "error"]
    list_select_related = ["base", "snapshot"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("kind", "method", "status"),
                    ("base", "snapshot"),
                    ("project", "round"),
                    ("reward_model", "reward_judge", "parent_run"),
                    ("seed", "attempts"),
                    ("created_by", "created_at", "started_at", "finished_at"),
                ]
            },
        ),
        ("Hyperparameters", {"fields": ["hyperparameters_table"], "classes": ["collapse"]}),
        ("Outputs", {"fields": ["outputs_table", "last_checkpoint", "out_dir"]}),
        (
            "Process",
            {
                "fields": [("pid", "worker_pid", "host", "heartbeat_at"), "accelerate_config"],
                "classes": ["collapse"],
            },
        ),
    ]
    readonly_fields = ["hyperparameters_table", "outputs_table"]

    @staticmethod
    def cancel_service(run: TrainingRun) -> TrainingRun:
        return run_cancel(run=run)

    def extra_urls(self, name: str, wrap) -> list:
        return [
            path("<int:object_id>/resume/", wrap(self.resume_view), name=f"{name}_resume"),
            path("plotly.min.js", wrap(self.plotly_js_view), name="training_plotly_js"),
        ]

    def live_context(self, request, job: TrainingRun) -> dict:
        context = super().live_context(request, job)
        evaluations = list(job.evaluations.all())
        context.update(
            run=job,
            resume_url=reverse("admin:training_trainingrun_resume", args=[job.pk]),
            chart=mark_safe(run_chart_html(job)),  # noqa: S308 - plotly escapes the data it embeds
            final_metrics=[(k, _fmt(v)) for k, v in sorted(job.final_metrics.items())],
            evaluations=evaluations,
            # A reward-hacking warning of the new model's evaluation belongs on this page too.
            evaluation_warnings=[w for e in evaluations for w in e.warnings],
            produced=getattr(job, "produced_version", None),
        )
        return context

    def resume_view(self, request, object_id: int):
        return self._control(
            request,
            object_id,
            lambda run: run_resume(run=run),
            "Queued again: it continues from its last checkpoint.",
        )

    def plotly_js_view(self, request):
        """plotly.js from the installed plotly package: charts work offline, no CDN."""
        response = FileResponse(
            plotly_js_path().open("rb"), content_type="application/javascript; charset=utf-8"
        )
        response["Cache-Control"] = "private, max-age=86400"
        return response

    @admin.display(description="hyperparameters")
    def hyperparameters_table(self, obj: TrainingRun) -> str:
        return pretty_json(obj.hyperparameters)

    @admin.display(description="outputs")
    def outputs_table(self, obj: TrainingRun) -> str:
        return pretty_json(obj.outputs)


@admin.register(GenerationJob)
class GenerationJobAdmin(JobAdmin):
    list_display = ["id", "project", "model_version", "k", "backend", "progress", "created_at"]
    list_filter = ["status", "backend", "project"]
    search_fields = ["model_version__name", "project__name", "error"]
    list_select_related = ["project", "model_version"]
    fields = [
        ("project", "model_version", "backend", "status"),
        ("round", "pair_with"),
        ("k", "responses_created", "comparisons_created"),
        "params_table",
        "prompt_ids",
        ("created_by", "created_at", "started_at", "finished_at"),
        ("out_dir", "pid", "worker_pid", "heartbeat_at"),
    ]
    readonly_fields = ["params_table"]

    @staticmethod
    def cancel_service(job: GenerationJob) -> GenerationJob:
        return generation_cancel(job=job)

    @admin.display(description="sampling parameters")
    def params_table(self, obj: GenerationJob) -> str:
        return pretty_json(obj.params)


@admin.register(RunMetric)
class RunMetricAdmin(admin.ModelAdmin):
    """The raw points behind a run's curves."""

    list_display = ["run", "kind", "step", "values", "logged_at"]
    list_filter = ["kind"]
    search_fields = ["=run__id"]
    raw_id_fields = ["run"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


from training import admin_rounds  # noqa: E402,F401 - registers RoundAdmin
