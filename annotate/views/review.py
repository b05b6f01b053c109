"""Reviewers: every rater's vote on a comparison side by side, and a final verdict."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from annotate.errors import ValidationError
from annotate.forms import AdjudicationForm
from annotate.membership import project_for_reviewer
from annotate.models import Comparison
from annotate.review import adjudication_save, comparisons_for_review, votes_side_by_side


def plain_errors(view):
    """Answer 404 and 403 with the project's own pages, DEBUG or not.

    Under DEBUG, Django turns Http404 into its technical page, which lists every URL pattern:
    an annotator poking at a review URL in a dev deployment must see a plain page instead.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return render(request, "404.html", status=404)
        except PermissionDenied as exc:
            return render(request, "403.html", {"exception": str(exc)}, status=403)

    return wrapper


@login_required
@plain_errors
def review_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_reviewer(user=request.user, slug=slug)
    only_disagreements = request.GET.get("all") != "1"
    rows = comparisons_for_review(project=project, only_disagreements=only_disagreements)
    return render(
        request,
        "annotate/review_list.html",
        {"project": project, "rows": rows, "only_disagreements": only_disagreements},
    )


@login_required
@plain_errors
@require_http_methods(["GET", "POST"])
def review_detail(request: HttpRequest, slug: str, comparison_id: int) -> HttpResponse:
    project = project_for_reviewer(user=request.user, slug=slug)
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
