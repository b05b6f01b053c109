"""Fixtures of the platform's training tests."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory


@pytest.fixture
def staff(client):
    """A superuser logged in to `client`."""
    user = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user
