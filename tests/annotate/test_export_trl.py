"""A snapshot loads with `datasets` and trains trl's DPOTrainer and RewardTrainer as it is."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from annotate.models import Rater, RaterKind
from annotate.services.export import ExportOptions, snapshot_export
from annotate.services.votes import vote_submit
from tests.factories import HumanRaterFactory, ProjectFactory, PromptFactory, make_comparison

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CONVERSATIONS = [
    [{"role": "user", "content": "What colour is the sky on a clear day?"}],
    [
        {"role": "system", "content": "Answer in one sentence."},
        {"role": "user", "content": "Why do leaves fall in autumn?"},
    ],
    [
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello, how can I help?"},
        {"role": "user", "content": "Name a prime number above ten."},
    ],
    [{"role": "user", "content": "Give me a word that rhymes with cat."}],
    [
        {"role": "user", "content": "I need a name for a cat."},
        {"role": "assistant", "content": "How about Miso?"},
        {"role": "user", "content": "Another one, please."},
    ],
    [{"role": "user", "content": "How many legs does a spider have?"}],
]


@pytest.fixture
def voted_project(every_judge_counts):
    project = ProjectFactory()
    humans = [HumanRaterFactory() for _ in range(2)]
    judge = Rater.objects.create(kind=RaterKind.JUDGE, name="judge:tiny")
    for i, messages in enumerate(CONVERSATIONS):
        comparison = make_comparison(
            project=project, prompt=PromptFactory(project=project, messages=messages)
        )
        choice = "a" if i % 2 else "b"
        for rater in humans:
            vote_submit(comparison=comparison, rater=rater, choice=choice, strength=1 + i % 3)
        vote_submit(
            comparison=comparison,
            rater=judge,
            choice=choice,
            edited_text=f"A careful, correct answer number {i}." if i % 3 == 0 else None,
        )
    return project


def _load(snapshot, cache: Path):
    import datasets

    folder = Path(snapshot.path)
    from_json = datasets.load_dataset(
        "json",
        data_files=str(folder / snapshot.files["jsonl"]),
        split="train",
        cache_dir=str(cache),
    )
    from_disk = datasets.load_from_disk(str(folder / snapshot.files["dataset"]))
    assert from_json.to_list() == from_disk.to_list()
    lines = (folder / snapshot.files["jsonl"]).read_text(encoding="utf-8").splitlines()
    assert from_disk.to_list() == [json.loads(line) for line in lines]
    return from_json, from_disk


def _common_args(tmp_path: Path, name: str) -> dict:
    return {
        "output_dir": str(tmp_path / name),
        "max_steps": 2,
        "per_device_train_batch_size": 2,
        "learning_rate": 1e-4,
        "use_cpu": True,
        "bf16": False,
        "gradient_checkpointing": False,
        "activation_checkpointing": False,  # the new name; trl defaults the old one to True
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": 1,
        "max_length": 128,
        "dataset_num_proc": None,
    }


@pytest.mark.parametrize("fmt", ["standard", "conversational"])
def test_snapshot_trains_dpo_and_reward_model_without_reshaping(
    voted_project, tiny_model_dir, tmp_path, fmt
):
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer

    snapshot = snapshot_export(
        project=voted_project,
        options=ExportOptions(format=fmt, include_margin=True),
        name=f"trl {fmt}",
    )
    # Six verdicts, plus two edits that each beat both of their comparison's responses.
    assert snapshot.row_count == 6 + 2 * 2
    from_json, from_disk = _load(snapshot, tmp_path / "hf-cache")
    assert from_disk.column_names == ["prompt", "chosen", "rejected", "margin"]
    multi_turn = [row["prompt"] for row in from_disk if "Another one" in str(row["prompt"])]
    assert multi_turn, "the multi-turn prompt is exported"
    if fmt == "conversational":
        assert [m["role"] for m in multi_turn[0]] == ["user", "assistant", "user"]
    else:
        assert multi_turn[0].endswith("User: Another one, please.\n\nAssistant: ")

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model_path = str(tiny_model_dir)

    dpo = DPOTrainer(
        model=model_path,
        args=DPOConfig(**_common_args(tmp_path, "dpo")),
        train_dataset=from_json,
        processing_class=tokenizer,
    )
    dpo_result = dpo.train()
    assert dpo.state.global_step == 2
    assert math.isfinite(dpo_result.training_loss)

    reward = RewardTrainer(
        model=model_path,
        args=RewardConfig(**_common_args(tmp_path, "reward")),
        train_dataset=from_disk,
        processing_class=tokenizer,
    )
    reward_result = reward.train()
    assert reward.state.global_step == 2
    assert math.isfinite(reward_result.training_loss)
