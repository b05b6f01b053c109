"""Training on a project's votes goes through the judge admission gate, and says so (issue 11):
a judge that disagrees with people does not feed "Train reward model", and the form and the
run's messages name the judge votes left out or included."""

from __future__ import annotations

import pytest

from annotate.models import DatasetSnapshot, Project
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_submit
from judges.services.judges import judge_create
from tests.factories import ProjectFactory, UserFactory, make_comparison
from tests.training.support import admin_action, fake_model_dir, policy, use_fake_engine
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch):
    use_fake_engine(monkeypatch)


@pytest.fixture
def base(tmp_path):
    return policy(fake_model_dir(tmp_path / "tiny"))


@pytest.fixture
def useless_judge_project():
    """24 comparisons with one human vote each; a judge that says the opposite on all but one
    (4% accuracy, never position-consistent): counted at weight 1 it splits 23 decisions, which
    the export drops (the issue's demo fell from 156 rows to 21 this way)."""
    project = ProjectFactory(overlap=3)
    humans = [rater_for_user(user=UserFactory(username="p0"))]
    judge = judge_create(name="contrarian", kind="openai", model="m", base_url="http://x.test/v1")
    for i in range(24):
        c = make_comparison(project=project)
        for human in humans:
            vote_submit(comparison=c, rater=human, choice="a")
        verdict = "a" if i == 0 else "b"
        vote_submit(
            comparison=c,
            rater=judge.rater,
            choice=verdict,
            metadata={"position_consistent": False},
        )
    return project


def test_train_reward_model_leaves_the_unadmitted_judge_out_and_warns(
    client, staff, base, useless_judge_project
):
    project = useless_judge_project
    form = admin_action(client, Project, "train_reward_model", [project.pk])
    shown = form.content.decode()
    assert "AI judge &#x27;contrarian&#x27;" in shown and "votes left out" in shown

    done = admin_action(
        client,
        Project,
        "train_reward_model",
        [project.pk],
        apply="yes",
        base=base.pk,
        method="full",
        seed=0,
        follow=True,
    )

    run = TrainingRun.objects.get()
    assert run.snapshot.row_count == 24  # every human decision, none split by the judge
    assert run.snapshot.counts["dropped_judge_votes_not_admitted"] == 24
    assert run.snapshot.counts["judge_votes_admitted"] == 0
    page = done.content.decode()
    assert "votes left out, not admitted" in page
    assert "0 included, 24 left out by the admission gate" in page


def test_training_on_a_snapshot_says_whose_judge_votes_it_holds(
    client, staff, useless_judge_project
):
    from annotate.services.export import ExportOptions, snapshot_export

    snapshot = snapshot_export(
        project=useless_judge_project,
        options=ExportOptions(judge_include=("contrarian",)),
        save_to_disk=False,
    )
    form = admin_action(client, DatasetSnapshot, "run_dpo", [snapshot.pk])
    shown = form.content.decode()
    assert "votes INCLUDED although not admitted (judge_include" in shown
