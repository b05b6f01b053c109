"""Admin actions that need a form page of their own. Wire into ProjectAdmin.actions."""

from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from annotate.errors import ValidationError
from annotate.models import RaterKind, SnapshotFormat, SnapshotKind
from annotate.services.export import ExportOptions, snapshot_export
from annotate.services.export.options import JudgeAdmission, JudgeVotes

JUDGE_FIELDS = (
    "judge_votes",
    "judge_admission",
    "judge_include",
    "judge_weight",
    "judge_soft_labels",
    "judge_min_confidence",
    "judge_consistent_only",
)


class ExportForm(forms.Form):
    kind = forms.ChoiceField(choices=SnapshotKind.choices, initial=SnapshotKind.PREFERENCE)
    format = forms.ChoiceField(choices=SnapshotFormat.choices, initial=SnapshotFormat.STANDARD)
    rater_kinds = forms.MultipleChoiceField(
        choices=RaterKind.choices,
        initial=RaterKind.values,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only votes cast by these kinds of raters count.",
    )
    keep_ties = forms.BooleanField(
        required=False,
        help_text="Write tie verdicts both ways round (margin 0) instead of dropping them.",
    )
    keep_both_bad = forms.BooleanField(
        required=False,
        help_text="Pairs: both ways round, like ties. KTO: both responses labelled undesirable.",
    )
    include_margin = forms.BooleanField(
        required=False, label="Margin column", help_text="Mean vote strength toward the winner."
    )
    min_agreement = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        initial=0.0,
        help_text="Drop decisions where fewer than this share of the votes agree with the majority.",
    )
    since = forms.DateField(
        required=False, help_text="Votes cast on or after this day (YYYY-MM-DD)."
    )
    until = forms.DateField(required=False, help_text="Votes cast on or before this day.")
    # Not required: a form posted without them (an older page, a script) exports as before.
    judge_votes = forms.ChoiceField(
        required=False,
        choices=JudgeVotes.choices,
        initial=JudgeVotes.INCLUDE,
        label="Judge votes",
        help_text="Count AI-judge votes with the others, leave them out, or count only them.",
    )
    judge_admission = forms.ChoiceField(
        required=False,
        choices=JudgeAdmission.choices,
        initial=JudgeAdmission.ADMITTED,
        label="Which judges",
        help_text="Only judges that pass the project's admission gate (agreement with the "
        "human majority, see the agreement report), or every judge. Recorded on the snapshot.",
    )
    judge_include = forms.CharField(
        required=False,
        label="Also include judges",
        help_text="Comma-separated judge names to count although the gate does not admit "
        "them (recorded as included by hand).",
    )
    judge_weight = forms.FloatField(
        required=False,
        initial=1.0,
        label="Judge weight",
        help_text="What one judge vote weighs against one human vote in the majority, the "
        "agreement and the margin (0.5: two judge votes balance one human vote).",
    )
    judge_soft_labels = forms.BooleanField(
        required=False,
        label="Judge soft labels",
        help_text="A judge vote counts p toward A and 1 - p toward B, p = its preference "
        "probability (pairwise; votes without one count as their verdict).",
    )
    judge_min_confidence = forms.FloatField(
        required=False,
        min_value=0.0,
        max_value=1.0,
        initial=0.0,
        label="Judge minimum confidence",
        help_text="Drop judge votes whose confidence is below this (0 keeps them all).",
    )
    judge_consistent_only = forms.BooleanField(
        required=False,
        label="Position-consistent judge votes only",
        help_text="Drop judge votes whose verdicts in the two presentation orders disagreed.",
    )
    name = forms.CharField(
        required=False, max_length=150, help_text="Default: project, kind, time."
    )
    save_to_disk = forms.BooleanField(
        required=False,
        initial=True,
        label="datasets directory",
        help_text="Also write a directory for datasets.load_from_disk beside the JSONL.",
    )

    def clean_judge_weight(self) -> float | None:
        weight = self.cleaned_data.get("judge_weight")
        if weight is not None and weight <= 0:
            raise forms.ValidationError("The judge weight must be greater than 0.")
        return weight

    def clean(self) -> dict:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end of the date range is before its start.")
        if not self.errors:
            # The service's own rules (judge weight > 0, judge votes vs rater kinds, ...), shown
            # against the field they concern.
            try:
                self.to_options().validate()
            except ValidationError as exc:
                self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data

    def general_fields(self) -> list:
        return [field for field in self if field.name not in JUDGE_FIELDS]

    def judge_fields(self) -> list:
        return [self[name] for name in JUDGE_FIELDS]

    def to_options(self) -> ExportOptions:
        data = self.cleaned_data
        return ExportOptions(
            kind=data["kind"],
            format=data["format"],
            rater_kinds=tuple(data["rater_kinds"]),
            since=_day_bound(data.get("since"), time.min),
            until=_day_bound(data.get("until"), time.max),
            min_agreement=data["min_agreement"],
            keep_ties=data["keep_ties"],
            keep_both_bad=data["keep_both_bad"],
            include_margin=data["include_margin"],
            judge_votes=data["judge_votes"] or JudgeVotes.INCLUDE,
            judge_admission=data.get("judge_admission") or JudgeAdmission.ADMITTED,
            judge_include=_names(data.get("judge_include") or ""),
            judge_weight=_or(data["judge_weight"], 1.0),
            judge_soft_labels=data["judge_soft_labels"],
            judge_min_confidence=_or(data["judge_min_confidence"], 0.0),
            judge_consistent_only=data["judge_consistent_only"],
        )


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _day_bound(day, at: time) -> datetime | None:
    return timezone.make_aware(datetime.combine(day, at)) if day else None


@admin.action(description="Export snapshot (trl preference / KTO / SFT data)")
def export_snapshot(modeladmin, request, queryset):
    """Form page first; on "apply", one DatasetSnapshot per selected project, linked in a message."""
    if not request.user.has_perm("annotate.add_datasetsnapshot"):
        modeladmin.message_user(
            request, "You may not create dataset snapshots.", level=messages.ERROR
        )
        return None
    form = ExportForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        _export(modeladmin, request, queryset, form)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Export snapshot",
        "opts": modeladmin.model._meta,
        "form": form,
        "queryset": queryset,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "action_name": "export_snapshot",
    }
    return TemplateResponse(request, "admin/annotate/export.html", context)


def _export(modeladmin, request, queryset, form: ExportForm) -> None:
    options = form.to_options()
    name = form.cleaned_data["name"] or None
    several = queryset.count() > 1
    created = []
    for project in queryset:
        try:
            snapshot = snapshot_export(
                project=project,
                options=options,
                name=f"{name} ({project.slug})" if name and several else name,
                user=request.user,
                save_to_disk=form.cleaned_data["save_to_disk"],
            )
        except ValidationError as exc:
            modeladmin.message_user(
                request, f"{project.name}: nothing exported: {exc.message}", level=messages.WARNING
            )
            continue
        created.append(snapshot)
    if created:
        links = format_html_join(
            ", ",
            '<a href="{}">{}</a> ({} rows)',
            (
                (reverse("admin:annotate_datasetsnapshot_change", args=[s.pk]), s.name, s.row_count)
                for s in created
            ),
        )
        modeladmin.message_user(
            request, format_html("Snapshot created: {}", links), messages.SUCCESS
        )
