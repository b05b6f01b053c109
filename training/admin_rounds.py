"""Rounds in the admin: the sequence of policies a project went through, each round's candidates,
runs and the versions they produced with their evaluations, and "start the next round" from the
best one.

The list (filter by project) is the sequence; a round's page details it. A round is started from
the add page (the first one) or with the action on the list (the next one, from the best version,
generating its candidates at once).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.utils.html import format_html, format_html_join

from annotate.errors import ValidationError
from annotate.models import Vote
from training.admin_common import form_page
from training.models import ModelKind, ModelVersion, Round
from training.selectors import round_best, round_versions
from training.services.rounds import round_start, round_start_next


def _versions(obj: Round) -> list:
    """round_versions, once per round per page (several columns show them)."""
    if not hasattr(obj, "_round_versions"):
        obj._round_versions = round_versions(round=obj)
    return obj._round_versions


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


class RoundAddForm(forms.ModelForm):
    class Meta:
        model = Round
        fields = ["project", "policy", "notes"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = ModelVersion.objects.filter(kind=ModelKind.POLICY)


class NextRoundForm(forms.Form):
    policy = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(),
        help_text="Preselected: the best version of the round (highest win rate over the round's "
        "policy, judged head to head when votes exist, else by its evaluation; no reward-hacking "
        "warning).",
    )
    generate = forms.BooleanField(
        required=False,
        initial=True,
        help_text="Generate the new round's candidates now: K per prompt with the round's last "
        "sampling settings, paired head to head with the old policy's answers.",
    )

    def __init__(self, *args, round: Round, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        versions = round_versions(round=round)
        ids = [round.policy_id, *(v.version.pk for v in versions)]
        self.fields["policy"].queryset = ModelVersion.objects.filter(pk__in=ids)
        self.fields["policy"].initial = round_best(round=round, versions=versions).pk


@admin.action(description="Start the next round from the best version")
def start_next_round(modeladmin, request, queryset):
    if not request.user.has_perm("training.add_round"):
        modeladmin.message_user(request, "You may not start rounds.", messages.ERROR)
        return None
    if queryset.count() != 1:
        modeladmin.message_user(request, "Choose exactly one round.", messages.WARNING)
        return None
    round = queryset.get()
    latest = Round.objects.filter(project=round.project).order_by("-number").first()
    if latest.pk != round.pk:
        modeladmin.message_user(
            request,
            f"Round {round.number} is not the latest of {round.project}: start from round "
            f"{latest.number}.",
            messages.WARNING,
        )
        return None
    form = NextRoundForm(request.POST if "apply" in request.POST else None, round=round)
    if form.is_bound and form.is_valid():
        try:
            new, job = round_start_next(
                round=round,
                policy=form.cleaned_data["policy"],
                user=request.user,
                generate=form.cleaned_data["generate"],
            )
        except ValidationError as exc:
            modeladmin.message_user(request, exc.message, messages.ERROR)
            return None
        text = f"Round {new.number} started from {new.policy}"
        if job is not None:
            text += f"; generation job {job.pk} is {job.status}"
        modeladmin.message_user(request, text + ".", messages.SUCCESS)
        return HttpResponseRedirect(new.get_absolute_url())
    return form_page(
        modeladmin,
        request,
        queryset,
        form,
        title=f"Start round {round.number + 1} of {round.project}",
        action="start_next_round",
        intro="The next round starts from the chosen policy: it writes the new candidates that "
        "raters and judges compare.",
    )


@admin.register(Round)
class RoundAdmin(admin.ModelAdmin):
    list_display = ["project", "number", "policy", "policy_evaluation", "produced", "best_next"]
    list_display_links = ["project", "number"]
    list_filter = ["project"]
    list_select_related = ["project", "policy", "policy__produced_by"]
    ordering = ["project", "number"]
    actions = [start_next_round]
    readonly_fields = ["number", "previous", "sequence", "jobs", "created_by", "created_at"]
    view_on_site = False

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = RoundAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["project", "policy", "notes"]
        return [
            ("project", "number", "previous"),
            "policy",
            "notes",
            "sequence",
            "jobs",
            ("created_by", "created_at"),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [*self.readonly_fields, "project", "policy"]

    def save_model(self, request, obj, form, change) -> None:
        if change:
            obj.save(update_fields=["notes"])
            return
        try:
            created = round_start(
                project=form.cleaned_data["project"],
                policy=form.cleaned_data["policy"],
                user=request.user,
                notes=form.cleaned_data.get("notes", ""),
            )
        except ValidationError as exc:
            raise forms.ValidationError(exc.message) from exc
        obj.pk, obj.number = created.pk, created.number

    @admin.display(description="policy's evaluation")
    def policy_evaluation(self, obj: Round) -> str:
        m = obj.policy.metrics or {}
        parts = [f"{k} {m[k]:.3g}" for k in ("win_rate", "kl") if isinstance(m.get(k), float)]
        return ", ".join(parts) or "-"

    @admin.display(description="versions produced (judged / RM win rate)")
    def produced(self, obj: Round) -> str:
        versions = _versions(obj)
        if not versions:
            return "-"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a> ({} / {})',
            (
                (v.version.get_absolute_url(), v.version.name, _rate(v.judged), _rate(v.win_rate))
                for v in versions
            ),
        )

    @admin.display(description="best (starts the next round)")
    def best_next(self, obj: Round) -> str:
        best = round_best(round=obj, versions=_versions(obj))
        return best.name if best.pk != obj.policy_id else f"{best.name} (unchanged)"

    @admin.display(description="versions this round produced")
    def sequence(self, obj: Round) -> str:
        versions = _versions(obj)
        if not versions:
            return "None yet: train from the project's snapshot (admin actions on the project)."
        best = round_best(round=obj, versions=versions)
        rows = format_html_join(
            "",
            "<tr><td>{}<a href='{}'>{}</a></td><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td>"
            "<td>{}</td><td>{}</td></tr>",
            (
                (
                    "★ " if v.version.pk == best.pk else "",
                    v.version.get_absolute_url(),
                    v.version.name,
                    v.run.get_absolute_url(),
                    str(v.run),
                    _rate(v.win_rate),
                    "-" if v.kl is None else f"{v.kl:.3g}",
                    _rate(v.judged),
                    "; ".join(v.warnings) or "-",
                )
                for v in versions
            ),
        )
        return format_html(
            "<table><thead><tr><th>version</th><th>run</th><th>win rate vs parent (RM)</th>"
            "<th>KL</th><th>win rate vs round policy (judged)</th><th>warnings</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="candidates and votes")
    def jobs(self, obj: Round) -> str:
        generations = list(obj.generation_jobs.order_by("pk"))
        votes = (
            Vote.objects.filter(
                comparison__project=obj.project,
                comparison__items__response__model_version=obj.policy,
            )
            .distinct()
            .count()
        )
        links = format_html_join(
            ", ",
            "<a href='{}'>{}</a>",
            ((j.get_absolute_url(), str(j)) for j in generations),
        )
        return format_html(
            "{} generation job(s): {}. {} vote(s) on comparisons with the policy's answers.",
            len(generations),
            links or "-",
            votes,
        )
