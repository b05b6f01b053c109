"""The reviewer console: readable verdicts, display orders, ratings, edit diffs, flags, verdicts."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotate.models import Adjudication, Assignment, AssignmentStatus, Flag, Role
from annotate.review import next_disagreement, word_diff
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_submit
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_comparison

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def project():
    return ProjectFactory(criteria=["helpful", "honest"])


@pytest.fixture
def reviewer_client(client, project):
    reviewer = UserFactory(username="rev")
    MembershipFactory(project=project, user=reviewer, role=Role.REVIEWER)
    client.force_login(reviewer)
    return client


def _rater(name: str):
    return rater_for_user(user=UserFactory(username=name))


def _ids(comparison) -> list[int]:
    return [r.pk for r in comparison.ordered_responses()]


def _detail(project, comparison) -> str:
    return reverse("annotate:review_detail", args=[project.slug, comparison.pk])


def _split(project, **kwargs):
    """A pairwise comparison two raters split on."""
    comparison = make_comparison(project=project)
    vote_submit(comparison=comparison, rater=_rater(f"x{comparison.pk}"), choice="a", **kwargs)
    vote_submit(comparison=comparison, rater=_rater(f"y{comparison.pk}"), choice="b")
    return comparison


def test_rankings_read_as_ordered_lists_with_ties(reviewer_client, project):
    comparison = make_comparison(project=project, n=3)
    a, b, c = _ids(comparison)
    vote_submit(
        comparison=comparison, rater=_rater("ann"), ranking=[[c], [a, b]], item_ids=[a, b, c]
    )
    vote_submit(
        comparison=comparison, rater=_rater("bob"), ranking=[[a], [b], [c]], item_ids=[a, b, c]
    )
    html = reviewer_client.get(_detail(project, comparison)).content.decode()
    assert '<ol class="tiers">' in html
    assert "<li>Response C</li><li>Response A = Response B (tied)</li>" in html
    assert "<li>Response A</li><li>Response B</li><li>Response C</li>" in html
    assert "[[" not in html  # no JSON anywhere
    listing = reviewer_client.get(reverse("annotate:review_list", args=[project.slug]))
    assert "user:ann: C &gt; A = B" in listing.content.decode()


def test_display_order_says_who_saw_what_on_the_left(reviewer_client, project):
    comparison = make_comparison(project=project)
    a, b = _ids(comparison)
    vote_submit(comparison=comparison, rater=_rater("ann"), choice="a", display_order=[b, a])
    vote_submit(comparison=comparison, rater=_rater("bob"), choice="b", display_order=[a, b])
    html = reviewer_client.get(_detail(project, comparison)).content.decode()
    assert "Response B on the left, Response A on the right; picked the one on the right" in html
    assert "Response A on the left, Response B on the right; picked the one on the right" in html


def test_ratings_are_a_table_per_vote(reviewer_client, project):
    comparison = make_comparison(project=project)
    a, b = _ids(comparison)
    ratings = {str(a): {"helpful": 4, "honest": 5}, str(b): {"helpful": 2}}
    vote_submit(comparison=comparison, rater=_rater("ann"), choice="a", ratings=ratings)
    vote_submit(comparison=comparison, rater=_rater("bob"), choice="b")
    html = reviewer_client.get(_detail(project, comparison)).content.decode()
    assert '<tr><th scope="row">helpful</th><td>4</td><td>2</td></tr>' in html
    assert '<tr><th scope="row">honest</th><td>5</td><td>–</td></tr>' in html


def test_edits_are_word_diffs_that_keep_line_breaks(reviewer_client, project):
    comparison = make_comparison(project=project)
    source = comparison.ordered_responses()[0]
    source.text = "Paris is the capital.\nIt is big."
    source.save()
    vote_submit(
        comparison=comparison,
        rater=_rater("ann"),
        choice="a",
        edited_text="Paris is the capital of France.\nIt is <b>big</b>.",
    )
    vote_submit(comparison=comparison, rater=_rater("bob"), choice="b")
    html = reviewer_client.get(_detail(project, comparison)).content.decode()
    assert "Edit of Response A" in html
    assert "capital.</del><ins>capital of France.</ins>\nIt is " in html
    assert "&lt;b&gt;big&lt;/b&gt;" in html and "<b>big" not in html


def test_word_diff_keeps_whitespace_and_merges_runs():
    assert word_diff("a b\nc", "a x y\nc") == [
        ("equal", "a "),
        ("del", "b"),
        ("ins", "x y"),
        ("equal", "\nc"),
    ]
    assert "".join(t for op, t in word_diff("one\n\ntwo", "one\n\ntwo three") if op != "del") == (
        "one\n\ntwo three"
    )


def test_flagged_items_are_listed_with_flag_and_comment(reviewer_client, project):
    comparison = make_comparison(project=project)
    Assignment.objects.create(
        comparison=comparison,
        rater=_rater("ann"),
        status=AssignmentStatus.SKIPPED,
        flag=Flag.UNSAFE,
        skip_reason="asks for a weapon recipe",
    )
    Assignment.objects.create(comparison=comparison, rater=_rater("bob"))  # not flagged
    listing = reverse("annotate:review_list", args=[project.slug])
    html = reviewer_client.get(listing, {"show": "flagged"}).content.decode()
    assert "Unsafe content" in html and "asks for a weapon recipe" in html and "user:ann" in html
    assert "user:bob" not in html
    detail = reviewer_client.get(_detail(project, comparison)).content.decode()
    assert "Unsafe content" in detail and "asks for a weapon recipe" in detail


def test_a_ranking_verdict_is_recorded_exactly_as_arranged(reviewer_client, project):
    comparison = make_comparison(project=project, n=4)
    a, b, c, d = _ids(comparison)
    for name in ("ann", "bob"):
        ranking = [[a], [b], [c], [d]] if name == "ann" else [[d], [c], [b], [a]]
        vote_submit(
            comparison=comparison, rater=_rater(name), ranking=ranking, item_ids=[a, b, c, d]
        )
    # The form sends one rank per response, in the order on screen; equal ranks tie.
    posted = [(f"rank-{c}", "1"), (f"rank-{a}", "2"), (f"rank-{d}", "2"), (f"rank-{b}", "3")]
    body = "&".join(f"{k}={v}" for k, v in posted) + "&note=arranged"
    response = reviewer_client.post(
        _detail(project, comparison), body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 302
    adjudication = Adjudication.objects.get(comparison=comparison)
    assert adjudication.ranking == [[c], [a, d], [b]]
    assert (adjudication.choice, adjudication.note) == ("", "arranged")
    html = reviewer_client.get(_detail(project, comparison)).content.decode()
    assert "Current verdict: <strong>C &gt; A = D &gt; B</strong>" in html
    # The form starts from the verdict: C first, A and D tied, B last.
    order = [html.index(f'data-rid="{rid}"') for rid in (c, a, d, b)]
    assert order == sorted(order)


def test_a_ranking_verdict_missing_a_response_is_refused(reviewer_client, project):
    comparison = make_comparison(project=project, n=3)
    a, b, _ = _ids(comparison)
    response = reviewer_client.post(_detail(project, comparison), {f"rank-{a}": 1, f"rank-{b}": 2})
    assert response.status_code == 422 and "rank every response" in response.content.decode()
    assert not Adjudication.objects.exists()


def test_htmx_save_answers_the_status_fragment_only(reviewer_client, project):
    comparison = _split(project)
    response = reviewer_client.post(_detail(project, comparison), {"choice": "tie"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<div id="verdict-status"')
    assert "Saved. Current verdict: <strong>Tie</strong>" in html
    assert Adjudication.objects.get().choice == "tie"
    bad = reviewer_client.post(_detail(project, comparison), {"choice": "nope"}, **HTMX)
    assert bad.status_code == 422 and 'id="verdict-status"' in bad.content.decode()


def test_next_disagreement_skips_agreements_and_rulings_and_wraps(reviewer_client, project):
    first = _split(project)
    agreed = make_comparison(project=project)
    for name in ("p", "q"):
        vote_submit(comparison=agreed, rater=_rater(name), choice="a")
    ruled = _split(project)
    Adjudication.objects.create(comparison=ruled, reviewer=UserFactory(), choice="a")
    last = _split(project)
    assert next_disagreement(project=project) == first.pk
    assert next_disagreement(project=project, after_id=first.pk) == last.pk
    assert next_disagreement(project=project, after_id=last.pk) == first.pk
    html = reviewer_client.get(_detail(project, first)).content.decode()
    assert f'id="next-disagreement" rel="next" href="{_detail(project, last)}"' in html
    fragment = reviewer_client.get(_detail(project, last), **HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="review"') and "<html" not in fragment
    Adjudication.objects.create(comparison=first, reviewer=UserFactory(), choice="a")
    html = reviewer_client.get(_detail(project, last)).content.decode()
    assert 'id="no-next-disagreement"' in html


def test_list_filters_work_with_and_without_htmx(reviewer_client, project):
    split = _split(project)
    agreed = make_comparison(project=project)
    for name in ("p", "q"):
        vote_submit(comparison=agreed, rater=_rater(name), choice="a")
    url = reverse("annotate:review_list", args=[project.slug])
    html = reviewer_client.get(url).content.decode()
    assert f">{split.pk}</a>" in html and f">{agreed.pk}</a>" not in html
    assert f'href="{url}?show=all"' in html
    everything = reviewer_client.get(url, {"show": "all"}, **HTMX).content.decode()
    assert everything.lstrip().startswith('<section id="review-list"')
    assert f">{agreed.pk}</a>" in everything
