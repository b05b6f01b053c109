"""What the training admin's action pages share: the form page, the report of started jobs."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin import helpers
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from training.models import EngineJob, ModelKind, ModelVersion


def policies():
    return ModelVersion.objects.filter(kind=ModelKind.POLICY)


def form_page(modeladmin, request, queryset, form, *, title: str, action: str, intro: str):
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "opts": modeladmin.model._meta,
        "form": form,
        "queryset": queryset,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "action_name": action,
        "hyperparameter_help": getattr(form, "hyperparameter_help", []),
    }
    return TemplateResponse(request, "admin/training/action_form.html", context)


def _links(jobs: list[EngineJob]):
    return format_html_join(
        ", ", '<a href="{}">{}</a>', ((job.get_absolute_url(), str(job)) for job in jobs)
    )


def report(modeladmin, request, jobs: list[EngineJob], what: str):
    if not jobs:
        return None
    failed = [j for j in jobs if j.status == "failed"]
    if failed:
        modeladmin.message_user(
            request,
            format_html("{} could not start (see why on its page): {}", what, _links(failed)),
            messages.ERROR,
        )
    started = [j for j in jobs if j.status != "failed"]
    if started:
        modeladmin.message_user(
            request, format_html("{} started: {}", what, _links(started)), messages.SUCCESS
        )
    if len(jobs) == 1:
        return HttpResponseRedirect(jobs[0].get_absolute_url())
    return None
