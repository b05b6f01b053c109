"""Reviewers: every rater's vote on a comparison side by side, flags, and a final verdict.

One view serves each page and, under htmx, its fragment: the list's `#review-list` when a filter
changes, the detail's `#review` when moving to the next disagreement, and the verdict's
`#verdict-status` when a verdict is saved (so a drag in progress keeps its place and focus).
"""

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
from annotate.review import (
    CHOICE_WORDS,
    adjudication_save,
    comparison_review,
    comparisons_for_review,
    flagged_for_review,
    next_disagreement,
)

DETAIL = "annotate/review_detail.html"
SHOWS = {"disagreements": "Disagreements", "all": "All with 2+ votes", "flagged": "Flagged"}


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
@require_http_methods(["GET"])
def review_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_reviewer(user=request.user, slug=slug)
    show = request.GET.get("show") or ("all" if request.GET.get("all") == "1" else "")
    if show not in SHOWS:
        show = "disagreements"
    context = {
        "project": project,
        "show": show,
        "shows": list(SHOWS.items()),
        "rows": []
        if show == "flagged"
        else comparisons_for_review(project=project, only_disagreements=show != "all"),
        "flagged": flagged_for_review(project=project) if show == "flagged" else [],
        "next_id": next_disagreement(project=project),
    }
    template = (
        "annotate/review_list.html#review-list" if request.htmx else "annotate/review_list.html"
    )
    return render(request, template, context)


@login_required
@plain_errors
@require_http_methods(["GET", "POST"])
def review_detail(request: HttpRequest, slug: str, comparison_id: int) -> HttpResponse:
    project = project_for_reviewer(user=request.user, slug=slug)
    comparison = get_object_or_404(
        Comparison.objects.select_related("prompt", "project"), pk=comparison_id, project=project
    )
    error, saved = "", False
    if request.method == "POST":
        try:
            _save(request, comparison)
        except ValidationError as exc:
            error = str(exc)
        else:
            if not request.htmx:
                return redirect(
                    "annotate:review_detail", slug=project.slug, comparison_id=comparison.pk
                )
            saved = True
    context = {
        "project": project,
        "error": error,
        "saved": saved,
        "review": comparison_review(comparison=comparison),
        "choices": list(CHOICE_WORDS.items()),
    }
    template = DETAIL
    if request.htmx:
        template = f"{DETAIL}#verdict-status" if request.method == "POST" else f"{DETAIL}#review"
    return render(request, template, context, status=422 if error else 200)


def _save(request: HttpRequest, comparison: Comparison) -> None:
    form = AdjudicationForm(request.POST)
    if not form.is_valid():
        raise ValidationError("; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    ids = list(comparison.items.values_list("response_id", flat=True))
    adjudication_save(
        comparison=comparison,
        reviewer=request.user,
        choice=form.cleaned_data["choice"],
        ranking=form.ranking(ids) if len(ids) > 2 else None,
        note=form.cleaned_data["note"],
    )
