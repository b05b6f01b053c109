"""The admin's import page: upload a file into a project, see the report or why nothing was
imported. `ProjectAdminImportMixin` adds it to a Project ModelAdmin."""

from __future__ import annotations

from django import forms
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path

from annotate.models import Project
from annotate.services.import_ import FORMATS, ImportFileError, ImportReport, data_import

IMPORT_PERMISSIONS = ("annotate.add_prompt", "annotate.add_response")


class ImportForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.all())
    file = forms.FileField(
        help_text="JSONL, JSON or CSV: prompts, prompts with candidate responses, or trl "
        "preference pairs (prompt / chosen / rejected)."
    )
    format = forms.ChoiceField(
        choices=[("", "From the file name")] + [(f, f.upper()) for f in FORMATS], required=False
    )
    skip_invalid = forms.BooleanField(
        required=False,
        label="Skip invalid rows",
        help_text="Import the good rows and list the bad ones, instead of importing nothing.",
    )


def project_import_view(
    request: HttpRequest, *, admin_site: AdminSite, project_id: int | None = None
) -> HttpResponse:
    if not request.user.has_perms(IMPORT_PERMISSIONS):
        raise PermissionDenied
    project = get_object_or_404(Project, pk=project_id) if project_id is not None else None
    report: ImportReport | None = None
    error: ImportFileError | None = None
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                report = data_import(
                    project=form.cleaned_data["project"],
                    file=upload,
                    filename=upload.name,
                    fmt=form.cleaned_data["format"] or None,
                    skip_invalid=form.cleaned_data["skip_invalid"],
                )
            except ImportFileError as exc:
                error = exc
            project = form.cleaned_data["project"]
    else:
        form = ImportForm(initial={"project": project})
    context = {
        **admin_site.each_context(request),
        "title": f"Import data into {project}" if project else "Import data",
        "opts": Project._meta,
        "project": project,
        "form": form,
        "report": report,
        "error": error,
    }
    status = 400 if error else 200
    return TemplateResponse(request, "admin/annotate/import.html", context, status=status)


class ProjectAdminImportMixin:
    """Adds import/ and <id>/import/ to a Project ModelAdmin. The project change page and the
    changelist link to them from their object tools (templates/admin/annotate/project/)."""

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_view)
        # Before the default URLs: their "<path:object_id>/" would swallow "<id>/import/".
        return [
            path("import/", view, name="annotate_project_import_any"),
            path("<int:project_id>/import/", view, name="annotate_project_import"),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest, project_id: int | None = None) -> HttpResponse:
        return project_import_view(request, admin_site=self.admin_site, project_id=project_id)
