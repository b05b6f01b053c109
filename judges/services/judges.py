"""Creating, checking, updating and deleting judges. Each judge owns a Rater of kind "judge".

The API key is write-only: services take it, nothing ever returns it. `judge_update` keeps the
stored key when `api_key` is None and clears it when given "".
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from annotate.errors import ValidationError
from annotate.models import Rater, RaterKind, Vote
from judges.models import Judge, JudgeKind, JudgeMode
from judges.services.prompts import TemplateError, template_check
from training.models import ModelKind

EDITABLE = (
    "kind",
    "version",
    "base_url",
    "model",
    "api_key_env",
    "model_version",
    "mode",
    "template",
    "rubric",
    "constitution",
    "chain_of_thought",
    "sampling_params",
    "use_logprobs",
    "inconsistency",
    "max_parse_retries",
    "max_retries",
    "timeout_seconds",
    "concurrency",
    "price_prompt_per_mtok",
    "price_completion_per_mtok",
)


def judge_check(*, judge: Judge) -> None:
    """Refuse a judge that could not run, naming the field to fix."""
    if judge.kind not in JudgeKind.values:
        raise ValidationError(f"kind must be one of {JudgeKind.values}", field="kind")
    if judge.mode not in JudgeMode.values:
        raise ValidationError(f"mode must be one of {JudgeMode.values}", field="mode")
    if judge.kind == JudgeKind.OPENAI and not judge.model:
        raise ValidationError("an OpenAI-compatible judge needs a model name", field="model")
    if judge.kind == JudgeKind.LOCAL_LM and not (judge.model_version_id or judge.model):
        raise ValidationError(
            "a local causal-LM judge needs a model version or a model directory", field="model"
        )
    if judge.kind == JudgeKind.REWARD_MODEL:
        version = judge.model_version
        if version is None:
            raise ValidationError(
                "a reward-model judge needs a model version", field="model_version"
            )
        if version.kind != ModelKind.REWARD_MODEL:
            raise ValidationError(
                f"model version {version.name!r} is a {version.kind}, not a reward model",
                field="model_version",
            )
    try:
        template_check(judge.template)
    except TemplateError as exc:
        raise ValidationError(str(exc), field="template") from None
    if not isinstance(judge.constitution, list) or not all(
        isinstance(p, str) for p in judge.constitution
    ):
        raise ValidationError(
            "constitution must be a list of principles (strings)", field="constitution"
        )
    if not isinstance(judge.sampling_params, dict):
        raise ValidationError("sampling_params must be an object", field="sampling_params")
    if judge.concurrency < 1:
        raise ValidationError("concurrency must be at least 1", field="concurrency")
    if judge.timeout_seconds <= 0:
        raise ValidationError("timeout_seconds must be positive", field="timeout_seconds")


def judge_create(*, name: str, kind: str, api_key: str = "", **fields: Any) -> Judge:
    """A judge and its Rater (named `name`, unique among raters)."""
    name = name.strip()
    if not name:
        raise ValidationError("a judge needs a name", field="name")
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationError(f"unknown judge settings {sorted(unknown)}", field=sorted(unknown)[0])
    if Rater.objects.filter(name=name).exists():
        raise ValidationError(f"a rater named {name!r} already exists", field="name")
    judge = Judge(kind=kind, api_key=api_key or "", **fields)
    judge_check(judge=judge)
    with transaction.atomic():
        judge.rater = Rater.objects.create(kind=RaterKind.JUDGE, name=name)
        judge.save()
    return judge


def judge_update(
    *, judge: Judge, name: str | None = None, api_key: str | None = None, **fields: Any
) -> Judge:
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationError(f"unknown judge settings {sorted(unknown)}", field=sorted(unknown)[0])
    for field, value in fields.items():
        setattr(judge, field, value)
    if api_key is not None:
        judge.api_key = api_key
    judge_check(judge=judge)
    with transaction.atomic():
        if name is not None and name.strip() != judge.rater.name:
            if Rater.objects.filter(name=name.strip()).exclude(pk=judge.rater_id).exists():
                raise ValidationError(f"a rater named {name!r} already exists", field="name")
            judge.rater.name = name.strip()
            judge.rater.save(update_fields=["name"])
        judge.save()
    return judge


def judge_delete(*, judge: Judge) -> None:
    """Delete a judge that never voted (its votes are data: a judge with votes stays)."""
    votes = Vote.objects.filter(rater_id=judge.rater_id).count()
    if votes:
        raise ValidationError(
            f"judge {judge.rater.name!r} has cast {votes} votes; they would lose their rater. "
            "Create a new judge (or a new version) instead.",
            field="judge",
        )
    if judge.runs.exists() or judge.projects.exists():
        raise ValidationError(
            f"judge {judge.rater.name!r} has runs or is a project's judge", field="judge"
        )
    with transaction.atomic():
        rater = judge.rater
        judge.delete()
        rater.delete()
