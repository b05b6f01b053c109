"""Fixtures of the platform's training tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import ProjectFactory, PromptFactory, UserFactory
from tests.training.support import fake_model_dir, policy
from training.models import ModelKind


@pytest.fixture
def staff(client):
    """A superuser logged in to `client`."""
    user = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


@pytest.fixture
def rm(tmp_path: Path):
    """A reward model version the fake engine can use."""
    return policy(fake_model_dir(tmp_path / "rm"), name="rm", kind=ModelKind.REWARD_MODEL)


@pytest.fixture
def project():
    """A project with four one-turn prompts."""
    project = ProjectFactory()
    for n in range(4):
        PromptFactory(project=project, messages=[{"role": "user", "content": f"Hello {n}?"}])
    return project
