"""Writing projects, their members and their content one item at a time (the API's writes).

Bulk loading goes through annotate.services.import_; these are the single-item paths.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from annotate.errors import ValidationError
from annotate.models import (
    Membership,
    MessageRole,
    Project,
    ProjectMode,
    Prompt,
    Response,
    Role,
    content_hash,
)


def _validate_criteria(criteria: list) -> list[str]:
    if not isinstance(criteria, list) or any(
        not isinstance(c, str) or not c.strip() for c in criteria
    ):
        raise ValidationError("criteria must be a list of non-empty names", field="criteria")
    names = [c.strip() for c in criteria]
    if len(set(names)) != len(names):
        raise ValidationError("a criterion appears twice", field="criteria")
    return names


def _check_project_fields(fields: dict) -> dict:
    if "criteria" in fields:
        fields["criteria"] = _validate_criteria(fields["criteria"])
    if "overlap" in fields and (not isinstance(fields["overlap"], int) or fields["overlap"] < 1):
        raise ValidationError(
            "overlap must be a whole number of raters, at least 1", field="overlap"
        )
    if "mode" in fields and fields["mode"] not in ProjectMode.values:
        raise ValidationError(f"mode must be one of {ProjectMode.values}", field="mode")
    return fields


def _save_project(project: Project) -> Project:
    for field in ("name", "slug"):
        value = getattr(project, field)
        if Project.objects.filter(**{field: value}).exclude(pk=project.pk).exists():
            raise ValidationError(f"a project with {field} {value!r} already exists", field=field)
    try:
        with transaction.atomic():
            project.save()
    except IntegrityError as exc:  # a concurrent create took the name first
        raise ValidationError(
            "a project with this name or slug already exists", field="name"
        ) from exc
    return project


def project_create(
    *,
    name: str,
    slug: str = "",
    guidelines: str = "",
    criteria: list[str] | None = None,
    overlap: int = 1,
    mode: str = ProjectMode.PAIRWISE,
) -> Project:
    if not name.strip():
        raise ValidationError("a project needs a name", field="name")
    fields = _check_project_fields(
        {
            "criteria": criteria if criteria is not None else ["helpful", "honest", "harmless"],
            "overlap": overlap,
            "mode": mode,
        }
    )
    slug = slugify(slug or name)
    if not slug:
        raise ValidationError("the name gives an empty slug: pass a slug", field="slug")
    return _save_project(Project(name=name.strip(), slug=slug, guidelines=guidelines, **fields))


def project_update(
    *,
    project: Project,
    name: str | None = None,
    slug: str | None = None,
    guidelines: str | None = None,
    criteria: list[str] | None = None,
    overlap: int | None = None,
    mode: str | None = None,
) -> Project:
    """Change the given fields only; None leaves a field as it is."""
    given = {
        key: value
        for key, value in {
            "name": name,
            "slug": slugify(slug) if slug is not None else None,
            "guidelines": guidelines,
            "criteria": criteria,
            "overlap": overlap,
            "mode": mode,
        }.items()
        if value is not None
    }
    if mode is not None and mode != project.mode and project.comparisons.exists():
        raise ValidationError(
            "the mode cannot change once the project has comparisons", field="mode"
        )
    for key, value in _check_project_fields(given).items():
        setattr(project, key, value)
    return _save_project(project)


def membership_set(*, project: Project, user, role: str) -> tuple[Membership, bool]:
    """Add `user` to `project` with `role`, or change their role; returns (membership, created)."""
    if role not in Role.values:
        raise ValidationError(f"role must be one of {Role.values}", field="role")
    membership, created = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership, created


def membership_delete(*, project: Project, user) -> bool:
    deleted, _ = Membership.objects.filter(project=project, user=user).delete()
    return bool(deleted)


def validate_messages(messages: object, *, field: str = "messages") -> list[dict]:
    """A conversation: a non-empty list of {role, content} turns with at least one user turn."""
    if not isinstance(messages, list) or not messages:
        raise ValidationError("must be a non-empty list of {role, content} turns", field=field)
    clean = []
    for i, turn in enumerate(messages):
        if not isinstance(turn, dict):
            raise ValidationError(f"turn {i} must be an object with role and content", field=field)
        role, text = turn.get("role"), turn.get("content")
        if role not in MessageRole.values:
            raise ValidationError(
                f"turn {i}: unknown role {role!r}; use one of {MessageRole.values}", field=field
            )
        if not isinstance(text, str):
            raise ValidationError(f"turn {i}: content must be a string", field=field)
        clean.append({"role": role, "content": text})
    if not any(turn["role"] == MessageRole.USER for turn in clean):
        raise ValidationError("the conversation needs at least one user turn", field=field)
    return clean


def prompt_create(
    *,
    project: Project,
    messages: list[dict],
    tags: list[str] | None = None,
    source_file: str = "",
    source_line: int | None = None,
) -> tuple[Prompt, bool]:
    """A prompt, deduplicated by its conversation: returns (prompt, created)."""
    clean = validate_messages(messages)
    tags = list(tags or [])
    if any(not isinstance(t, str) or not t for t in tags):
        raise ValidationError("tags must be non-empty strings", field="tags")
    prompt, created = Prompt.objects.get_or_create(
        project=project,
        content_hash=content_hash(clean),
        defaults={
            "messages": clean,
            "tags": tags,
            "source_file": source_file,
            "source_line": source_line,
        },
    )
    return prompt, created


def response_create(
    *,
    prompt: Prompt,
    text: str,
    source: str = "",
    generation_params: dict | None = None,
    model_version=None,
) -> tuple[Response, bool]:
    """A candidate response, deduplicated by its text within the prompt: (response, created)."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("a response needs some text", field="text")
    if generation_params is not None and not isinstance(generation_params, dict):
        raise ValidationError("must be an object", field="generation_params")
    response, created = Response.objects.get_or_create(
        prompt=prompt,
        content_hash=content_hash(text),
        defaults={
            "text": text,
            "source": source,
            "generation_params": generation_params or {},
            "model_version": model_version,
        },
    )
    return response, created
