"""The annotator's pages. One view serves the full page and, under htmx, just the panel."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from annotate.errors import ValidationError
from annotate.forms import SkipForm, VoteForm
from annotate.membership import project_for_member
from annotate.models import Assignment, AssignmentStatus, ComparisonItem, Membership, Response
from annotate.progress import history_for, previous_assignment, progress_for
from annotate.rendering import word_diff_html
from annotate.services.queue import (
    assignment_for_vote,
    assignment_next,
    assignment_skip,
    assignment_unskip,
    assignments_ahead,
)
from annotate.services.raters import rater_for_user
from annotate.services.votes import last_action_undo, vote_submit
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
    request,
    project,
    rater,
    assignment,
    *,
    status=200,
    error="",
    event=None,
    previous=None,
    undone=None,
):
    if previous is None or (assignment is not None and previous.pk == assignment.pk):
        previous = previous_assignment(
            project=project, rater=rater, before_id=assignment.pk if assignment else None
        )
    panel = None
    if assignment is not None:
        panel = panel_for(
            project=project, assignment=assignment, undone=undone.vote if undone else None
        )
        if undone is not None:
            panel.skip_reason, panel.flag = undone.skip_reason, undone.flag or panel.flag
    context = {"project": project, "error": error, "panel": panel, "previous": previous}
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


# Panels in one prefetch answer are separated by this comment (it cannot occur inside a panel:
# response text is escaped).
PANEL_SEPARATOR = "<!--ps:next-panel-->"
PREFETCH_MAX = 5


def _ids(value: str, *, limit: int = 50) -> list[int] | None:
    """Comma-separated comparison ids ("" gives []), or None when malformed."""
    parts = [part for part in value.split(",") if part]
    if len(parts) > limit or not all(part.isdigit() and len(part) <= 18 for part in parts):
        return None
    return [int(part) for part in parts]


@login_required
@require_GET
def prefetch(request: HttpRequest, slug: str) -> HttpResponse:
    """The panels of the items after `?after=<comparison id>`, fetched while the rater works.

    `exclude` (comma-separated ids) names what the page already holds besides `after`: items
    whose vote is on its way and panels prefetched before; `count` (1-5) how many to send. Each
    panel's "Previous" link goes to the item shown before it.
    """
    project, _ = project_for_member(user=request.user, slug=slug)
    rater = rater_for_user(user=request.user)
    after = _ids(request.GET.get("after", ""), limit=1)
    exclude = _ids(request.GET.get("exclude", ""))
    count = request.GET.get("count", "1")
    if not after or exclude is None:
        return HttpResponse("after=<comparison id> is required; exclude=<ids>", status=400)
    if not (count.isdigit() and 1 <= int(count) <= PREFETCH_MAX):
        return HttpResponse(f"count is an integer from 1 to {PREFETCH_MAX}", status=400)
    following = assignments_ahead(
        project=project, rater=rater, exclude=[*after, *exclude], count=int(count)
    )
    if not following:
        return HttpResponse(status=204)
    previous = Assignment.objects.filter(rater=rater, comparison_id=after[0]).first()
    panels = []
    for assignment in following:
        context = {"project": project, "error": "", "previous": previous}
        context["panel"] = panel_for(project=project, assignment=assignment)
        panels.append(render_to_string(PANEL, context, request=request))
        previous = assignment
    return HttpResponse(PANEL_SEPARATOR.join(panels))


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
            name, errors = next(iter(form.errors.items()))
            raise ValidationError(" ".join(errors), field=name)
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
            edited_from_id=form.cleaned_data["edit_source"]
            if form.cleaned_data["edited_text"]
            else None,
            flag=form.cleaned_data["flag"] if "flag" in request.POST else None,
            flag_note=form.cleaned_data["flag_note"],
        )
    except ValidationError as exc:
        return _render(request, project, rater, assignment, status=422, error=_for_raters(exc))
    if not request.htmx:
        return redirect("annotate:compare", slug=project.slug)
    if _shown_ahead(request):
        return _saved()
    nxt = assignment_next(project=project, rater=rater)
    # The item just voted is the next one's "previous": no need to look it up.
    return _render(request, project, rater, nxt, event="ps:voted", previous=assignment)


def _shown_ahead(request: HttpRequest) -> bool:
    """The page already shows the next item (a prefetched panel): no need to render one."""
    return request.htmx and request.headers.get("X-PS-Shown", "").isdigit()


def _saved() -> HttpResponse:
    response = HttpResponse(status=204)
    trigger_client_event(response, "ps:voted")
    return response


# What a refused vote means to the person at the keyboard; the API keeps the exact messages.
RATER_MESSAGES = {
    "choice": "Choose first: A better (1), B better (2), Tie (3) or Both bad (4).",
    "strength": "Say how much better: slightly (z), clearly (x) or much (c).",
    "ranking": "The ranking was not read right: put every response in order, then submit again.",
}


def _for_raters(exc: ValidationError) -> str:
    if exc.field == "strength" and "goes with" in exc.message:
        return "How much better only goes with A better or B better: clear it or choose A or B."
    return RATER_MESSAGES.get(exc.field or "", exc.message[:1].upper() + exc.message[1:])


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
    if _shown_ahead(request):
        return _saved()
    nxt = assignment_next(project=project, rater=rater)
    return _render(request, project, rater, nxt, event="ps:voted")


@login_required
@require_POST
def undo(request: HttpRequest, slug: str) -> HttpResponse:
    """Take back the last action, a vote or a skip: its item comes back to be judged again,
    with what the rater had entered (choice, ratings, rationale, edit) in the form."""
    project, _ = project_for_member(user=request.user, slug=slug)
    rater = rater_for_user(user=request.user)
    try:
        undone = last_action_undo(project=project, rater=rater)
    except ValidationError as exc:
        nxt = assignment_next(project=project, rater=rater)
        return _render(request, project, rater, nxt, status=409, error=_for_raters(exc))
    if undone is None:
        nxt = assignment_next(project=project, rater=rater)
        return _render(request, project, rater, nxt, status=409, error="Nothing to undo.")
    assignment = undone.assignment
    if not request.htmx:
        return redirect("annotate:item", slug=project.slug, comparison_id=assignment.comparison_id)
    return _render(request, project, rater, assignment, event="ps:voted", undone=undone)


@login_required
@require_POST
def reopen(request: HttpRequest, slug: str, comparison_id: int) -> HttpResponse:
    """Reopen an item the rater skipped, to judge it after all."""
    project, _ = project_for_member(user=request.user, slug=slug)
    rater = rater_for_user(user=request.user)
    assignment = get_object_or_404(
        Assignment,
        rater=rater,
        comparison_id=comparison_id,
        project=project,
        status=AssignmentStatus.SKIPPED,
    )
    try:
        assignment_unskip(assignment=assignment)
    except ValidationError as exc:
        items = history_for(project=project, rater=rater)
        context = {"project": project, "items": items, "error": _for_raters(exc)}
        return render(request, "annotate/history.html", context, status=409)
    return redirect("annotate:item", slug=project.slug, comparison_id=comparison_id)


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
