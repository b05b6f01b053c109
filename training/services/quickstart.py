"""The training step of `manage.py quickstart`: a tiny offline base model trained on the built-in
corpus and the project's own conversations, registered as the policy ModelVersion "tiny-llama", so
the demo can generate and train without any download (annotate's quickstart EXTRA_STEPS hook).
Building is skipped when the model directory is up to date, so later starts stay fast."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from annotate.models import Project, Prompt
from training.models import ModelKind, ModelVersion

TINY_NAME = "tiny-llama"


def project_corpus(*, project: Project) -> list[str]:
    """Each prompt with each of its responses, as a corpus document of role-prefixed lines."""
    docs = []
    for prompt in Prompt.objects.filter(project=project).prefetch_related("responses"):
        turns = "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in prompt.messages)
        docs.extend(f"{turns}\nAssistant: {r.text}" for r in prompt.responses.all())
    return docs


def tiny_model_ensure(
    *, project: Project | None = None, out_dir: Path | None = None, stdout=None
) -> ModelVersion:
    """Build (or reuse, when up to date) the tiny model and register it as a ModelVersion."""
    from training.engine.corpus import default_corpus
    from training.engine.tiny import (
        TinyModelConfig,
        build_fingerprint,
        build_tiny_model,
        is_up_to_date,
    )

    out_dir = out_dir or Path(settings.DATA_DIR) / "models" / TINY_NAME
    corpus = default_corpus() + (project_corpus(project=project) if project else [])
    config = TinyModelConfig()
    if is_up_to_date(out_dir, build_fingerprint(config, corpus)):
        if stdout:
            stdout.write(f"Tiny model up to date in {out_dir}")
    else:
        if stdout:
            stdout.write(
                f"Building the tiny offline model in {out_dir} ({len(corpus)} documents)..."
            )
        build_tiny_model(config, out_dir=out_dir, corpus=corpus)
    version, _ = ModelVersion.objects.update_or_create(
        name=TINY_NAME,
        defaults={"kind": ModelKind.POLICY, "base_model": str(out_dir.resolve())},
    )
    return version


def quickstart_training(*, project: Project, stdout) -> None:
    """Build and register the tiny model, open the project's first round with it as the policy,
    then say how to train from the admin."""
    from training.services.rounds import round_current, round_start

    version = tiny_model_ensure(project=project, stdout=stdout)
    stdout.write(f"Model version {version.name} ready: {version.base_model}")
    if round_current(project=project) is None:
        round_start(project=project, policy=version, notes="Opened by quickstart.")
    stdout.write(
        f"To train: admin > Projects > select '{project.name}' > action 'Train reward model', "
        "then 'Run DPO' (or 'Run PPO' / 'Run GRPO') with that reward model. Runs show their "
        "progress live on their page; admin > Rounds shows the versions each round produced."
    )
