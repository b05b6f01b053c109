"""Head-to-head results and rounds, with the fake engine (tests/training/fake_engine.py): the
comparisons made, what the admin pages show, and which version starts the next round."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from annotate.models import Comparison, Project, Rater, RaterKind
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_submit
from tests.factories import ProjectFactory
from tests.training.support import admin_action, fake_model_dir, policy, use_fake_engine
from training.models import GenerationJob, JobStatus, Round, RunKind, TrainingRun
from training.selectors import head_to_head, round_best
from training.services.generation import generation_create
from training.services.rounds import round_start, round_start_next
from training.services.runs import run_create
from training.tasks import execute_generation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch):
    use_fake_engine(monkeypatch)


@pytest.fixture
def base(tmp_path: Path):
    return policy(fake_model_dir(tmp_path / "tiny", answer_prefix="Old. "))


act = admin_action


def _child(tmp_path: Path, parent, name: str, prefix: str, **metrics):
    version = policy(fake_model_dir(tmp_path / name, answer_prefix=prefix), name=name)
    version.parent, version.metrics = parent, metrics
    version.save()
    return version


def _generate(project, version, **fields) -> GenerationJob:
    job = generation_create(project=project, model_version=version, k=1, **fields)
    execute_generation(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def test_generation_paired_with_the_parent_makes_head_to_head_comparisons(
    client, staff, tmp_path, base, project
):
    child = _child(tmp_path, base, "child", "New! ")
    _generate(project, base)
    job = _generate(project, child, pair_with=base)
    assert job.comparisons_created == 4  # k=1: one pair per prompt, new against old
    judge = Rater.objects.create(kind=RaterKind.JUDGE, name="judge:polite")
    human = rater_for_user(user=staff)
    for n, comparison in enumerate(Comparison.objects.filter(project=project).order_by("pk")):
        texts = [i.response.text for i in comparison.items.order_by("position")]
        new_side = "a" if texts[0].startswith("New!") else "b"
        old_side = "b" if new_side == "a" else "a"
        vote_submit(comparison=comparison, rater=judge, choice=new_side if n < 3 else old_side)
        vote_submit(comparison=comparison, rater=human, choice=new_side if n < 2 else "tie")

    rows = {r.rater: r for r in head_to_head(version=child, opponent=base)}
    assert (rows["judge:polite"].wins, rows["judge:polite"].losses) == (3, 1)
    assert rows["judge:polite"].win_rate == 0.75
    assert (rows["humans"].wins, rows["humans"].ties, rows["humans"].win_rate) == (2, 2, 0.75)
    reverse_rows = {r.rater: r for r in head_to_head(version=base, opponent=child)}
    assert reverse_rows["judge:polite"].win_rate == 0.25

    page = client.get(child.get_absolute_url()).content.decode()
    assert "Head to head with its parent" in page and "judge:polite" in page and "0.75" in page


def test_the_generate_form_offers_head_to_head_and_refuses_self_pairing(
    client, staff, base, project
):
    page = act(client, Project, "generate_candidates", [project.pk]).content.decode()
    assert 'name="pair_with"' in page
    refused = act(
        client,
        Project,
        "generate_candidates",
        [project.pk],
        apply="yes",
        model_version=base.pk,
        pair_with=base.pk,
        k="1",
        temperature="1",
        top_p="1",
        max_new_tokens="8",
    )
    assert "Choose another version" in refused.content.decode()
    assert not GenerationJob.objects.exists()


def test_runs_and_jobs_started_on_a_project_join_its_current_round(base, rm, project):
    assert run_create(kind=RunKind.PPO, base=base, project=project, reward_model=rm).round is None
    first = round_start(project=project, policy=base)
    second = round_start(project=project, policy=base)
    assert (first.number, second.number, second.previous) == (1, 2, first)
    run = run_create(kind=RunKind.GRPO, base=base, project=project, reward_model=rm)
    job = generation_create(project=project, model_version=base, k=1)
    assert run.round == second and job.round == second
    other = ProjectFactory()
    assert round_start(project=other, policy=base).number == 1


def test_the_next_round_starts_from_the_best_version_judged_head_to_head(
    client, staff, tmp_path, base, project
):
    round_one = round_start(project=project, policy=base)
    _generate(project, base)
    better = _child(tmp_path, base, "better", "Better! ", win_rate=0.6, kl=2.0)
    hacker = _child(tmp_path, base, "hacker", "Hack! ", win_rate=0.99, kl=40.0)
    hacker.metrics["reward_hacking_warning"] = 1.0
    hacker.save()
    for version in (better, hacker):
        TrainingRun.objects.create(
            kind=RunKind.PPO,
            base=base,
            project=project,
            round=round_one,
            status=JobStatus.SUCCEEDED,
        ).produced_version = version
        version.produced_by = TrainingRun.objects.latest("pk")
        version.save()
    _generate(project, better, pair_with=base)
    judge = Rater.objects.create(kind=RaterKind.JUDGE, name="judge:polite")
    for comparison in Comparison.objects.filter(items__response__model_version=better):
        side = (
            "a" if comparison.items.get(position=0).response.model_version_id == better.pk else "b"
        )
        vote_submit(comparison=comparison, rater=judge, choice=side)

    assert round_best(round=round_one) == better  # the hacker's 0.99 carries a warning
    listing = client.get(
        reverse("admin:training_round_changelist") + f"?project__id__exact={project.pk}"
    ).content.decode()
    assert ">better</a> (1.00 / 0.60)" in listing and ">hacker</a> (- / 0.99)" in listing
    assert 'field-best_next">better<' in listing
    page = client.get(round_one.get_absolute_url()).content.decode()
    assert "★ <a" in page and "Possible reward hacking" in page

    form = act(client, Round, "start_next_round", [round_one.pk]).content.decode()
    assert f'<option value="{better.pk}" selected>' in form
    done = act(
        client,
        Round,
        "start_next_round",
        [round_one.pk],
        apply="yes",
        policy=better.pk,
        generate="on",
    )
    round_two = Round.objects.get(number=2)
    assert done.status_code == 302 and done.url == round_two.get_absolute_url()
    assert (round_two.policy, round_two.previous) == (better, round_one)
    job = round_two.generation_jobs.get()
    assert (job.model_version, job.pair_with, job.k) == (better, base, 1)

    stale = act(client, Round, "start_next_round", [round_one.pk], follow=True).content.decode()
    assert "is not the latest" in stale


def test_without_a_better_version_the_round_policy_carries_on(tmp_path, base, project):
    round_one = round_start(project=project, policy=base)
    worse = _child(tmp_path, base, "worse", "Worse. ", win_rate=0.4)
    run = TrainingRun.objects.create(
        kind=RunKind.DPO, base=base, project=project, round=round_one, status=JobStatus.SUCCEEDED
    )
    worse.produced_by = run
    worse.save()
    assert round_best(round=round_one) == base
    new, job = round_start_next(round=round_one, generate=True)
    assert new.policy == base and job.pair_with is None


def test_a_reward_model_cannot_start_a_round(rm, project):
    from annotate.errors import ValidationError

    with pytest.raises(ValidationError, match="reward model"):
        round_start(project=project, policy=rm)


def test_the_first_round_is_started_from_the_add_page(client, staff, base, project):
    page = client.post(
        reverse("admin:training_round_add"),
        {"project": project.pk, "policy": base.pk, "notes": "Baseline."},
    )
    round_one = Round.objects.get()
    assert page.status_code == 302
    assert (round_one.number, round_one.policy, round_one.created_by) == (1, base, staff)
    html = client.get(round_one.get_absolute_url()).content.decode()
    assert "None yet" in html and "0 generation job(s)" in html


def test_quickstart_opens_the_first_round_once(monkeypatch, base, project):
    from io import StringIO

    from training.services import quickstart

    monkeypatch.setattr(quickstart, "tiny_model_ensure", lambda **kwargs: base)
    out = StringIO()
    quickstart.quickstart_training(project=project, stdout=out)
    quickstart.quickstart_training(project=project, stdout=out)
    (only,) = Round.objects.filter(project=project)
    assert (only.number, only.policy) == (1, base)
    assert "admin > Rounds" in out.getvalue()
