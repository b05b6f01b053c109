"""The judges admin: a write-only key, runs with progress, cancel and resume, RLAIF mode."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotate.models import Comparison
from judges.models import ComparisonRoute, Judge, JudgeRun, JudgingMode, ProjectJudging, RunStatus
from judges.services.judges import judge_create
from tests.factories import ProjectFactory, UserFactory, make_comparison

pytestmark = pytest.mark.django_db

SECRET = "sk-admin-secret-9876"


@pytest.fixture
def admin_client(client):
    user = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def _judge_form(**extra) -> dict:
    return {
        "name": "admin-judge",
        "kind": "openai",
        "version": "1",
        "mode": "pairwise",
        "base_url": "http://127.0.0.1:9/v1",
        "model": "gpt-x",
        "new_api_key": SECRET,
        "api_key_env": "",
        "template": "",
        "rubric": "",
        "constitution": "[]",
        "sampling_params": '{"temperature": 0}',
        "use_logprobs": "on",
        "inconsistency": "tie",
        "max_parse_retries": "2",
        "max_retries": "4",
        "timeout_seconds": "60",
        "concurrency": "16",
        "price_prompt_per_mtok": "0",
        "price_completion_per_mtok": "0",
        **extra,
    }


def test_the_admin_stores_the_key_but_never_shows_it(admin_client):
    response = admin_client.post(reverse("admin:judges_judge_add"), _judge_form())
    assert response.status_code == 302, response.content.decode()[-2000:]
    judge = Judge.objects.get(rater__name="admin-judge")
    assert judge.api_key == SECRET and judge.rater.kind == "judge"

    change_url = reverse("admin:judges_judge_change", args=[judge.pk])
    page = admin_client.get(change_url).content.decode()
    assert SECRET not in page and "A key is stored" in page
    assert SECRET not in admin_client.get(reverse("admin:judges_judge_changelist")).content.decode()

    # Saving with the key field blank keeps it; ticking "remove" clears it.
    admin_client.post(change_url, _judge_form(new_api_key="", version="2"))
    judge.refresh_from_db()
    assert (judge.version, judge.api_key) == ("2", SECRET)
    admin_client.post(change_url, _judge_form(new_api_key="", clear_api_key="on"))
    judge.refresh_from_db()
    assert judge.api_key == ""


def test_the_admin_refuses_a_broken_template_naming_it(admin_client):
    response = admin_client.post(
        reverse("admin:judges_judge_add"), _judge_form(template="Rate {answer}")
    )
    assert response.status_code == 200
    assert "unknown placeholder {answer}" in response.content.decode()
    assert not Judge.objects.exists()


def test_runs_show_progress_and_can_be_cancelled_and_resumed(admin_client):
    project = ProjectFactory()
    make_comparison(project=project)
    judge = judge_create(name="j", kind="openai", model="m")
    response = admin_client.post(
        reverse("admin:judges_judgerun_add"),
        {"judge": judge.pk, "project": project.pk, "comparison_ids": "null"},
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    run = JudgeRun.objects.get()
    JudgeRun.objects.filter(pk=run.pk).update(total=10, processed=4)

    listing = admin_client.get(reverse("admin:judges_judgerun_changelist")).content.decode()
    assert '<progress value="4" max="10"' in listing and "4 / 10" in listing

    changelist = reverse("admin:judges_judgerun_changelist")
    admin_client.post(changelist, {"action": "cancel_runs", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    admin_client.post(changelist, {"action": "resume_runs", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and not run.cancel_requested

    page = admin_client.get(reverse("admin:judges_judgerun_change", args=[run.pk])).content.decode()
    assert 'http-equiv="refresh"' in page  # a live run reloads itself
    assert reverse("admin:judges_agreement", args=[project.pk]) in page


def test_setting_an_rlaif_mode_in_the_admin_routes_the_project(admin_client):
    project = ProjectFactory(overlap=2)
    comparison = make_comparison(project=project)
    judge = judge_create(name="j", kind="openai", model="m")
    from annotate.services.votes import vote_submit

    vote_submit(
        comparison=comparison,
        rater=judge.rater,
        choice="a",
        metadata={"position_consistent": True, "confidence": 0.99},
    )
    response = admin_client.post(
        reverse("admin:judges_projectjudging_add"),
        {
            "project": project.pk,
            "mode": JudgingMode.PRELABEL,
            "judge": judge.pk,
            "confidence_threshold": "0.9",
            "gold_size": "20",
            "agreement_threshold": "0.8",
            "audit_rate": "0.1",
            "judge_min_agreement": "0.7",
            "judge_min_comparisons": "0",  # trust it unmeasured: this test is about routing
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert ProjectJudging.objects.get(project=project).mode == JudgingMode.PRELABEL
    assert ComparisonRoute.objects.get(comparison=comparison).decision == "judge"
    assert Comparison.objects.get(pk=comparison.pk).slots_taken == 2

    missing = admin_client.post(
        reverse("admin:judges_projectjudging_add"),
        {
            "project": ProjectFactory().pk,
            "mode": JudgingMode.JUDGE_ONLY,
            "confidence_threshold": "1.5",
            "gold_size": "20",
            "agreement_threshold": "0.8",
            "audit_rate": "0.1",
            "judge_min_agreement": "0.7",
            "judge_min_comparisons": "20",
        },
    ).content.decode()
    assert "needs a judge" in missing and "less than or equal to 1.0" in missing


def test_the_agreement_report_is_an_admin_page_for_staff_only(admin_client, client):
    project = ProjectFactory(name="Agreement Project")
    url = reverse("admin:judges_agreement", args=[project.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and "Judge agreement: Agreement Project" in page.content.decode()
    index = admin_client.get(reverse("admin:judges_agreement_index")).content.decode()
    assert url in index
    client.logout()
    assert client.get(url).status_code == 302  # to the admin login
