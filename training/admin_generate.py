"""The admin action "Generate K candidates" on projects and prompts, with its form page.

Wire into annotate's admin (annotate/admin.py): ProjectAdmin and PromptAdmin actions.
"""

from __future__ import annotations

from collections import defaultdict

from django import forms
from django.contrib import messages

from annotate.errors import ValidationError
from annotate.models import Project, Prompt
from training.admin_common import form_page, policies, report
from training.models import ModelVersion
from training.services.generation import MAX_K, generation_create


class GenerateForm(forms.Form):
    model_version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(),
        help_text="A local policy (sampled with transformers in a child process) or one served "
        "by an OpenAI-compatible endpoint.",
    )
    k = forms.IntegerField(
        label="K", min_value=1, max_value=MAX_K, initial=4, help_text="Candidates per prompt."
    )
    temperature = forms.FloatField(min_value=0.0, initial=1.0)
    top_p = forms.FloatField(min_value=0.0, max_value=1.0, initial=1.0)
    max_new_tokens = forms.IntegerField(min_value=1, initial=128)
    seed = forms.IntegerField(required=False, help_text="Empty: the job's default seed.")
    concurrency = forms.IntegerField(
        required=False, min_value=1, help_text="Endpoints only: requests in flight at once."
    )
    pair_with = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(),
        required=False,
        label="Head to head with",
        help_text="Also compare each new response with this version's answers to the same "
        "prompt (e.g. the parent policy), for raters and judges to pick the better model.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model_version"].queryset = policies()
        self.fields["pair_with"].queryset = policies()

    def clean(self) -> dict:
        data = super().clean()
        if data.get("pair_with") and data.get("pair_with") == data.get("model_version"):
            self.add_error("pair_with", "Choose another version than the one generating.")
        return data

    def params(self) -> dict:
        data = self.cleaned_data
        params = {k: data[k] for k in ("temperature", "top_p", "max_new_tokens")}
        if data.get("seed") is not None:
            params["seed"] = data["seed"]
        if data.get("concurrency") and data["model_version"].endpoint:
            params["concurrency"] = data["concurrency"]
        return params


def generate_candidates(modeladmin, request, queryset):
    """K responses per prompt from a model version; comparisons follow each project's mode."""
    if not request.user.has_perm("training.add_generationjob"):
        modeladmin.message_user(request, "You may not start generation jobs.", messages.ERROR)
        return None
    form = GenerateForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        jobs = []
        for project, prompts in _prompts_by_project(queryset).items():
            try:
                jobs.append(
                    generation_create(
                        project=project,
                        model_version=form.cleaned_data["model_version"],
                        k=form.cleaned_data["k"],
                        prompts=prompts,
                        params=form.params(),
                        user=request.user,
                        pair_with=form.cleaned_data.get("pair_with"),
                    )
                )
            except ValidationError as exc:
                modeladmin.message_user(request, f"{project}: {exc}", messages.ERROR)
        return report(modeladmin, request, jobs, "Generation job(s)")
    return form_page(
        modeladmin,
        request,
        queryset,
        form,
        title="Generate K candidates",
        action="generate_candidates",
        intro="K responses per prompt, recorded with the model version and sampling parameters; "
        "comparisons follow each project's mode (every pair, or one N-way ranking).",
    )


generate_candidates.short_description = "Generate K candidates"


def _prompts_by_project(queryset) -> dict[Project, list[Prompt] | None]:
    if queryset.model is Project:
        return {project: None for project in queryset}
    grouped: dict[Project, list[Prompt]] = defaultdict(list)
    for prompt in queryset.select_related("project"):
        grouped[prompt.project].append(prompt)
    return dict(grouped)
