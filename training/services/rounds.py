"""Rounds: one iteration of the loop per project (policy -> candidates -> votes -> runs -> new
policy), numbered, each starting from the best policy of the one before."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from annotate.errors import ValidationError
from training.models import GenerationJob, ModelKind, ModelVersion, Round

if TYPE_CHECKING:
    from annotate.models import Project


def round_current(*, project: Project) -> Round | None:
    """The project's latest round: where new jobs and runs on the project are filed."""
    return Round.objects.filter(project=project).order_by("-number").first()


def round_start(*, project: Project, policy: ModelVersion, user=None, notes: str = "") -> Round:
    """Round n+1 of the project (1 for the first), starting from `policy`."""
    if policy.kind != ModelKind.POLICY:
        raise ValidationError(f"'{policy}' is a reward model, not a policy", field="policy")
    previous = round_current(project=project)
    for _ in range(3):  # two admins starting a round at once: the loser takes the next number
        number = (Round.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
        try:
            with transaction.atomic():
                return Round.objects.create(
                    project=project,
                    number=number,
                    policy=policy,
                    previous=previous,
                    notes=notes,
                    created_by=user if getattr(user, "pk", None) else None,
                )
        except IntegrityError:
            continue
    raise ValidationError("another round was being started at the same time; try again")


def round_start_next(
    *,
    round: Round,
    policy: ModelVersion | None = None,
    user=None,
    generate: bool = True,
    generation_params: dict[str, Any] | None = None,
) -> tuple[Round, GenerationJob | None]:
    """The next round from `policy` (default: the best of `round`, selectors.round_best), and,
    when `generate`, its candidates: K per prompt with the same sampling as `round`'s last
    generation job (or the defaults), paired with the previous policy's answers when the policy
    changed, so raters and judges compare the new policy with the old head to head."""
    from training.selectors import round_best
    from training.services.generation import generation_create

    policy = policy or round_best(round=round)
    with transaction.atomic():
        new = round_start(project=round.project, policy=policy, user=user)
        job = None
        if generate:
            last = round.generation_jobs.order_by("-pk").first()
            job = generation_create(
                project=round.project,
                model_version=policy,
                k=last.k if last else 2,
                params=generation_params
                if generation_params is not None
                else (dict(last.params) if last else {}),
                user=user,
                round=new,
                pair_with=round.policy if policy.pk != round.policy_id else None,
            )
    return new, job
