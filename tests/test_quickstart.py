"""`manage.py quickstart`: a fresh install gets accounts, the demo project and a running server."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from annotate.models import (
    Assignment,
    Comparison,
    Membership,
    Project,
    Prompt,
    Rater,
    Response,
    Role,
    Vote,
)

pytestmark = pytest.mark.django_db


def _quickstart(*args: str) -> str:
    out = StringIO()
    call_command("quickstart", "--no-serve", "--skip-model", *args, stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    models = (Project, Prompt, Response, Comparison, Vote, Rater, Membership, Assignment)
    counts = {m.__name__: m.objects.count() for m in models}
    counts["User"] = get_user_model().objects.count()
    return counts


def test_quickstart_creates_accounts_demo_project_and_demo_votes():
    output = _quickstart()

    users = get_user_model().objects
    assert users.get(username="admin").is_superuser
    assert users.get(username="alice").check_password("alice-demo")
    assert "alice-demo" in output and "DEMO ONLY" in output
    demo = Project.objects.get(slug="demo")
    assert demo.overlap == 2 and demo.mode == "pairwise"
    assert demo.criteria == ["helpful", "honest", "harmless"]
    assert demo.guidelines.startswith("# ")
    roles = dict(Membership.objects.filter(project=demo).values_list("user__username", "role"))
    assert roles["alice"] == roles["bob"] == Role.ANNOTATOR and roles["admin"] == Role.ADMIN

    prompts = list(demo.prompts.all())
    assert len(prompts) >= 40
    assert sum(1 for p in prompts if p.turn_count >= 2) >= 10
    assert any(p.messages[0]["role"] == "system" for p in prompts)
    assert all(2 <= p.responses.count() <= 4 for p in prompts)
    assert demo.comparisons.count() >= len(prompts)
    texts = " ".join(Response.objects.filter(prompt__project=demo).values_list("text", flat=True))
    assert "<script>alert(1)</script>" in texts and "javascript:" in texts

    votes = Vote.objects.filter(
        comparison__project=demo, rater__name__startswith="user:demo-rater-"
    )
    assert votes.count() >= demo.comparisons.count()
    assert {v.rater.user.username for v in votes} == {f"demo-rater-{i}" for i in (1, 2, 3)}
    assert {"a", "b", "tie", "both_bad"} <= set(votes.values_list("choice", flat=True))
    # Realistic data: the seeded raters sometimes disagree on the same comparison.
    by_comparison: dict[int, set[str]] = {}
    for comparison_id, choice in votes.values_list("comparison_id", "choice"):
        by_comparison.setdefault(comparison_id, set()).add(choice)
    assert any(len(choices) > 1 for choices in by_comparison.values())
    # The seeded votes leave the annotators' queues alone.
    assert not Assignment.objects.exists()
    assert not users.get(username="demo-rater-1").has_usable_password()


def test_quickstart_twice_adds_nothing():
    _quickstart()
    before = _counts()
    _quickstart()
    assert _counts() == before


def test_quickstart_reset_demo_reloads_the_same_demo():
    _quickstart()
    first = Project.objects.get(slug="demo")
    before = _counts()
    _quickstart("--reset-demo")
    assert Project.objects.get(slug="demo").pk != first.pk
    assert _counts() == before


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.slow
@pytest.mark.django_db(False)
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_quickstart_serves_then_stops_both_children(tmp_path: Path, stop_signal: int):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "Q_BROKER")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        PS_DATA_DIR=str(tmp_path / "data"),
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "quickstart.log"
    manage = Path(settings.BASE_DIR) / "manage.py"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(manage), "quickstart", "--skip-model", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        status, deadline = None, time.monotonic() + 180
        while status != 200 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            status = _get(f"http://127.0.0.1:{port}/admin/login/")
        output = log.read_text()
        assert status == 200, output
        assert "web server: gunicorn" in output  # the production server, not runserver
        missing = _fetch(f"http://127.0.0.1:{port}/no-such-page/")
        assert missing[0] == 404 and "Traceback" not in missing[1] and "DEBUG" not in missing[1]
        assert _fetch(f"http://127.0.0.1:{port}/static/admin/css/base.css")[0] == 200
        assert (tmp_path / "data" / "db.sqlite3").exists()
        pids = re.search(r"worker \(pid (\d+)\) and the web server \(pid (\d+)\)", output)
        assert pids, output
        children = [int(pid) for pid in pids.groups()]
        assert all(_alive(pid) for pid in children)

        proc.send_signal(stop_signal)
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not any(_alive(pid) for pid in children)
    assert _get(f"http://127.0.0.1:{port}/admin/login/") is None
    assert "Stopped the worker and the web server." in log.read_text()


def test_quickstart_refuses_debug_on_a_public_address_before_setting_up():
    with pytest.raises(CommandError, match="DEBUG on.*only loopback addresses, not 0.0.0.0"):
        call_command("quickstart", "--dev", "--host", "0.0.0.0", "--skip-model", stdout=StringIO())
    assert not Project.objects.exists()


@pytest.mark.slow
@pytest.mark.django_db
def test_quickstart_builds_and_registers_the_tiny_offline_model(settings, tmp_path):
    """The first run trains the tiny model on the built-in corpus plus the demo conversations."""
    from training.models import ModelVersion

    settings.DATA_DIR = tmp_path
    out = StringIO()
    call_command("quickstart", "--no-serve", stdout=out)
    version = ModelVersion.objects.get(name="tiny-llama")
    assert Path(version.base_model, "config.json").exists()
    assert Path(version.base_model, "tokenizer.json").exists()
    assert "Model version tiny-llama ready" in out.getvalue()
