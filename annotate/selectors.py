"""Reads: what a user may see, and a user's role in a project.

Visibility rules (issue 3, "Reviewers and admins"): staff and superusers see everything; everyone
else sees only the projects they are a member of. Inside a project an annotator sees only their
own votes, while reviewers and project admins see every vote of the project.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery

from annotate.models import (
    Comparison,
    ComparisonItem,
    DatasetSnapshot,
    Membership,
    Project,
    Prompt,
    Response,
    Role,
    Vote,
)

ROLE_RANK = {Role.ANNOTATOR: 1, Role.REVIEWER: 2, Role.ADMIN: 3}


def user_is_staff(*, user) -> bool:
    return bool(user is not None and user.is_authenticated and (user.is_staff or user.is_superuser))


def project_role(*, user, project: Project) -> Role | None:
    """The user's membership role in `project`, or None when not a member."""
    if user is None or not user.is_authenticated:
        return None
    role = (
        Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    )
    return Role(role) if role else None


def user_has_role(*, user, project: Project, minimum: Role) -> bool:
    """Staff pass every check; members pass when their role ranks at least `minimum`."""
    if user_is_staff(user=user):
        return True
    role = project_role(user=user, project=project)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[minimum]


def _project_ids_with_role(*, user, minimum: Role) -> QuerySet:
    roles = [role for role, rank in ROLE_RANK.items() if rank >= ROLE_RANK[minimum]]
    return Membership.objects.filter(user=user, role__in=roles).values("project_id")


def project_list_for(*, user) -> QuerySet[Project]:
    """Projects the user may see, each annotated with `my_role` (None for staff non-members)."""
    if not user.is_authenticated:
        return Project.objects.none()
    role = Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
    projects = Project.objects.annotate(my_role=Subquery(role))
    if user_is_staff(user=user):
        return projects
    return projects.filter(pk__in=_project_ids_with_role(user=user, minimum=Role.ANNOTATOR))


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("user__username")


def prompt_list(
    *, project: Project, tag: str | None = None, search: str | None = None
) -> QuerySet[Prompt]:
    prompts = project.prompts.all()
    if tag:
        prompts = _with_tag(prompts, tag)
    if search:
        # The conversation is stored as JSON; a substring match over its text finds words in any
        # turn without a full-text index (small projects; PostgreSQL could add one later).
        prompts = prompts.filter(messages__icontains=search)
    return prompts


def _with_tag(prompts: QuerySet[Prompt], tag: str) -> QuerySet[Prompt]:
    if connection.features.supports_json_field_contains:
        return prompts.filter(tags__contains=[tag])
    # SQLite has no JSON containment lookup: ask its json_each table function instead.
    table = Prompt._meta.db_table
    return prompts.extra(
        where=[f'EXISTS (SELECT 1 FROM json_each("{table}"."tags") WHERE json_each.value = %s)'],
        params=[tag],
    )


def prompt_list_for(*, user) -> QuerySet[Prompt]:
    return Prompt.objects.filter(project__in=project_list_for(user=user))


def response_list(
    *, project: Project | None = None, prompt: Prompt | None = None
) -> QuerySet[Response]:
    responses = Response.objects.select_related("model_version")
    if prompt is not None:
        responses = responses.filter(prompt=prompt)
    if project is not None:
        responses = responses.filter(prompt__project=project)
    return responses


def comparison_list(*, project: Project) -> QuerySet[Comparison]:
    """Comparisons with their prompt and responses in canonical order, in a fixed query count."""
    items = ComparisonItem.objects.select_related("response", "response__model_version").order_by(
        "position"
    )
    return (
        project.comparisons.select_related("prompt")
        .prefetch_related(Prefetch("items", queryset=items))
        .order_by("id")
    )


def comparison_list_for(*, user) -> QuerySet[Comparison]:
    items = ComparisonItem.objects.select_related("response", "response__model_version").order_by(
        "position"
    )
    return (
        Comparison.objects.filter(project__in=project_list_for(user=user))
        .select_related("prompt", "project")
        .prefetch_related(Prefetch("items", queryset=items))
    )


def vote_list_for(
    *, user, project: Project | None = None, comparison: Comparison | None = None
) -> QuerySet[Vote]:
    """Votes `user` may read: their own everywhere, every vote where they review or administer."""
    votes = Vote.objects.select_related("rater", "edited_response", "comparison")
    if not user_is_staff(user=user):
        reviewed = _project_ids_with_role(user=user, minimum=Role.REVIEWER)
        votes = votes.filter(Q(rater__user=user) | Q(comparison__project_id__in=reviewed))
    if project is not None:
        votes = votes.filter(comparison__project=project)
    if comparison is not None:
        votes = votes.filter(comparison=comparison)
    return votes.order_by("id")


def snapshot_list_for(*, user) -> QuerySet[DatasetSnapshot]:
    """Exports are training data: only staff and the admins of the exported project see them."""
    snapshots = DatasetSnapshot.objects.select_related("project", "created_by")
    if user_is_staff(user=user):
        return snapshots
    administered = _project_ids_with_role(user=user, minimum=Role.ADMIN)
    return snapshots.filter(project_id__in=administered)


def vote_exists(*, rater, comparison: Comparison) -> bool:
    return Vote.objects.filter(rater=rater, comparison=comparison).exists()
