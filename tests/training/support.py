"""Helpers for the training tests: a fake model, snapshots on disk, a real qcluster process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from annotate.models import DatasetSnapshot, Project
from training.models import ModelKind, ModelVersion

FAKE_ENGINE = "tests.training.fake_engine"
FAST = {
    "PS_TRAINING_POLL_INTERVAL": "0.1",
    "PS_TRAINING_HEARTBEAT_EVERY": "0.2",
    "PS_TRAINING_STOP_GRACE": "1",
}


def use_fake_engine(monkeypatch) -> None:
    """The engine child becomes tests/training/fake_engine.py; the tailer polls fast."""
    monkeypatch.setenv("PS_ENGINE_MODULE", FAKE_ENGINE)
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)


def fake_model_dir(root: Path, *, hidden_size: int = 64, **behaviour) -> Path:
    """A directory that passes for a Hugging Face model to the platform's checks; `behaviour`
    tells the fake engine what to do with it (see tests/training/fake_engine.py)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(
        json.dumps({"model_type": "llama", "hidden_size": hidden_size}), encoding="utf-8"
    )
    (root / "fake_engine.json").write_text(json.dumps(behaviour), encoding="utf-8")
    return root


def policy(path: Path, name: str = "tiny-fake", **fields) -> ModelVersion:
    fields.setdefault("kind", ModelKind.POLICY)
    return ModelVersion.objects.create(name=name, base_model=str(path), **fields)


def preference_rows(prompts: int = 6, pairs: int = 2) -> list[dict]:
    return [
        {
            "prompt": f"Question {p}?",
            "chosen": f"Thank you for asking! Answer {p}.{i}",
            "rejected": f"Go away. {p}.{i}",
        }
        for p in range(prompts)
        for i in range(pairs)
    ]


def make_snapshot(
    project: Project | None, rows: list[dict], *, kind: str = "preference", name: str = "snap"
) -> DatasetSnapshot:
    """A DatasetSnapshot row with its data.jsonl, as an export would leave it."""
    snapshot = DatasetSnapshot.objects.create(
        name=name,
        project=project,
        kind=kind,
        format="standard",
        row_count=len(rows),
        files={"jsonl": "data.jsonl"},
        content_hash="0" * 64,
        path="",
    )
    directory = Path(settings.DATA_DIR) / "snapshots" / f"{snapshot.pk}-{name}-{os.getpid()}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )
    snapshot.path = str(directory)
    snapshot.save(update_fields=["path"])
    return snapshot


def wait_for(
    predicate: Callable[[], object], *, timeout: float = 30.0, every: float = 0.1, what: str = ""
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")


def database_url() -> str:
    """The test database as a URL, for processes started by a test."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def qcluster(log_path: Path, *, workers: int = 1) -> Iterator[subprocess.Popen]:
    """`manage.py qcluster` on the test database, with the fake engine; stopped on exit."""
    env = {
        **os.environ,
        **FAST,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "PS_TEST_DATA_DIR": str(settings.DATA_DIR),
        "PS_ENGINE_MODULE": FAKE_ENGINE,
        "Q_WORKERS": str(workers),
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=str(settings.BASE_DIR),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def admin_action(client, model, action: str, ids: list[int], follow: bool = False, **form):
    """POST an admin changelist action on `model`'s objects `ids`, as the admin's form does."""
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.urls import reverse

    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(i) for i in ids], **form}
    return client.post(url, data, follow=follow)
