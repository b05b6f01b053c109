"""Helpers for the reviewer console browser tests and the accessibility pass."""

from __future__ import annotations

from django.conf import settings
from django.test import Client

from annotate.models import Role
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_submit
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, make_comparison


def sign_in(page, user, base_url: str) -> None:
    """A session cookie instead of the login form (which has its own tests)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}]
    )


def reviewer_of(project):
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=Role.REVIEWER)
    return user


def split_ranking(project, *, n: int = 3):
    """An N-way comparison two raters ranked in opposite orders (the first one's order wins
    the tie for the form's starting arrangement: canonical A, B, C...)."""
    comparison = make_comparison(project=project, n=n)
    ids = [r.pk for r in comparison.ordered_responses()]
    for k, order in enumerate((ids, ids[::-1])):
        rater = rater_for_user(user=UserFactory(username=f"r{comparison.pk}-{k}"))
        vote_submit(
            comparison=comparison,
            rater=rater,
            ranking=[[rid] for rid in order],
            item_ids=ids,
            display_order=order,
        )
    return comparison, ids


def split_pair(project):
    comparison = make_comparison(project=project)
    ids = [r.pk for r in comparison.ordered_responses()]
    for k, choice in enumerate("ab"):
        rater = rater_for_user(user=UserFactory(username=f"r{comparison.pk}-{k}"))
        vote_submit(
            comparison=comparison,
            rater=rater,
            choice=choice,
            display_order=ids[::-1] if k else ids,
            ratings={str(ids[0]): {"helpful": 4}} if project.criteria else {},
            edited_text="An edited\nanswer." if k == 0 else None,
        )
    return comparison


def new_project(**fields):
    return ProjectFactory(criteria=["helpful"], **fields)
