"""Serving: `manage.py serve` runs gunicorn with DEBUG off (static files by whitenoise), the
development server only on loopback, and production settings refuse weak secrets."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from annotate.serving import ServeOptions, child_environment, is_loopback, web_command

ROOT = Path(settings.BASE_DIR)
GOOD_KEY = secrets.token_urlsafe(50)


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_"))}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_development_server_binds_only_loopback():
    with pytest.raises(CommandError, match="binds only loopback addresses, not 0.0.0.0"):
        call_command("serve", "--dev", "--host", "0.0.0.0")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def test_the_production_server_is_gunicorn_with_debug_off():
    options = ServeOptions(host="127.0.0.1", port=8123, workers=3, threads=2)
    command = web_command(options)
    assert command[1:4] == ["-m", "gunicorn", "config.wsgi:application"]
    assert command[command.index("--workers") + 1] == "3"
    assert command[command.index("--worker-class") + 1] == "gthread"
    assert child_environment(options)["DJANGO_DEBUG"] == "0"
    dev = ServeOptions(dev=True)
    assert "runserver" in web_command(dev) and child_environment(dev)["DJANGO_DEBUG"] == "1"


def test_serving_a_public_address_allows_its_host_header(monkeypatch):
    monkeypatch.delenv("ALLOWED_HOSTS", raising=False)
    env = child_environment(ServeOptions(host="10.1.2.3"))
    assert env["ALLOWED_HOSTS"].split(",")[-1] == "10.1.2.3"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "DJANGO_SECRET_KEY is not set"),
        ("dev-only-insecure-key-change-me", "insecure development key"),
        ("a" * 60, "weak (60 characters, 1 distinct)"),
        ("short-key-1234", "weak (14 characters"),
    ],
)
def test_production_settings_refuse_a_missing_or_weak_secret_key(key, message):
    env = {"DJANGO_SETTINGS_MODULE": "config.settings.prod"}
    if key is not None:
        env["DJANGO_SECRET_KEY"] = key
    result = _manage("check", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_check_deploy_is_clean_with_the_documented_environment():
    result = _manage(
        "check",
        "--deploy",
        DJANGO_SETTINGS_MODULE="config.settings.prod",
        DJANGO_SECRET_KEY=GOOD_KEY,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fetch(url: str, **headers: str) -> tuple[int, str, dict]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(errors="replace"), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)


@pytest.mark.slow
def test_serve_with_production_settings_collects_and_serves_static_files(tmp_path: Path):
    """The deployment path: prod settings, migrate, then serve (gunicorn) answers pages and
    hashed, compressed static files, with no debug page on errors."""
    port = _free_port()
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.prod",
        "DJANGO_SECRET_KEY": GOOD_KEY,
        "PS_DATA_DIR": str(tmp_path / "data"),
        "PS_STATIC_ROOT": str(tmp_path / "static"),
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback: TLS is the proxy's (docs/deploy.md)
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DATABASE_URL", None)
    (tmp_path / "data").mkdir()
    assert _manage("migrate", "--noinput", **env).returncode == 0
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "Q_BROKER")}
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "serve", "--no-worker", "--port", str(port)],
            env={**clean, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        login, deadline = None, time.monotonic() + 90
        while login is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
                # As the TLS-terminating proxy of docs/deploy.md forwards it.
                login = _fetch(
                    f"http://127.0.0.1:{port}/accounts/login/", **{"X-Forwarded-Proto": "https"}
                )
        assert login is not None and login[0] == 200, log.read_text()
        assert "csrfmiddlewaretoken" in login[1]
        assert login[2].get("Strict-Transport-Security", "").startswith("max-age=")
        manifest = (tmp_path / "static" / "staticfiles.json").read_text()
        assert "admin/css/base.css" in manifest
        hashed = list((tmp_path / "static" / "admin" / "css").glob("base.*.css"))
        assert hashed, "collectstatic did not write hashed names"
        code, _, headers = _fetch(f"http://127.0.0.1:{port}/static/admin/css/{hashed[0].name}")
        assert code == 200 and "max-age=315360000" in headers.get("Cache-Control", "")
        missing = _fetch(f"http://127.0.0.1:{port}/no-such-page/")
        assert missing[0] == 404 and "Traceback" not in missing[1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Stopped the web server." in log.read_text()


@pytest.mark.parametrize(("public", "code"), [("", 401), ("1", 200)])
def test_production_api_docs_need_a_signed_in_user_unless_published(
    tmp_path: Path, public: str, code: int
):
    script = (
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('collectstatic', interactive=False, verbosity=0)\n"
        "from django.test import Client\n"
        "c = Client()\n"
        "print(c.get('/api/schema/', secure=True).status_code,"
        " c.get('/api/docs/', secure=True).status_code)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.prod",
        DJANGO_SECRET_KEY=GOOD_KEY,
        PS_PUBLIC_API_DOCS=public,
        PS_STATIC_ROOT=str(tmp_path / "static"),
        PS_DATA_DIR=str(tmp_path / "data"),
        ALLOWED_HOSTS="testserver",
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(code), str(code if code == 200 else 401)]
