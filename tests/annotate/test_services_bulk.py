"""Bulk services for imports: comparisons_create_many and votes_create_imported."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.errors import ValidationError
from annotate.models import (
    Choice,
    Comparison,
    ComparisonItem,
    Project,
    ProjectMode,
    Prompt,
    RaterKind,
    Response,
    Vote,
)
from annotate.services.comparisons import comparisons_create_for_prompt, comparisons_create_many
from annotate.services.raters import rater_imported
from annotate.services.votes import vote_submit, votes_create_imported
from tests.factories import (
    HumanRaterFactory,
    ProjectFactory,
    PromptFactory,
    ResponseFactory,
    make_comparison,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def prompts_with_answers(project: Project, counts: list[int]) -> list[tuple[Prompt, list]]:
    groups = []
    for count in counts:
        prompt = PromptFactory(project=project)
        groups.append((prompt, [ResponseFactory(prompt=prompt) for _ in range(count)]))
    return groups


def layout(comparisons: list[Comparison], groups: list[tuple[Prompt, list]]) -> list[tuple]:
    """Each comparison as (prompt index, response indexes by position), read from the database,
    so comparisons of two projects built alike can be compared."""
    where = {r.pk: (i, j) for i, (_, rs) in enumerate(groups) for j, r in enumerate(rs)}
    out = []
    for comparison in comparisons:
        ids = comparison.items.order_by("position").values_list("response_id", flat=True)
        places = [where[pk] for pk in ids]
        assert {i for i, _ in places} == {[p.pk for p, _ in groups].index(comparison.prompt_id)}
        out.append((places[0][0], [j for _, j in places]))
    return out


# --- comparisons_create_many -------------------------------------------------------------------


@pytest.mark.parametrize("mode", [ProjectMode.PAIRWISE, ProjectMode.RANKING])
def test_many_makes_what_create_for_prompt_makes_one_prompt_after_another(mode):
    bulk_project = ProjectFactory(mode=mode)
    one_by_one_project = ProjectFactory(mode=mode)
    bulk_groups = prompts_with_answers(bulk_project, [3, 1, 2, 4])
    one_by_one_groups = prompts_with_answers(one_by_one_project, [3, 1, 2, 4])

    made = comparisons_create_many(project=bulk_project, groups=bulk_groups)
    expected = [
        c
        for prompt, responses in one_by_one_groups
        for c in comparisons_create_for_prompt(
            project=one_by_one_project, prompt=prompt, responses=responses
        )
    ]

    assert layout(made, bulk_groups) == layout(expected, one_by_one_groups)
    assert len(made) == (3 + 0 + 1 + 6 if mode == ProjectMode.PAIRWISE else 3)
    assert all(c.created for c in made)
    for comparison in made:
        ids = list(comparison.items.order_by("position").values_list("response_id", flat=True))
        assert comparison.content_hash == Comparison.hash_for(comparison.prompt_id, ids)
    assert Comparison.objects.filter(project=bulk_project).count() == len(made)


def test_pairs_keep_the_order_given_so_position_0_is_the_first_response():
    project = ProjectFactory()
    [(prompt, (first, second, third))] = prompts_with_answers(project, [3])
    made = comparisons_create_many(project=project, groups=[(prompt, [first, second, third])])
    assert [[r.pk for r in c.ordered_responses()] for c in made] == [
        [first.pk, second.pk],
        [first.pk, third.pk],
        [second.pk, third.pk],
    ]


def test_many_dedupes_against_the_database_and_within_the_call():
    project = ProjectFactory()
    [(prompt, (a, b, c))] = prompts_with_answers(project, [3])
    (older,) = comparisons_create_for_prompt(project=project, prompt=prompt, responses=[a, b])

    made = comparisons_create_many(
        project=project, groups=[(prompt, [a, b]), (prompt, [b, c]), (prompt, [b, c])]
    )

    assert [m.pk for m in made] == [older.pk, made[1].pk, made[1].pk]
    assert made[1] is made[2]
    assert [m.created for m in made] == [False, True, True]
    assert Comparison.objects.filter(project=project).count() == 2
    assert ComparisonItem.objects.filter(comparison__project=project).count() == 4


def test_many_runs_the_same_few_queries_for_any_number_of_prompts():
    def queries_for(count: int) -> int:
        project = ProjectFactory()
        groups = prompts_with_answers(project, [3] * count)
        with CaptureQueriesContext(connection) as queries:
            made = comparisons_create_many(project=project, groups=groups)
        assert len(made) == 3 * count
        return len(queries)

    assert queries_for(2) == queries_for(30)


@pytest.mark.parametrize(
    ("groups_of", "message"),
    [
        (lambda p, other, rs: [(p, [rs[0], rs[0]])], "a response appears twice in one comparison"),
        (
            lambda p, other, rs: [(p, [rs[0], other])],
            "every response must answer the comparison's prompt",
        ),
        (
            lambda p, other, rs: [(p, [rs[0], Response(prompt=p, text="unsaved")])],
            "save the prompt and its responses first",
        ),
    ],
    ids=["twice", "other-prompt", "unsaved"],
)
def test_many_refuses_bad_groups_and_writes_nothing(groups_of, message):
    project = ProjectFactory()
    [(prompt, responses), (_, (other, _))] = prompts_with_answers(project, [2, 2])
    good = (prompt, responses)
    with pytest.raises(ValidationError) as err:
        comparisons_create_many(
            project=project, groups=[good, *groups_of(prompt, other, responses)]
        )
    assert str(err.value) == f"responses: {message}"
    assert not Comparison.objects.exists()


def test_many_with_nothing_to_compare_returns_nothing():
    project = ProjectFactory()
    assert (
        comparisons_create_many(project=project, groups=prompts_with_answers(project, [1, 0])) == []
    )
    assert comparisons_create_many(project=project, groups=[]) == []


# --- votes_create_imported ---------------------------------------------------------------------


@pytest.fixture
def imported():
    return rater_imported(source="prefs.jsonl")


def test_imported_votes_are_created_with_their_provenance_and_counted(imported):
    first, second = make_comparison(), make_comparison()
    created = votes_create_imported(
        rater=imported,
        verdicts=[(first, Choice.A), (second, Choice.B)],
        metadata=[{"source_line": 1}, {"source_line": 2}],
    )
    assert created == 2
    assert imported.kind == RaterKind.IMPORTED
    votes = Vote.objects.filter(rater=imported).order_by("comparison_id")
    assert [(v.comparison_id, v.choice, v.metadata) for v in votes] == [
        (first.pk, "a", {"source_line": 1}),
        (second.pk, "b", {"source_line": 2}),
    ]
    assert list(Comparison.objects.order_by("pk").values_list("vote_count", flat=True)) == [1, 1]


def test_a_comparison_the_rater_already_voted_on_keeps_its_vote(imported):
    voted, fresh = make_comparison(), make_comparison()
    vote_submit(comparison=voted, rater=imported, choice=Choice.B)

    created = votes_create_imported(
        rater=imported, verdicts=[(voted, Choice.A), (fresh, Choice.A), (fresh, Choice.B)]
    )

    assert created == 1
    assert Vote.objects.get(rater=imported, comparison=voted).choice == "b"
    # Only the first verdict on a comparison counts.
    assert Vote.objects.get(rater=imported, comparison=fresh).choice == "a"
    counts = dict(Comparison.objects.values_list("pk", "vote_count"))
    assert counts == {voted.pk: 1, fresh.pk: 1}


def test_other_raters_votes_are_added_to_not_replaced(imported):
    comparison = make_comparison()
    vote_submit(comparison=comparison, rater=HumanRaterFactory(), choice=Choice.B)
    assert votes_create_imported(rater=imported, verdicts=[(comparison, Choice.A)]) == 1
    comparison.refresh_from_db()
    assert comparison.vote_count == 2
    assert comparison.votes.count() == 2


def test_an_unknown_choice_is_refused_before_anything_is_written(imported):
    good, bad = make_comparison(), make_comparison()
    with pytest.raises(ValidationError) as err:
        votes_create_imported(rater=imported, verdicts=[(good, Choice.A), (bad, "maybe")])
    assert err.value.field == "choice"
    assert not Vote.objects.exists()
    assert set(Comparison.objects.values_list("vote_count", flat=True)) == {0}


def test_metadata_must_match_the_verdicts(imported):
    with pytest.raises(ValueError, match="1 verdicts but 2 metadata entries"):
        votes_create_imported(
            rater=imported, verdicts=[(make_comparison(), Choice.A)], metadata=[{}, {}]
        )


def test_imported_votes_run_the_same_few_queries_for_any_number_of_verdicts(imported):
    def queries_for(count: int) -> int:
        comparisons = [make_comparison() for _ in range(count)]
        with CaptureQueriesContext(connection) as queries:
            created = votes_create_imported(
                rater=imported, verdicts=[(c, Choice.A) for c in comparisons]
            )
        assert created == count
        return len(queries)

    assert queries_for(2) == queries_for(25)


def test_no_verdicts_is_no_query(imported):
    with CaptureQueriesContext(connection) as queries:
        assert votes_create_imported(rater=imported, verdicts=[]) == 0
    assert len(queries) == 0
