"""Who may open which web page. A project you are not a member of does not exist for you (404).

Annotating needs a membership (the queue is per member). Review pages are open to project
reviewers and admins, and to staff for every project, as in the API (annotate.selectors); a member
with a lesser role is forbidden (403), since they already know the project exists.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from annotate.models import Membership, Project, Role
from annotate.selectors import user_is_staff

REVIEW_ROLES = (Role.REVIEWER, Role.ADMIN)


def project_for_member(
    *, user, slug: str, roles: tuple[str, ...] | None = None
) -> tuple[Project, str]:
    """The project and the user's role in it, or 404 when not a member (or not in `roles`)."""
    membership = (
        Membership.objects.select_related("project").filter(project__slug=slug, user=user).first()
    )
    if membership is not None and (roles is None or membership.role in roles):
        return membership.project, membership.role
    if roles is not None and user_is_staff(user=user):
        project = Project.objects.filter(slug=slug).first()
        if project is not None:
            return project, Role.ADMIN
    raise Http404("No such project.")


def project_for_reviewer(*, user, slug: str) -> Project:
    """The project to review: 404 for non-members, 403 for members below reviewer."""
    try:
        project, _ = project_for_member(user=user, slug=slug, roles=REVIEW_ROLES)
    except Http404:
        if Membership.objects.filter(project__slug=slug, user=user).exists():
            raise PermissionDenied("Reviewing needs the reviewer or admin role.") from None
        raise
    return project
