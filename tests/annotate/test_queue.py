from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.errors import ValidationError
from annotate.models import Assignment, AssignmentStatus, Comparison, ProjectMode
from annotate.services.comparisons import comparisons_create_many
from annotate.services.queue import (
    assignment_for_vote,
    assignment_next,
    assignment_skip,
    assignments_expire,
    display_order_for,
)
from annotate.services.votes import vote_submit
from tests.factories import (
    HumanRaterFactory,
    ProjectFactory,
    PromptFactory,
    ResponseFactory,
    make_comparison,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _vote_next(project, rater):
    assignment = assignment_next(project=project, rater=rater)
    if assignment is None:
        return None
    vote_submit(comparison=assignment.comparison, rater=rater, choice="a")
    return assignment.comparison_id


def test_overlap_k_raters_per_comparison_and_nobody_sees_one_twice():
    project = ProjectFactory(overlap=3)
    comparisons = [make_comparison(project=project) for _ in range(10)]
    raters = [HumanRaterFactory() for _ in range(5)]
    seen = {r.pk: [] for r in raters}
    progress = True
    while progress:  # raters take turns until every queue is empty
        progress = False
        for rater in raters:
            got = _vote_next(project, rater)
            if got is not None:
                seen[rater.pk].append(got)
                progress = True
    for ids in seen.values():
        assert len(ids) == len(set(ids))
    counts = Counter(cid for ids in seen.values() for cid in ids)
    assert counts == {c.pk: 3 for c in comparisons}
    assert set(Comparison.objects.values_list("vote_count", flat=True)) == {3}


def test_open_item_is_served_again_until_voted():
    project = ProjectFactory(overlap=1)
    make_comparison(project=project)
    make_comparison(project=project)
    rater = HumanRaterFactory()
    first = assignment_next(project=project, rater=rater)
    assert assignment_next(project=project, rater=rater).pk == first.pk


def test_expired_lease_returns_the_item_to_the_pool_for_someone_else():
    project = ProjectFactory(overlap=1)
    comparison = make_comparison(project=project)
    slow, fast = HumanRaterFactory(), HumanRaterFactory()
    assert assignment_next(project=project, rater=slow).comparison_id == comparison.pk
    assert assignment_next(project=project, rater=fast) is None
    Assignment.objects.update(assigned_at=timezone.now() - timedelta(hours=2))
    assert assignments_expire() == 1
    assert assignment_next(project=project, rater=fast).comparison_id == comparison.pk
    # The slow rater's late vote is refused: the slot went to another rater.
    with pytest.raises(ValidationError, match="went to another rater"):
        assignment_for_vote(assignment=Assignment.objects.get(rater=slow))


def test_expired_lease_is_renewed_when_the_slot_is_still_free():
    project = ProjectFactory(overlap=1)
    comparison = make_comparison(project=project)
    rater = HumanRaterFactory()
    assignment_next(project=project, rater=rater)
    Assignment.objects.update(assigned_at=timezone.now() - timedelta(hours=2))
    assignments_expire()
    renewed = assignment_for_vote(assignment=Assignment.objects.get(rater=rater))
    assert renewed.status == "assigned"
    comparison.refresh_from_db()
    assert comparison.slots_taken == 1


def test_skip_frees_the_slot_and_the_rater_never_gets_it_back():
    project = ProjectFactory(overlap=1)
    comparison = make_comparison(project=project)
    rater, other = HumanRaterFactory(), HumanRaterFactory()
    assignment = assignment_next(project=project, rater=rater)
    assignment_skip(assignment=assignment, reason="not my language", flag="unclear")
    assert Assignment.objects.get(pk=assignment.pk).status == AssignmentStatus.SKIPPED
    assert assignment_next(project=project, rater=rater) is None
    assert assignment_next(project=project, rater=other).comparison_id == comparison.pk


def test_skipped_comparison_cannot_be_voted():
    project = ProjectFactory(overlap=1)
    make_comparison(project=project)
    rater = HumanRaterFactory()
    assignment = assignment_skip(assignment=assignment_next(project=project, rater=rater))
    with pytest.raises(ValidationError, match="skipped"):
        assignment_for_vote(assignment=assignment)


def test_display_order_is_balanced_across_raters():
    ids = [10, 11]
    orders = [display_order_for(comparison_id=7, response_ids=ids, slot=s) for s in range(4)]
    assert Counter(o[0] for o in orders) == {10: 2, 11: 2}
    ids3 = [1, 2, 3]
    firsts = [display_order_for(comparison_id=9, response_ids=ids3, slot=s)[0] for s in range(3)]
    assert sorted(firsts) == ids3


def test_queue_query_count_does_not_grow_with_history(django_assert_max_num_queries):
    project = ProjectFactory(overlap=2)
    for _ in range(30):
        make_comparison(project=project)
    rater = HumanRaterFactory()
    for _ in range(20):
        _vote_next(project, rater)
    with django_assert_max_num_queries(12):
        assignment_next(project=project, rater=rater)


def _candidates_project(*, prompts: int, k: int, overlap: int, mode=ProjectMode.PAIRWISE):
    project = ProjectFactory(overlap=overlap, mode=mode)
    groups = []
    for _ in range(prompts):
        prompt = PromptFactory(project=project)
        groups.append((prompt, [ResponseFactory(prompt=prompt) for _ in range(k)]))
    comparisons_create_many(project=project, groups=groups)
    return project


def test_a_rater_never_gets_one_prompt_twice_in_a_row_while_others_are_left():
    """Imported candidates (K=4: 6 pairs a prompt) come round-robin over prompts; overlap,
    once per rater and counterbalancing still hold."""
    project = _candidates_project(prompts=4, k=4, overlap=2)
    raters = [HumanRaterFactory() for _ in range(3)]
    seen = {r.pk: [] for r in raters}
    progress = True
    while progress:
        progress = False
        for rater in raters:
            cid = _vote_next(project, rater)
            if cid is not None:
                seen[rater.pk].append(cid)
                progress = True
    prompt_of = dict(Comparison.objects.values_list("pk", "prompt_id"))
    for rater in raters:
        prompts = [prompt_of[cid] for cid in seen[rater.pk]]
        assert len(seen[rater.pk]) == len(set(seen[rater.pk]))  # never twice
        repeats = [i for i in range(1, len(prompts)) if prompts[i] == prompts[i - 1]]
        assert not repeats, f"rater {rater.pk} got one prompt twice in a row: {prompts}"
    assert set(Comparison.objects.values_list("vote_count", flat=True)) == {2}  # overlap k
    leads = {}
    for a in Assignment.objects.all():
        leads.setdefault(a.comparison_id, set()).add(a.display_order[0])
    assert {len(firsts) for firsts in leads.values()} == {2}  # counterbalanced: A/B swapped


def test_a_ranking_project_makes_one_k_way_comparison_per_prompt():
    project = _candidates_project(prompts=3, k=4, overlap=1, mode=ProjectMode.RANKING)
    assert Comparison.objects.filter(project=project).count() == 3
    assert {c.items.count() for c in Comparison.objects.filter(project=project)} == {4}
    rater = HumanRaterFactory()
    assignment = assignment_next(project=project, rater=rater)
    assert len(assignment.display_order) == 4
