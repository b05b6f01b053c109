from __future__ import annotations

import pytest

from annotate.services.export import gate


@pytest.fixture
def every_judge_counts(monkeypatch):
    """Judge votes count whatever the admission gate says: for tests about how counted judge
    votes weigh, not about which judges count (tests/judges/test_gate.py has those)."""
    monkeypatch.setattr(
        gate,
        "_provider",
        lambda **kwargs: gate.JudgeScope(None, {"admission": "test: every judge counts"}),
    )
