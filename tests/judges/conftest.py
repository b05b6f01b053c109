from __future__ import annotations

import pytest

from judges.models import Judge
from judges.services.judges import judge_create
from tests.judges.fake_openai import FakeOpenAI


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as server:
        yield server


def make_openai_judge(base_url: str, name: str = "gpt-judge", **overrides) -> Judge:
    settings = {
        "kind": "openai",
        "base_url": base_url,
        "model": "fake-judge-1",
        "api_key": "sk-test-secret-123",
        "max_retries": 2,
        "timeout_seconds": 5.0,
        "concurrency": 8,
        **overrides,
    }
    return judge_create(name=name, **settings)
