"""The demo, set up in a temporary data directory and served by the production server, for the
scripts that drive it in a browser (bench/browser.py, docs/screenshots/make.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_served(base: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(base + "/accounts/login/", timeout=5).read()
            return
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit(f"the server did not start; see {log}")
        time.sleep(0.3)


@contextlib.contextmanager
def demo_served(*, setup: tuple[str, ...] = ()) -> Iterator[str]:
    """Yield the base URL of the demo (quickstart --no-serve, then each `setup` Python script run
    with Django set up) served by `manage.py serve --no-worker`; remove everything afterwards."""
    data = Path(tempfile.mkdtemp(prefix="ps-demo-served-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "Q_BROKER")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.dev", PS_DATA_DIR=str(data))
    manage = [sys.executable, str(ROOT / "manage.py")]
    quiet = {"env": env, "check": True, "stdout": subprocess.DEVNULL, "cwd": ROOT}
    server = None
    try:
        subprocess.run([*manage, "quickstart", "--no-serve", "--skip-model"], **quiet)
        for script in setup:
            subprocess.run(
                [sys.executable, "-c", "import django\ndjango.setup()\n" + script], **quiet
            )
        port = free_port()
        log = data / "serve.log"
        with open(log, "wb") as out:
            server = subprocess.Popen(
                [*manage, "serve", "--no-worker", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        base = f"http://127.0.0.1:{port}"
        wait_until_served(base, server, log)
        yield base
    finally:
        if server is not None:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=20)
        shutil.rmtree(data, ignore_errors=True)
