"""The annotator's pages over HTTP: what a rater sees and what their clicks store."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotate.models import Adjudication, Assignment, AssignmentStatus, Role, Vote
from annotate.services.raters import rater_for_user
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_comparison

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def project():
    return ProjectFactory(overlap=2)


@pytest.fixture
def annotator(project, client):
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    client.force_login(user)
    return user


def _current(client, project):
    page = client.get(reverse("annotate:compare", args=[project.slug]))
    assert page.status_code == 200
    return page


def test_compare_page_shows_the_conversation_and_both_responses_without_model_names(
    client, project, annotator
):
    comparison = make_comparison(project=project)
    a, b = comparison.ordered_responses()
    a.source = "secret-model-name"
    a.save()
    page = _current(client, project)
    html = page.content.decode()
    assert comparison.prompt.messages[0]["content"] in html
    assert a.text in html and b.text in html
    assert "secret-model-name" not in html
    assert "Response A" in html and "Response B" in html


def test_vote_through_htmx_stores_canonical_choice_and_serves_the_next_item(
    client, project, annotator
):
    first = make_comparison(project=project)
    second = make_comparison(project=project)
    _current(client, project)
    assignment = Assignment.objects.get(comparison=first)
    shown_left = assignment.display_order[0]
    url = reverse("annotate:vote", args=[project.slug, first.pk])
    rid = first.ordered_responses()[0].pk
    response = client.post(
        url,
        {
            "choice": "a",
            "strength": "3",
            "time_spent_ms": "1234",
            "rationale": "clearer",
            f"rating-{rid}-helpful": "4",
        },
        **HTMX,
    )
    assert response.status_code == 200
    assert "ps:voted" in response.headers["HX-Trigger"]
    assert f'data-comparison="{second.pk}"' in response.content.decode()
    vote = Vote.objects.get(comparison=first)
    canonical_left_is_a = shown_left == first.ordered_responses()[0].pk
    assert vote.choice == ("a" if canonical_left_is_a else "b")
    assert (vote.strength, vote.time_spent_ms, vote.rationale) == (3, 1234, "clearer")
    assert vote.ratings == {str(rid): {"helpful": 4}}
    assert vote.display_order == assignment.display_order


def test_vote_without_htmx_redirects_back_to_the_queue(client, project, annotator):
    comparison = make_comparison(project=project)
    _current(client, project)
    response = client.post(
        reverse("annotate:vote", args=[project.slug, comparison.pk]), {"choice": "tie"}
    )
    assert response.status_code == 302
    assert Vote.objects.get().choice == "tie"


def test_invalid_vote_is_refused_with_the_reason_and_nothing_stored(client, project, annotator):
    comparison = make_comparison(project=project)
    _current(client, project)
    response = client.post(reverse("annotate:vote", args=[project.slug, comparison.pk]), {}, **HTMX)
    assert response.status_code == 422
    assert "Choose first: A better (1)" in response.content.decode()
    assert not Vote.objects.exists()


def test_ranking_vote_on_an_n_way_comparison(client, project, annotator):
    comparison = make_comparison(project=project, n=3)
    _current(client, project)
    ids = [r.pk for r in comparison.ordered_responses()]
    ranking = f"[[{ids[2]}], [{ids[0]}, {ids[1]}]]"
    response = client.post(
        reverse("annotate:vote", args=[project.slug, comparison.pk]), {"ranking": ranking}, **HTMX
    )
    assert response.status_code == 200
    assert Vote.objects.get().ranking == [[ids[2]], [ids[0], ids[1]]]


def test_edit_is_stored_and_the_diff_is_escaped(client, project, annotator):
    comparison = make_comparison(project=project)
    _current(client, project)
    source = comparison.ordered_responses()[0]
    diff = client.post(
        reverse("annotate:diff", args=[project.slug]),
        {"edit_source": source.pk, "edited_text": source.text + " <b>more</b>"},
    )
    assert "<ins>&lt;b&gt;more&lt;/b&gt;</ins>" in diff.content.decode()
    client.post(
        reverse("annotate:vote", args=[project.slug, comparison.pk]),
        {"choice": "a", "edited_text": "An ideal answer."},
        **HTMX,
    )
    assert Vote.objects.get().edited_response.text == "An ideal answer."


def test_skip_with_flag_then_undo_last_vote(client, project, annotator):
    first = make_comparison(project=project)
    second = make_comparison(project=project)
    _current(client, project)
    client.post(
        reverse("annotate:skip", args=[project.slug, first.pk]),
        {"reason": "unsure", "flag": "unclear"},
        **HTMX,
    )
    skipped = Assignment.objects.get(comparison=first)
    assert (skipped.status, skipped.flag, skipped.skip_reason) == (
        AssignmentStatus.SKIPPED,
        "unclear",
        "unsure",
    )
    client.post(reverse("annotate:vote", args=[project.slug, second.pk]), {"choice": "a"}, **HTMX)
    assert Vote.objects.count() == 1
    undone = client.post(reverse("annotate:undo", args=[project.slug]), **HTMX)
    assert undone.status_code == 200
    assert not Vote.objects.exists()
    assert f'data-comparison="{second.pk}"' in undone.content.decode()


def test_going_back_shows_the_earlier_vote_and_resubmitting_updates_it(client, project, annotator):
    first = make_comparison(project=project)
    make_comparison(project=project)
    _current(client, project)
    client.post(reverse("annotate:vote", args=[project.slug, first.pk]), {"choice": "tie"}, **HTMX)
    page = client.get(reverse("annotate:item", args=[project.slug, first.pk]))
    assert 'value="tie" checked' in page.content.decode()
    client.post(
        reverse("annotate:vote", args=[project.slug, first.pk]), {"choice": "both_bad"}, **HTMX
    )
    assert list(Vote.objects.values_list("choice", flat=True)) == ["both_bad"]


def test_progress_counts(client, project, annotator):
    make_comparison(project=project)
    make_comparison(project=project)
    _current(client, project)
    page = client.get(reverse("annotate:progress", args=[project.slug]))
    assert "0</b> done · 1 open · 1 remaining" in page.content.decode()


def test_untrusted_markdown_is_rendered_inert(client, project, annotator):
    comparison = make_comparison(project=project)
    response = comparison.ordered_responses()[0]
    response.text = "<script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1)) ![i](http://evil.example/i.png)"
    response.save()
    html = _current(client, project).content.decode()
    assert "<script>alert" not in html
    assert "<img" not in html
    assert 'href="javascript:' not in html
    assert 'src="http://evil.example' not in html


def test_reviewer_sees_votes_side_by_side_and_adjudicates(client, project):
    comparison = make_comparison(project=project)
    for choice in ("a", "b"):
        user = UserFactory()
        Assignment.objects.create(comparison=comparison, rater=rater_for_user(user=user))
        from annotate.services.votes import vote_submit

        vote_submit(comparison=comparison, rater=rater_for_user(user=user), choice=choice)
    reviewer = UserFactory()
    MembershipFactory(project=project, user=reviewer, role=Role.REVIEWER)
    client.force_login(reviewer)
    listing = client.get(reverse("annotate:review_list", args=[project.slug]))
    assert f">{comparison.pk}</a>" in listing.content.decode()
    detail = client.get(reverse("annotate:review_detail", args=[project.slug, comparison.pk]))
    assert detail.content.decode().count('class="vote disagree"') == 2  # a 1-1 split
    client.post(
        reverse("annotate:review_detail", args=[project.slug, comparison.pk]),
        {"choice": "b", "note": "B cites"},
    )
    assert Adjudication.objects.get().choice == "b"


def test_prefetch_claims_the_following_item_without_touching_the_current_one(
    client, project, annotator
):
    first = make_comparison(project=project)
    second = make_comparison(project=project)
    _current(client, project)
    url = reverse("annotate:prefetch", args=[project.slug])
    page = client.get(url, {"after": first.pk}, **HTMX)
    assert f'data-comparison="{second.pk}"' in page.content.decode()
    again = client.get(url, {"after": first.pk}, **HTMX).content.decode()
    assert f'data-comparison="{second.pk}"' in again  # idempotent: no third item claimed
    assert Assignment.objects.count() == 2
    # The queue still serves the first item until it is voted.
    assert f'data-comparison="{first.pk}"' in _current(client, project).content.decode()
    assert client.get(url, {"after": second.pk}, **HTMX).status_code == 200
    assert client.get(url, {"after": "x"}).status_code == 400


def test_flags_show_in_the_admin_of_votes_and_assignments(client, project, annotator):
    """A rater's flag (with or without a skip) is listed and filterable for admins."""
    voted, skipped = make_comparison(project=project), make_comparison(project=project)
    _current(client, project)
    client.post(
        reverse("annotate:vote", args=[project.slug, voted.pk]),
        {"choice": "a", "flag": "unsafe", "flag_note": "gives medical advice"},
        **HTMX,
    )
    _current(client, project)
    client.post(
        reverse("annotate:skip", args=[project.slug, skipped.pk]), {"flag": "broken"}, **HTMX
    )
    assert Assignment.objects.get(comparison=voted).status == AssignmentStatus.DONE
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    votes = client.get(reverse("admin:annotate_vote_changelist") + "?flag=unsafe").content.decode()
    assert "Unsafe content: gives medical advice" in votes
    assert (
        client.get(reverse("admin:annotate_vote_changelist") + "?flag=broken")
        .context["cl"]
        .result_count
        == 0
    )
    assignments = client.get(reverse("admin:annotate_assignment_changelist") + "?flag=broken")
    assert assignments.context["cl"].result_count == 1
    assert "Broken responses" in assignments.content.decode()


def test_prefetch_sends_several_panels_after_the_ones_the_page_holds(client, project, annotator):
    """`exclude` names items on their way; `count` panels come back in queue order, each one's
    "Previous" link going to the panel before it."""
    first, second, third, fourth = (make_comparison(project=project) for _ in range(4))
    _current(client, project)
    url = reverse("annotate:prefetch", args=[project.slug])
    client.get(url, {"after": first.pk}, **HTMX)  # the page shows `second` next
    body = client.get(url, {"after": second.pk, "exclude": first.pk, "count": 2}, **HTMX)
    panels = body.content.decode().split("<!--ps:next-panel-->")
    assert len(panels) == 2
    assert all(
        f'data-comparison="{c.pk}"' in p for p, c in zip(panels, (third, fourth), strict=True)
    )
    assert f"/c/{second.pk}/" in panels[0] and f"/c/{third.pk}/" in panels[1]  # previous links
    assert f'data-comparison="{first.pk}"' not in body.content.decode()
    for bad in ({"after": first.pk, "count": 9}, {"after": first.pk, "exclude": "1,x"}):
        assert client.get(url, bad, **HTMX).status_code == 400
    everything = ",".join(str(c.pk) for c in (first, second, third))
    assert client.get(url, {"after": fourth.pk, "exclude": everything}).status_code == 204


def test_a_vote_on_a_page_that_shows_the_next_item_is_answered_without_a_panel(
    client, project, annotator
):
    first, second = make_comparison(project=project), make_comparison(project=project)
    _current(client, project)
    url = reverse("annotate:vote", args=[project.slug, first.pk])
    answer = client.post(url, {"choice": "a"}, HTTP_X_PS_SHOWN=str(second.pk), **HTMX)
    assert answer.status_code == 204 and "ps:voted" in answer["HX-Trigger"]
    assert Vote.objects.filter(comparison=first).exists()
