from __future__ import annotations

import pytest

from annotate.errors import ValidationError
from annotate.models import Assignment, AssignmentStatus, Choice, Response, Vote
from annotate.services.votes import vote_delete, vote_submit
from tests.factories import HumanRaterFactory, make_comparison

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_resubmitting_updates_the_vote_instead_of_adding_one():
    comparison = make_comparison()
    rater = HumanRaterFactory()
    vote_submit(comparison=comparison, rater=rater, choice=Choice.A, strength=2)
    vote_submit(comparison=comparison, rater=rater, choice=Choice.B, strength=3)
    comparison.refresh_from_db()
    assert list(Vote.objects.values_list("choice", "strength")) == [("b", 3)]
    assert comparison.vote_count == 1


def test_ranking_must_name_every_response_once():
    comparison = make_comparison(n=3)
    ids = [r.pk for r in comparison.ordered_responses()]
    with pytest.raises(ValidationError) as err:
        vote_submit(comparison=comparison, rater=HumanRaterFactory(), ranking=[[ids[0]], [ids[1]]])
    assert err.value.field == "ranking"
    vote = vote_submit(
        comparison=comparison, rater=HumanRaterFactory(), ranking=[[ids[2]], [ids[0], ids[1]]]
    )
    assert vote.ranking == [[ids[2]], [ids[0], ids[1]]]
    assert vote.choice == ""


def test_n_way_comparison_refuses_a_pairwise_choice():
    comparison = make_comparison(n=3)
    with pytest.raises(ValidationError, match="send a ranking"):
        vote_submit(comparison=comparison, rater=HumanRaterFactory(), choice=Choice.A)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"choice": "maybe"}, "choice"),
        ({"choice": "tie", "strength": 2}, "strength"),
        ({"choice": "a", "strength": 7}, "strength"),
        ({"choice": "a", "ratings": {"999": {"helpful": 3}}}, "ratings"),
        ({"choice": "a", "preference_probability": 1.5}, "preference_probability"),
    ],
)
def test_bad_votes_name_the_field(kwargs, field):
    comparison = make_comparison()
    with pytest.raises(ValidationError) as err:
        vote_submit(comparison=comparison, rater=HumanRaterFactory(), **kwargs)
    assert err.value.field == field
    assert not Vote.objects.exists()


def test_ratings_must_use_the_projects_criteria_and_1_to_5():
    comparison = make_comparison()
    rid = comparison.ordered_responses()[0].pk
    with pytest.raises(ValidationError, match="unknown criterion"):
        vote_submit(
            comparison=comparison,
            rater=HumanRaterFactory(),
            choice="a",
            ratings={str(rid): {"funny": 3}},
        )
    with pytest.raises(ValidationError, match="1 to 5"):
        vote_submit(
            comparison=comparison,
            rater=HumanRaterFactory(),
            choice="a",
            ratings={str(rid): {"helpful": 0}},
        )


def test_edit_becomes_a_response_written_by_the_rater_from_the_chosen_one():
    comparison = make_comparison()
    rater = HumanRaterFactory()
    chosen = comparison.ordered_responses()[1]
    vote = vote_submit(
        comparison=comparison, rater=rater, choice=Choice.B, edited_text="A better answer."
    )
    edited = Response.objects.get(pk=vote.edited_response_id)
    assert (edited.text, edited.edited_from_id, edited.author_id, edited.source) == (
        "A better answer.",
        chosen.pk,
        rater.pk,
        "edit",
    )


def test_undo_removes_the_vote_and_reopens_the_assignment():
    comparison = make_comparison()
    rater = HumanRaterFactory()
    Assignment.objects.create(comparison=comparison, rater=rater)
    vote = vote_submit(comparison=comparison, rater=rater, choice=Choice.TIE)
    assert Assignment.objects.get().status == AssignmentStatus.DONE
    vote_delete(vote=vote)
    comparison.refresh_from_db()
    assert comparison.vote_count == 0
    assert Assignment.objects.get().status == AssignmentStatus.ASSIGNED
