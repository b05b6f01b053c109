"""Admin for judges: configuration (write-only key), runs with progress, cancel and resume,
RLAIF modes per project, routes, failures, cache, and the agreement report."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.urls import path, reverse
from django.utils.html import format_html

from annotate.errors import ValidationError
from annotate.models import Rater
from judges import quality_views, views
from judges.models import (
    ComparisonRoute,
    GoldAnswer,
    Judge,
    JudgeCacheEntry,
    JudgeFailure,
    JudgeRun,
    JudgingMode,
    ProjectJudging,
    RunStatus,
)
from judges.services.judges import EDITABLE, judge_check, judge_create, judge_update
from judges.services.routing import project_judging_set, routing_apply
from judges.services.runs import (
    judge_run_cancel,
    judge_run_check,
    judge_run_create,
    judge_run_resume,
)


class JudgeForm(forms.ModelForm):
    """The API key field is write-only: it is never rendered back, blank keeps the stored key."""

    name = forms.CharField(max_length=200, help_text="The judge's rater name, shown on its votes.")
    new_api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave blank to keep the stored key.",
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored API key")

    class Meta:
        model = Judge
        fields = ["name", *EDITABLE]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["name"].initial = self.instance.rater.name
            if self.instance.api_key:
                self.fields[
                    "new_api_key"
                ].help_text = "A key is stored (not shown). Leave blank to keep it."

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        others = Rater.objects.filter(name=name)
        if self.instance.pk:
            others = others.exclude(pk=self.instance.rater_id)
        if others.exists():
            raise forms.ValidationError(f"a rater named {name!r} already exists")
        return name

    def _post_clean(self) -> None:
        super()._post_clean()
        try:
            judge_check(judge=self.instance)
        except ValidationError as exc:
            field = exc.field if exc.field in self.fields else None
            self.add_error(field, exc.message)


@admin.register(Judge)
class JudgeAdmin(admin.ModelAdmin):
    form = JudgeForm
    list_display = ["name", "kind", "mode", "model", "version", "key_stored", "updated_at"]
    list_filter = ["kind", "mode"]
    search_fields = ["rater__name", "model", "base_url"]
    list_select_related = ["rater"]
    raw_id_fields = ["model_version"]
    actions = ["clear_cache"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "version", "mode"]}),
        (
            "Endpoint (OpenAI-compatible)",
            {"fields": ["base_url", "model", "new_api_key", "clear_api_key", "api_key_env"]},
        ),
        ("Local model", {"fields": ["model_version"]}),
        (
            "Prompt",
            {"fields": ["template", "rubric", "constitution", "chain_of_thought"]},
        ),
        (
            "Sampling and verdicts",
            {
                "fields": [
                    "sampling_params",
                    "use_logprobs",
                    "inconsistency",
                    "max_parse_retries",
                    "max_retries",
                    "timeout_seconds",
                    "concurrency",
                ]
            },
        ),
        ("Cost", {"fields": ["price_prompt_per_mtok", "price_completion_per_mtok"]}),
    ]

    @admin.display(description="name", ordering="rater__name")
    def name(self, obj: Judge) -> str:
        return obj.rater.name

    @admin.display(description="API key", boolean=True)
    def key_stored(self, obj: Judge) -> bool:
        return obj.has_api_key

    def save_model(self, request, obj: Judge, form, change: bool) -> None:
        data = form.cleaned_data
        key = "" if data.get("clear_api_key") else (data.get("new_api_key") or None)
        fields = {name: getattr(obj, name) for name in EDITABLE}
        if change:
            judge_update(judge=obj, name=data["name"], api_key=key, **fields)
        else:
            created = judge_create(name=data["name"], api_key=key or "", **fields)
            obj.pk, obj.rater = created.pk, created.rater

    @admin.action(description="Clear the answer cache of the selected judges")
    def clear_cache(self, request, queryset) -> None:
        deleted, _ = JudgeCacheEntry.objects.filter(judge__in=queryset).delete()
        self.message_user(request, f"Deleted {deleted} cached answers.")


class JudgeFailureInline(admin.TabularInline):
    model = JudgeFailure
    extra = 0
    fields = ["comparison", "order", "kind", "message", "raw_outputs"]
    readonly_fields = fields
    can_delete = False
    max_num = 0
    show_change_link = True


class JudgeRunForm(forms.ModelForm):
    class Meta:
        model = JudgeRun
        fields = ["judge", "project", "comparison_ids", "rejudge"]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("judge") and data.get("project"):
            try:
                judge_run_check(
                    judge=data["judge"],
                    project=data["project"],
                    comparison_ids=data.get("comparison_ids") or None,
                )
            except ValidationError as exc:
                field = exc.field if exc.field in self.fields else None
                self.add_error(field, exc.message)
        return data


@admin.register(JudgeRun)
class JudgeRunAdmin(admin.ModelAdmin):
    form = JudgeRunForm
    list_display = [
        "id",
        "judge",
        "project",
        "status",
        "progress",
        "voted",
        "inconsistent",
        "unparseable",
        "failed",
        "calls",
        "cached_calls",
        "tokens",
        "cost",
        "created_at",
    ]
    list_filter = ["status", "judge", "project"]
    search_fields = ["judge__rater__name", "project__name", "error"]
    list_select_related = ["judge__rater", "project"]
    actions = ["cancel_runs", "resume_runs"]
    inlines = [JudgeFailureInline]
    change_form_template = "judges/admin/judgerun_change_form.html"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["judge", "project", "comparison_ids", "rejudge"]
        return [
            "judge",
            "project",
            "status",
            "progress",
            "agreement",
            "total",
            "processed",
            "skipped",
            "voted",
            "consistent",
            "inconsistent",
            "unparseable",
            "failed",
            "calls",
            "cached_calls",
            "http_requests",
            "prompt_tokens",
            "completion_tokens",
            "cost",
            "error",
            "comparison_ids",
            "rejudge",
            "cancel_requested",
            "task_id",
            "created_by",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def get_inlines(self, request, obj=None):
        return self.inlines if obj is not None else []

    @admin.display(description="progress")
    def progress(self, obj: JudgeRun) -> str:
        return format_html(
            '<progress value="{}" max="{}" title="{}%"></progress> {} / {}',
            obj.processed,
            max(obj.total, 1),
            obj.percent,
            obj.processed,
            obj.total,
        )

    @admin.display(description="tokens (prompt / completion)")
    def tokens(self, obj: JudgeRun) -> str:
        return f"{obj.prompt_tokens:,} / {obj.completion_tokens:,}"

    @admin.display(description="agreement")
    def agreement(self, obj: JudgeRun) -> str:
        url = reverse("admin:judges_agreement", args=[obj.project_id])
        return format_html('<a href="{}">Agreement report for {}</a>', url, obj.project)

    def save_model(self, request, obj: JudgeRun, form, change: bool) -> None:
        if change:
            return
        data = form.cleaned_data
        run = judge_run_create(
            judge=data["judge"],
            project=data["project"],
            comparison_ids=data.get("comparison_ids") or None,
            rejudge=data.get("rejudge", False),
            user=request.user,
        )
        obj.pk = run.pk

    @admin.action(description="Cancel the selected runs")
    def cancel_runs(self, request, queryset) -> None:
        done = 0
        for run in queryset.exclude(
            status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED]
        ):
            judge_run_cancel(run=run)
            done += 1
        self.message_user(request, f"Asked {done} runs to stop.")

    @admin.action(description="Resume the selected runs")
    def resume_runs(self, request, queryset) -> None:
        resumed = 0
        for run in queryset:
            try:
                judge_run_resume(run=run)
                resumed += 1
            except ValidationError as exc:
                self.message_user(request, exc.message, level=messages.WARNING)
        self.message_user(request, f"Queued {resumed} runs again.")


@admin.register(JudgeFailure)
class JudgeFailureAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "comparison", "kind", "short_message", "created_at"]
    list_filter = ["kind", "run__judge"]
    search_fields = ["message"]
    raw_id_fields = ["run", "comparison"]

    @admin.display(description="message")
    def short_message(self, obj: JudgeFailure) -> str:
        return obj.message[:100]


@admin.register(JudgeCacheEntry)
class JudgeCacheEntryAdmin(admin.ModelAdmin):
    list_display = ["key", "judge", "created_at"]
    list_filter = ["judge"]
    search_fields = ["key"]
    readonly_fields = ["key", "judge", "output", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False


class ProjectJudgingForm(forms.ModelForm):
    class Meta:
        model = ProjectJudging
        fields = [
            "project",
            "mode",
            "judge",
            "confidence_threshold",
            "gold_size",
            "agreement_threshold",
            "audit_rate",
            "judge_min_agreement",
            "judge_min_comparisons",
        ]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("mode") and data["mode"] != JudgingMode.HUMANS and not data.get("judge"):
            self.add_error("judge", f"mode {data['mode']!r} needs a judge")
        return data


@admin.register(ProjectJudging)
class ProjectJudgingAdmin(admin.ModelAdmin):
    form = ProjectJudgingForm
    list_display = ["project", "mode", "judge", "calibrated", "agreement_link", "updated_at"]
    list_filter = ["mode"]
    search_fields = ["project__name"]
    readonly_fields = ["calibration", "calibrated_at"]
    actions = ["apply_routing"]

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("agreement/", view(views.agreement_index), name="judges_agreement_index"),
            path(
                "agreement/<int:project_id>/",
                view(views.agreement_report_view),
                name="judges_agreement",
            ),
            path(
                "rater-quality/<int:project_id>/",
                view(quality_views.rater_quality_view),
                name="judges_rater_quality",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="calibrated", boolean=True)
    def calibrated(self, obj: ProjectJudging) -> bool:
        return obj.calibrated

    @admin.display(description="agreement")
    def agreement_link(self, obj: ProjectJudging) -> str:
        url = reverse("admin:judges_agreement", args=[obj.project_id])
        return format_html('<a href="{}">report</a>', url)

    def save_model(self, request, obj: ProjectJudging, form, change: bool) -> None:
        data = form.cleaned_data
        saved = project_judging_set(
            project=data["project"],
            mode=data["mode"],
            judge=data.get("judge"),
            confidence_threshold=data["confidence_threshold"],
            gold_size=data["gold_size"],
            agreement_threshold=data["agreement_threshold"],
            audit_rate=data["audit_rate"],
            judge_min_agreement=data["judge_min_agreement"],
            judge_min_comparisons=data["judge_min_comparisons"],
        )
        obj.pk = saved.pk

    @admin.action(description="Route the selected projects' comparisons again")
    def apply_routing(self, request, queryset) -> None:
        for judging in queryset.select_related("project"):
            counts = routing_apply(project=judging.project)
            self.message_user(
                request,
                f"{judging.project}: {counts.get('judge', 0)} settled by the judge, "
                f"{counts.get('human', 0)} with humans.",
            )


@admin.register(ComparisonRoute)
class ComparisonRouteAdmin(admin.ModelAdmin):
    list_display = ["comparison", "project", "decision", "reason", "confidence", "slots_held"]
    list_filter = ["decision", "reason", "project"]
    raw_id_fields = ["comparison", "judge"]
    readonly_fields = [
        "comparison",
        "project",
        "judge",
        "decision",
        "reason",
        "confidence",
        "slots_held",
        "updated_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(GoldAnswer)
class GoldAnswerAdmin(admin.ModelAdmin):
    """Gold / attention-check comparisons and their expected answers (rater quality)."""

    list_display = ["comparison", "project", "choice", "note", "created_at"]
    list_filter = ["project", "choice"]
    search_fields = ["note", "comparison__id"]
    raw_id_fields = ["comparison"]
    readonly_fields = ["project"]

    def save_model(self, request, obj: GoldAnswer, form, change: bool) -> None:
        obj.project_id = obj.comparison.project_id
        super().save_model(request, obj, form, change)
