"""The annotator's pages. One view serves the full page and, under htmx, just the panel."""

from __future__ import annotations

import difflib

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from annotate.errors import ValidationError
from annotate.forms import SkipForm, VoteForm
from annotate.membership import project_for_member
from annotate.models import Assignment, AssignmentStatus, ComparisonItem, Membership, Response
from annotate.progress import history_for, last_vote, previous_assignment, progress_for
from annotate.services.queue import (
    assignment_for_vote,
    assignment_next,
    assignment_prefetch,
    assignment_skip,
)
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_delete, vote_submit
from annotate.views.panel import panel_for, shown_order

PANEL = "annotate/compare.html#panel"


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    rater = rater_for_user(user=request.user)
    memberships = Membership.objects.filter(user=request.user).select_related("project")
    rows = [(m, progress_for(project=m.project, rater=rater)) for m in memberships]
    return render(request, "annotate/home.html", {"rows": rows})


def _render(
    request, project, rater, assignment, *, status=200, error="", event=None, previous=None
):
    if previous is None or (assignment is not None and previous.pk == assignment.pk):
        previous = previous_assignment(
            project=project, rater=rater, before_id=assignment.pk if assignment else None
        )
    context = {
        "project": project,
        "error": error,
        "panel": panel_for(project=project, assignment=assignment) if assignment else None,
        "previous": previous,
    }
    template = PANEL if request.htmx else "annotate/compare.html"
    response = render(request, template, context, status=status)
    if event:
        trigger_client_event(response, event)
    return response


@login_required
@require_GET
def compare(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = project_for_member(user=request.user, slug=slug)
    rater = rater_for_user(user=request.user)
    return _render(request, project, rater, assignment_next(project=project, rater=rater))


@login_required
@require_GET
def prefetch(request: HttpRequest, slug: str) -> HttpResponse:
    """The panel of the item after `?after=<comparison id>`, fetched while the rater works."""
    project, _ = project_for_member(user=request.user, slug=slug)
    rater = rater_for_user(user=request.user)
    try:
        after = int(request.GET.get("after", ""))
    except ValueError:
        return HttpResponse("after=<comparison id> is required", status=400)
    following = assignment_prefetch(project=project, rater=rater, after_comparison_id=after)
    if following is None:
        return HttpResponse(status=204)
    # Once shown, the prefetched item's "previous" is the one on screen now.
    shown_now = Assignment.objects.filter(rater=rater, comparison_id=after).first()
    context = {"project": project, "error": "", "previous": shown_now}
    context["panel"] = panel_for(project=project, assignment=following)
    return render(request, PANEL, context)


@login_required
@require_GET
def item(request: HttpRequest, slug: str, comparison_id: int) -> HttpResponse:
    """Go back to an item this rater has (or had) in their queue."""
    project, _ = project_for_member(user=request.user, slug=slug)
    rater = rater_for_user(user=request.user)
    assignment = get_object_or_404(
        Assignment.objects.select_related("comparison__prompt"),
        rater=rater,
        comparison_id=comparison_id,
        project=project,
        status__in=[AssignmentStatus.ASSIGNED, AssignmentStatus.DONE],
    )
    return _render(request, project, rater, assignment)


@login_required
@require_POST
def vote(request: HttpRequest, slug: str, comparison_id: int) -> HttpResponse:
    project, _ = project_for_member(user=request.user, slug=slug)
    rater = rater_for_user(user=request.user)
    assignment = get_object_or_404(
        Assignment.objects.select_related("comparison__project", "comparison__prompt"),
        rater=rater,
        comparison_id=comparison_id,
        project=project,
    )
    canonical = list(
        ComparisonItem.objects.filter(comparison_id=comparison_id)
        .order_by("position")
        .values_list("response_id", flat=True)
    )
    shown = shown_order(assignment, canonical)
    form = VoteForm(
        request.POST,
        display_order=shown,
        canonical=canonical,
        criteria=list(project.criteria or []),
    )
    try:
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        assignment_for_vote(assignment=assignment)
        vote_submit(
            comparison=assignment.comparison,
            rater=rater,
            choice=form.canonical_choice(),
            strength=form.cleaned_data["strength"],
            ranking=form.cleaned_data["ranking"],
            ratings=form.ratings(),
            edited_text=form.cleaned_data["edited_text"] or None,
            rationale=form.cleaned_data["rationale"],
            time_spent_ms=form.cleaned_data["time_spent_ms"],
            display_order=shown,
            item_ids=canonical,
        )
    except ValidationError as exc:
        return _render(request, project, rater, assignment, status=422, error=str(exc))
    if not request.htmx:
        return redirect("annotate:compare", slug=project.slug)
    nxt = assignment_next(project=project, rater=rater)
    # The item just voted is the next one's "previous": no need to look it up.
    return _render(request, project, rater, nxt, event="ps:voted", previous=assignment)


def _form_errors(form) -> str:
    return "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items())


@login_required
@require_POST
def skip(request: HttpRequest, slug: str, comparison_id: int) -> HttpResponse:
    project, _ = project_for_member(user=request.user, slug=slug)
    rater = rater_for_user(user=request.user)
    assignment = get_object_or_404(
        Assignment,
        rater=rater,
        comparison_id=comparison_id,
        project=project,
        status=AssignmentStatus.ASSIGNED,
    )
    form = SkipForm(request.POST)
    form.is_valid()
    assignment_skip(
        assignment=assignment,
        reason=form.cleaned_data.get("reason", ""),
        flag=form.cleaned_data.get("flag", ""),
    )
    if not request.htmx:
        return redirect("annotate:compare", slug=project.slug)
    nxt = assignment_next(project=project, rater=rater)
    return _render(request, project, rater, nxt, event="ps:voted")


@login_required
@require_POST
def undo(request: HttpRequest, slug: str) -> HttpResponse:
    """Take back the last vote: it is deleted and its item comes back to be judged again."""
    project, _ = project_for_member(user=request.user, slug=slug)
    rater = rater_for_user(user=request.user)
    last = last_vote(project=project, rater=rater)
    if last is None:
        nxt = assignment_next(project=project, rater=rater)
        return _render(request, project, rater, nxt, status=409, error="Nothing to undo.")
    comparison_id = last.comparison_id
    vote_delete(vote=last)
    assignment = Assignment.objects.select_related("comparison__prompt").get(
        rater=rater, comparison_id=comparison_id
    )
    if not request.htmx:
        return redirect("annotate:item", slug=project.slug, comparison_id=comparison_id)
    return _render(request, project, rater, assignment, event="ps:voted")


@login_required
@require_GET
def progress(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = project_for_member(user=request.user, slug=slug)
    counts = progress_for(project=project, rater=rater_for_user(user=request.user))
    return render(
        request, "annotate/partials/progress.html", {"project": project, "progress": counts}
    )


@login_required
@require_GET
def history(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = project_for_member(user=request.user, slug=slug)
    items = history_for(project=project, rater=rater_for_user(user=request.user))
    return render(request, "annotate/history.html", {"project": project, "items": items})


@login_required
@require_POST
def diff(request: HttpRequest, slug: str) -> HttpResponse:
    """Word-level diff of an edit against the response it started from (escaped)."""
    project, _ = project_for_member(user=request.user, slug=slug)
    rater = rater_for_user(user=request.user)
    mine = Response.objects.filter(
        items__comparison__project=project, items__comparison__assignments__rater=rater
    ).distinct()
    try:
        source_id = int(request.POST.get("edit_source", ""))
    except ValueError:
        return HttpResponse('<span class="hint">Choose the better response first.</span>')
    original = get_object_or_404(mine, pk=source_id)
    return HttpResponse(word_diff_html(original.text, request.POST.get("edited_text", "")))


def word_diff_html(before: str, after: str) -> str:
    a, b = before.split(" "), after.split(" ")
    parts: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            parts.append(f"<del>{escape(' '.join(a[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            parts.append(f"<ins>{escape(' '.join(b[j1:j2]))}</ins>")
        if op == "equal":
            parts.append(escape(" ".join(a[i1:i2])))
    return mark_safe(" ".join(parts))  # noqa: S308 - every piece is escaped above
