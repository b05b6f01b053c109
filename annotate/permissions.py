"""API access checks built on the project roles in annotate.selectors.

Two outcomes, on purpose: an object in a project the user cannot see is "not found" (404), so
nobody learns what other projects hold; an action the user's role does not allow inside a
project they can see is "forbidden" (403).
"""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, QuerySet
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import BasePermission

from annotate import selectors
from annotate.models import Project, Role

M = TypeVar("M", bound=Model)


class IsStaff(BasePermission):
    message = "Only staff may do this."

    def has_permission(self, request, view) -> bool:
        return selectors.user_is_staff(user=request.user)


def require_staff(*, user) -> None:
    if not selectors.user_is_staff(user=user):
        raise PermissionDenied(IsStaff.message)


def visible_or_404(queryset: QuerySet[M], *, pk: int, what: str) -> M:
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise NotFound(f"{what} {pk} does not exist or is not visible to you.")
    return obj


def project_or_404(*, user, project_id: int) -> Project:
    return visible_or_404(selectors.project_list_for(user=user), pk=project_id, what="project")


def require_role(*, user, project: Project, minimum: Role) -> None:
    if not selectors.user_has_role(user=user, project=project, minimum=minimum):
        raise PermissionDenied(
            f"This needs the {minimum.label.lower()} role (or higher) in project {project.slug!r}."
        )


def project_with_role(*, user, project_id: int, minimum: Role) -> Project:
    """The project if the user can see it (else 404) and holds `minimum` there (else 403)."""
    project = project_or_404(user=user, project_id=project_id)
    require_role(user=user, project=project, minimum=minimum)
    return project
