"""factory_boy factories for the domain; build realistic objects in one line."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from annotate.models import (
    Comparison,
    ComparisonItem,
    Membership,
    Project,
    Prompt,
    Rater,
    RaterKind,
    Response,
    Role,
)
from training.models import ModelKind, ModelVersion


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-secret-123")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    guidelines = "Prefer the answer that is more helpful, honest and harmless."


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ANNOTATOR


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    project = factory.SubFactory(ProjectFactory)
    messages = factory.Sequence(lambda n: [{"role": "user", "content": f"Question number {n}?"}])


class ResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Response

    prompt = factory.SubFactory(PromptFactory)
    text = factory.Sequence(lambda n: f"Answer number {n}.")
    source = "factory"


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    name = factory.Sequence(lambda n: f"model-v{n}")
    kind = ModelKind.POLICY
    base_model = "tiny-llama"


class HumanRaterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rater

    kind = RaterKind.HUMAN
    user = factory.SubFactory(UserFactory)
    name = factory.LazyAttribute(lambda o: f"user:{o.user.username}")


def make_comparison(
    *, project: Project | None = None, n: int = 2, prompt: Prompt | None = None
) -> Comparison:
    """A comparison of `n` fresh responses to one prompt, in canonical order."""
    project = project or ProjectFactory()
    prompt = prompt or PromptFactory(project=project)
    responses = [ResponseFactory(prompt=prompt) for _ in range(n)]
    comparison = Comparison.objects.create(
        project=project,
        prompt=prompt,
        content_hash=Comparison.hash_for(prompt.pk, [r.pk for r in responses]),
    )
    for i, r in enumerate(responses):
        ComparisonItem.objects.create(comparison=comparison, response=r, position=i)
    return comparison
