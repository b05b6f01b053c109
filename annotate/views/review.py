"""Reviewers: every rater's vote on a comparison side by side, and a final verdict."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from annotate.errors import ValidationError
from annotate.forms import AdjudicationForm
from annotate.membership import REVIEW_ROLES, project_for_member
from annotate.models import Comparison
from annotate.review import adjudication_save, comparisons_for_review, votes_side_by_side


@login_required
def review_list(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = project_for_member(user=request.user, slug=slug, roles=REVIEW_ROLES)
    only_disagreements = request.GET.get("all") != "1"
    rows = comparisons_for_review(project=project, only_disagreements=only_disagreements)
    return render(
        request,
        "annotate/review_list.html",
        {"project": project, "rows": rows, "only_disagreements": only_disagreements},
    )


@login_required
@require_http_methods(["GET", "POST"])
def review_detail(request: HttpRequest, slug: str, comparison_id: int) -> HttpResponse:
    project, _ = project_for_member(user=request.user, slug=slug, roles=REVIEW_ROLES)
    comparison = get_object_or_404(Comparison, pk=comparison_id, project=project)
    error = ""
    if request.method == "POST":
        form = AdjudicationForm(request.POST)
        if form.is_valid():
            try:
                adjudication_save(
                    comparison=comparison,
                    reviewer=request.user,
                    choice=form.cleaned_data["choice"],
                    ranking_json=form.cleaned_data["ranking"],
                    note=form.cleaned_data["note"],
                )
                return redirect("annotate:review_list", slug=project.slug)
            except ValidationError as exc:
                error = str(exc)
    context = {"project": project, "error": error, **votes_side_by_side(comparison=comparison)}
    return render(request, "annotate/review_detail.html", context, status=422 if error else 200)
