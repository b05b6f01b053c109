from __future__ import annotations

from annotate.models import Rater, RaterKind


def rater_for_user(*, user) -> Rater:
    """The human Rater behind a user account, created on first use."""
    rater, _ = Rater.objects.get_or_create(
        user=user, defaults={"kind": RaterKind.HUMAN, "name": f"user:{user.get_username()}"}
    )
    return rater


def rater_imported(*, source: str) -> Rater:
    """One rater per imported dataset, so its votes keep their origin."""
    rater, _ = Rater.objects.get_or_create(
        name=f"imported:{source}", defaults={"kind": RaterKind.IMPORTED}
    )
    return rater
