"""The run page in a real browser: plotly draws the curves from the local plotly.js, and htmx
polling moves the progress bar while the run goes on. Nothing is fetched from another host."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import timezone

from tests.browser.conftest import login
from tests.factories import UserFactory
from tests.training.support import fake_model_dir, make_snapshot, policy, preference_rows
from training.models import JobStatus, RunKind, RunMetric, TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def add_points(run: TrainingRun, steps: range) -> None:
    RunMetric.objects.bulk_create(
        RunMetric(
            run=run, step=s, values={"loss": 2.0 / s, "grad_norm": 1.0}, logged_at=timezone.now()
        )
        for s in steps
    )


def test_curves_draw_and_progress_moves_while_the_run_trains(page, live_server, tmp_path: Path):
    UserFactory(username="boss", is_staff=True, is_superuser=True)
    run = TrainingRun.objects.create(
        kind=RunKind.SFT,
        base=policy(fake_model_dir(tmp_path / "tiny")),
        snapshot=make_snapshot(None, preference_rows()),
        status=JobStatus.RUNNING,
        step=2,
        total_steps=10,
        heartbeat_at=timezone.now(),
    )
    add_points(run, range(1, 3))
    foreign: list[str] = []
    page.on(
        "request", lambda r: None if r.url.startswith(live_server.url) else foreign.append(r.url)
    )
    login(page, "boss")

    page.goto(run.get_absolute_url())

    page.wait_for_selector(f"#run-{run.pk}-chart .main-svg")
    assert "step 2 / 10 (20%)" in page.inner_text("#job-live")
    assert page.locator(f"#run-{run.pk}-chart .subplot").count() >= 1

    TrainingRun.objects.filter(pk=run.pk).update(step=8)
    add_points(run, range(3, 9))
    page.wait_for_function("document.querySelector('#job-live').innerText.includes('step 8 / 10')")
    assert page.locator("#job-live progress").get_attribute("value") == "80"

    TrainingRun.objects.filter(pk=run.pk).update(
        status=JobStatus.SUCCEEDED, step=10, final_metrics={"train_loss": 0.25}
    )
    page.wait_for_function("document.querySelector('#job-live').dataset.status === 'succeeded'")
    assert page.locator("#job-live[hx-trigger]").count() == 0  # polling stopped
    assert "train_loss" in page.inner_text("#job-live")
    assert foreign == []
