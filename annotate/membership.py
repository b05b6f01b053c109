"""Who may do what in a project. A project you are not a member of does not exist for you (404)."""

from __future__ import annotations

from django.http import Http404

from annotate.models import Membership, Project, Role

REVIEW_ROLES = (Role.REVIEWER, Role.ADMIN)


def project_role(*, user, project: Project) -> str | None:
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    )


def project_for_member(
    *, user, slug: str, roles: tuple[str, ...] | None = None
) -> tuple[Project, str]:
    """The project and the user's role in it, or 404 when not a member (or not in `roles`)."""
    membership = (
        Membership.objects.select_related("project").filter(project__slug=slug, user=user).first()
    )
    if membership is None or (roles is not None and membership.role not in roles):
        raise Http404("No such project.")
    return membership.project, membership.role
