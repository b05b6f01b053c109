"""The demo project: prompts with written-for-the-demo candidates, and three seeded raters' votes.

Loading is idempotent: prompts, responses and comparisons dedupe by content hash, and a demo
rater's existing vote is left as it is, so a second run adds nothing.
"""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

from annotate.demo import PROJECT_FILE, VOTES_FILE
from annotate.models import (
    Choice,
    Comparison,
    ComparisonItem,
    Project,
    ProjectMode,
    Rater,
    Response,
    Role,
    Vote,
    content_hash,
)
from annotate.services.import_ import ImportFileError, data_import
from annotate.services.projects import membership_set, project_create
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_submit

DEMO_NAME = "Demo"
DEMO_SLUG = "demo"
DEMO_OVERLAP = 2
DEMO_RATERS = ("demo-rater-1", "demo-rater-2", "demo-rater-3")
_FLIPPED = {Choice.A: Choice.B, Choice.B: Choice.A}

GUIDELINES = """\
# How to judge the demo

You will see a conversation and two candidate replies to its **last user turn**.
Pick the reply you would rather receive.

1. **Helpful**: does it answer what was asked, at the right length and level?
2. **Honest**: are the facts, code and numbers right? A confident wrong answer is worse
   than a short correct one.
3. **Harmless**: does it avoid helping with harm? A polite refusal that offers a safer
   alternative beats compliance with a harmful request, but refusing a harmless safety
   question is unhelpful.

Use **Tie** when neither is better, and **Both bad** when you would not want either.
Strength says how sure you are: *slightly*, *clearly* or *much* better.

Some replies contain raw HTML or odd links: never click them. They are there to check that
the page shows them as text.
"""


def demo_load(*, reset: bool = False) -> Project:
    """Create (or complete) the Demo project with its prompts, comparisons and demo votes.

    `reset=True` deletes the Demo project and everything in it first.
    Raises ImportFileError when a shipped file is broken (naming file and line).
    """
    with transaction.atomic():
        if reset:
            _demo_project_query().delete()
        project = _demo_project_query().first() or project_create(
            name=DEMO_NAME,
            slug=DEMO_SLUG,
            guidelines=GUIDELINES,
            overlap=DEMO_OVERLAP,
            mode=ProjectMode.PAIRWISE,
        )
        data_import(project=project, file=PROJECT_FILE, filename=PROJECT_FILE.name)
        raters = {
            username: _demo_rater(project=project, username=username) for username in DEMO_RATERS
        }
        _cast_votes(project=project, raters=raters)
    return project


def _demo_project_query():
    return Project.objects.filter(Q(slug=DEMO_SLUG) | Q(name=DEMO_NAME))


def _demo_rater(*, project: Project, username: str) -> Rater:
    """A seeded human rater: a user who cannot log in, a member of the demo project."""
    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    membership_set(project=project, user=user, role=Role.ANNOTATOR)
    return rater_for_user(user=user)


def _cast_votes(*, project: Project, raters: dict[str, Rater]) -> int:
    """Each vote of demo_votes.jsonl not yet cast; returns how many were cast."""
    prompt_ids = _prompt_ids_by_line(project)
    response_ids = {
        (r.prompt_id, r.content_hash): r.pk
        for r in Response.objects.filter(prompt__project=project).only(
            "id", "prompt_id", "content_hash"
        )
    }
    comparisons = _pairwise_comparisons(project)
    done = set(
        Vote.objects.filter(comparison__project=project, rater__in=raters.values()).values_list(
            "comparison_id", "rater_id"
        )
    )
    cast = 0
    name = VOTES_FILE.name
    with open(VOTES_FILE, encoding="utf-8") as lines:
        for lineno, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            row = json.loads(text)
            rater = raters.get(row["rater"])
            if rater is None:
                raise ImportFileError(
                    name, f"unknown rater {row['rater']!r}", line=lineno, field="rater"
                )
            prompt_id, hashes = prompt_ids.get(row["prompt_index"], (None, []))
            if prompt_id is None:
                raise ImportFileError(
                    name, "no such prompt in the demo", line=lineno, field="prompt_index"
                )
            try:
                pair = [response_ids[(prompt_id, hashes[i])] for i in row["responses"]]
                comparison, order = comparisons[frozenset(pair)]
            except (IndexError, KeyError):
                raise ImportFileError(
                    name, "no comparison of these responses", line=lineno, field="responses"
                ) from None
            if (comparison.pk, rater.pk) in done:
                continue
            choice = row["choice"]
            if order != pair:
                choice = _FLIPPED.get(choice, choice)
            vote_submit(
                comparison=comparison,
                rater=rater,
                choice=choice,
                strength=row.get("strength"),
                display_order=order,
                metadata={"source_file": name, "source_line": lineno},
            )
            done.add((comparison.pk, rater.pk))
            cast += 1
    return cast


def _prompt_ids_by_line(project: Project) -> dict[int, tuple[int, list[str]]]:
    """0-based line of demo_project.jsonl -> (prompt id, its responses' content hashes)."""
    by_hash = dict(project.prompts.values_list("content_hash", "id"))
    out = {}
    with open(PROJECT_FILE, encoding="utf-8") as lines:
        for index, text in enumerate(lines):
            row = json.loads(text)
            prompt_id = by_hash.get(content_hash(row["messages"]))
            if prompt_id is not None:
                out[index] = (prompt_id, [content_hash(r["text"]) for r in row["responses"]])
    return out


def _pairwise_comparisons(project: Project) -> dict[frozenset[int], tuple[Comparison, list[int]]]:
    """Two-response comparisons keyed by their responses, with their canonical order."""
    orders: dict[int, list[int]] = {}
    for comparison_id, response_id in (
        ComparisonItem.objects.filter(comparison__project=project)
        .values_list("comparison_id", "response_id")
        .order_by("comparison_id", "position")
    ):
        orders.setdefault(comparison_id, []).append(response_id)
    pairs = {cid: ids for cid, ids in orders.items() if len(ids) == 2}
    loaded = Comparison.objects.select_related("project").in_bulk(list(pairs))
    return {frozenset(ids): (loaded[cid], ids) for cid, ids in pairs.items()}
