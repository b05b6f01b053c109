"""The tiny offline base model: tokenizer, chat template, training, saved directory, command."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from training.engine.corpus import default_corpus, polite_rude_pairs
from training.engine.tiny import (
    TinyModelConfig,
    build_fingerprint,
    build_summary,
    build_tiny_model,
    is_up_to_date,
    parse_document,
    read_corpus_files,
)

CONVERSATION = [
    {"role": "system", "content": "Be nice."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello there!"},
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world!",
        "  leading and trailing spaces  ",
        "line one\nline two\r\n\ttabbed\n\n",
        "emoji 🍕😊👩‍💻 and ünïcödé, 日本語, Ελληνικά",
        "zero\u200bwidth and\u00a0no-break",
        "def f(x):\n    return x ** 2  # code\n",
        " ",
        "",
    ],
)
def test_tokenizer_round_trips_text_exactly(tokenizer, text: str) -> None:
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_tokenizer_has_its_special_tokens_and_adds_none_by_itself(tokenizer) -> None:
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == (
        "<|bos|>",
        "<|eos|>",
        "<|pad|>",
    )
    assert len({tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id}) == 3
    # The chat template writes <|bos|>; a tokenizer adding it too would double it in trl.
    assert tokenizer("hi")["input_ids"] == tokenizer("hi", add_special_tokens=False)["input_ids"]
    assert 256 < len(tokenizer) <= TinyModelConfig().vocab_size


def test_chat_template_renders_chatml_like_turns(tokenizer) -> None:
    text = tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert text == (
        "<|bos|><|system|>\nBe nice.<|eos|>\n<|user|>\nHi<|eos|>\n"
        "<|assistant|>\nHello there!<|eos|>\n"
    )


def test_generation_prompt_opens_an_assistant_turn_that_prefixes_the_answer(tokenizer) -> None:
    prompt = tokenizer.apply_chat_template(
        CONVERSATION[:2], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<|user|>\nHi<|eos|>\n<|assistant|>\n")
    assert not tokenizer.apply_chat_template(CONVERSATION[:2], tokenize=False).endswith(
        "<|assistant|>\n"
    )
    # DPOTrainer and SFTTrainer split prompt from completion where these token lists diverge.
    prompt_ids = tokenizer.apply_chat_template(CONVERSATION[:2], add_generation_prompt=True)
    full_ids = tokenizer.apply_chat_template(CONVERSATION)
    prompt_ids = prompt_ids["input_ids"] if hasattr(prompt_ids, "keys") else prompt_ids
    full_ids = full_ids["input_ids"] if hasattr(full_ids, "keys") else full_ids
    assert full_ids[: len(prompt_ids)] == prompt_ids


def test_assistant_mask_covers_the_answer_and_its_stop_token(tokenizer) -> None:
    out = tokenizer.apply_chat_template(
        CONVERSATION + [{"role": "user", "content": "Bye"}],
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    masked = [i for i, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert tokenizer.decode(masked) == "Hello there!<|eos|>"


def test_chat_template_rejects_unknown_roles(tokenizer) -> None:
    with pytest.raises(Exception, match="system, user and assistant"):
        tokenizer.apply_chat_template([{"role": "tool", "content": "42"}], tokenize=False)


def test_saved_directory_loads_as_causal_lm_and_reward_model(
    tiny_model_dir: Path, tokenizer
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    lm = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert lm.config.model_type == "llama"
    assert lm.config.vocab_size == len(tokenizer)

    rm = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)
    assert rm.config.pad_token_id == tokenizer.pad_token_id
    batch = tokenizer(
        ["a short one", "a noticeably longer second sentence"], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        scores = rm(**batch).logits
    assert scores.shape == (2, 1)
    assert torch.isfinite(scores).all()


def test_generate_answers_a_corpus_question_and_stops(tiny_model_dir: Path, tokenizer) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    for question in ["What is the capital of France?", "Tell me a joke.", "Hi!"]:
        inputs = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}],
            add_generation_prompt=True,
            return_dict=True,
            return_tensors="pt",
        )
        out = model.generate(**inputs, max_new_tokens=64, do_sample=False)
        new = out[0, inputs["input_ids"].shape[1] :].tolist()
        assert new[-1] == tokenizer.eos_token_id, (
            f"{question!r} never stopped: {tokenizer.decode(new)!r}"
        )
        answer = tokenizer.decode(new, skip_special_tokens=True)
        assert answer.strip(), f"empty answer to {question!r}"
        if question.startswith("What is the capital"):
            assert "Paris" in answer


def test_training_loss_decreases_and_is_reported_each_step(tmp_path: Path) -> None:
    logs: list[dict] = []
    config = TinyModelConfig(train_steps=25, batch_size=8)
    build_tiny_model(config, out_dir=tmp_path, on_log=logs.append)

    assert [entry["step"] for entry in logs] == list(range(1, 26))
    assert all(math.isfinite(entry["loss"]) for entry in logs)
    # The first loss is about ln(vocab) for an untrained model.
    assert logs[0]["loss"] == pytest.approx(math.log(1024), abs=0.5)
    assert logs[-1]["loss"] < logs[0]["loss"] - 1.0
    summary = build_summary(tmp_path)
    assert summary["final_loss"] == pytest.approx(logs[-1]["loss"])
    assert summary["parameters"] > 0


def test_same_config_and_seed_build_the_same_model(tmp_path: Path) -> None:
    config = TinyModelConfig(train_steps=3, batch_size=4)
    corpus = default_corpus()[:40]
    first = build_tiny_model(config, out_dir=tmp_path / "one", corpus=corpus)
    second = build_tiny_model(config, out_dir=tmp_path / "two", corpus=corpus)
    for name in ("tokenizer.json", "model.safetensors"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_fingerprint_tracks_config_and_corpus(tmp_path: Path) -> None:
    config = TinyModelConfig(train_steps=0)
    corpus = ["User: hi\nAssistant: hello"] * 3
    fingerprint = build_fingerprint(config, corpus)
    assert not is_up_to_date(tmp_path, fingerprint)

    build_tiny_model(config, out_dir=tmp_path, corpus=corpus)
    assert is_up_to_date(tmp_path, fingerprint)
    assert not is_up_to_date(tmp_path, build_fingerprint(TinyModelConfig(train_steps=1), corpus))
    assert not is_up_to_date(tmp_path, build_fingerprint(config, corpus + ["more"]))
    (tmp_path / "model.safetensors").unlink()
    assert not is_up_to_date(tmp_path, fingerprint)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_attention_heads": 3}, "num_attention_heads"),
        ({"num_key_value_heads": 3}, "num_key_value_heads"),
        ({"vocab_size": 100}, "vocab_size"),
    ],
)
def test_impossible_shapes_fail_before_training(tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_tiny_model(TinyModelConfig(**change), out_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_empty_corpus_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="corpus"):
        build_tiny_model(TinyModelConfig(), out_dir=tmp_path, corpus=[])


def test_parse_document_reads_roles_continuations_and_plain_text() -> None:
    doc = "System: Be brief.\nUser: Show code\nAssistant: Here:\n```python\nprint(1)\n```"
    assert parse_document(doc) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Show code"},
        {"role": "assistant", "content": "Here:\n```python\nprint(1)\n```"},
    ]
    assert parse_document("Just prose.") == [{"role": "assistant", "content": "Just prose."}]


def test_read_corpus_files_splits_on_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("User: a\nAssistant: b\n\n  \nUser: c\nAssistant: d\n", encoding="utf-8")
    assert read_corpus_files([path]) == ["User: a\nAssistant: b", "User: c\nAssistant: d"]
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ValueError, match="bad.txt is not UTF-8"):
        read_corpus_files([tmp_path / "bad.txt"])


def test_default_corpus_is_varied_chat_with_polite_and_rude_answers() -> None:
    docs = default_corpus()
    assert len(docs) >= 150
    assert all(parse_document(doc)[-1]["role"] == "assistant" for doc in docs)
    assert any("```python" in doc for doc in docs)
    question, polite, rude = polite_rude_pairs()[0]
    assert f"User: {question}\nAssistant: {polite}" in docs
    assert f"User: {question}\nAssistant: {rude}" in docs


@pytest.mark.django_db
def test_command_builds_registers_and_then_skips(tmp_path: Path) -> None:
    from io import StringIO

    from django.core.management import call_command

    from training.models import ModelKind, ModelVersion

    out_dir = tmp_path / "tiny"
    stdout = StringIO()
    call_command("build_tiny_model", out=out_dir, steps=4, register=True, stdout=stdout)
    assert "Built tiny model" in stdout.getvalue()
    version = ModelVersion.objects.get(name="tiny-llama")
    assert version.kind == ModelKind.POLICY
    assert Path(version.base_model) == out_dir.resolve()
    weights = out_dir / "model.safetensors"
    built_at = weights.stat().st_mtime_ns

    stdout = StringIO()
    call_command("build_tiny_model", out=out_dir, steps=4, register=True, stdout=stdout)
    assert "up to date" in stdout.getvalue()
    assert weights.stat().st_mtime_ns == built_at
    assert ModelVersion.objects.filter(name="tiny-llama").count() == 1


@pytest.mark.django_db
def test_command_rebuilds_when_forced_or_the_corpus_changes(tmp_path: Path, settings) -> None:
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.DATA_DIR = tmp_path
    corpus = tmp_path / "chat.txt"
    corpus.write_text(
        "User: ping\nAssistant: pong\n\nUser: hi\nAssistant: hello\n", encoding="utf-8"
    )
    call_command("build_tiny_model", corpus=[corpus], steps=2, stdout=StringIO())
    default_dir = tmp_path / "models" / "tiny-llama"
    assert build_summary(default_dir)["documents"] == 2

    stdout = StringIO()
    call_command("build_tiny_model", corpus=[corpus], steps=2, force=True, stdout=stdout)
    assert "Built tiny model" in stdout.getvalue()

    corpus.write_text("User: ping\nAssistant: pong\n", encoding="utf-8")
    stdout = StringIO()
    call_command("build_tiny_model", corpus=[corpus], steps=2, stdout=stdout)
    assert "Built tiny model" in stdout.getvalue()
    assert build_summary(default_dir)["documents"] == 1

    with pytest.raises(CommandError, match="no such file"):
        call_command("build_tiny_model", corpus=[tmp_path / "missing.txt"], stdout=StringIO())


@pytest.mark.slow
def test_trl_trainers_run_on_the_tiny_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    """DPO, reward-model and assistant-only SFT training each take two steps on four rows."""
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )
    from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer, SFTConfig, SFTTrainer

    rows = polite_rude_pairs()[:4]
    preferences = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": q}],
                "chosen": [{"role": "assistant", "content": polite}],
                "rejected": [{"role": "assistant", "content": rude}],
            }
            for q, polite, rude in rows
        ]
    )
    chats = Dataset.from_list(
        [
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": polite}]}
            for q, polite, _ in rows
        ]
    )
    common = {
        "max_steps": 2,
        "per_device_train_batch_size": 2,
        "use_cpu": True,
        "bf16": False,
        # trl defaults gradient_checkpointing to True; transformers 5 names it activation_*.
        "activation_checkpointing": False,
        "max_length": 256,  # trl's default 1024 exceeds the model's 512 positions
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": 1,
    }

    def tokenizer():
        return AutoTokenizer.from_pretrained(tiny_model_dir)

    trainers = {
        "dpo": DPOTrainer(
            model=AutoModelForCausalLM.from_pretrained(tiny_model_dir),
            args=DPOConfig(output_dir=str(tmp_path / "dpo"), **common),
            train_dataset=preferences,
            processing_class=tokenizer(),
        ),
        "reward": RewardTrainer(
            model=AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1),
            args=RewardConfig(output_dir=str(tmp_path / "rm"), **common),
            train_dataset=preferences,
            processing_class=tokenizer(),
        ),
        "sft": SFTTrainer(
            model=AutoModelForCausalLM.from_pretrained(tiny_model_dir),
            args=SFTConfig(output_dir=str(tmp_path / "sft"), assistant_only_loss=True, **common),
            train_dataset=chats,
            processing_class=tokenizer(),
        ),
    }
    for name, trainer in trainers.items():
        before = {k: v.detach().clone() for k, v in trainer.model.named_parameters()}
        trainer.train()
        assert trainer.state.global_step == 2, name
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        assert len(losses) == 2 and all(math.isfinite(x) for x in losses), name
        changed = [
            k for k, v in trainer.model.named_parameters() if not torch.equal(v.detach(), before[k])
        ]
        assert changed, f"{name} changed no parameter"
