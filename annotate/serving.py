"""Serve the platform: the web server and the django-q2 worker, supervised together.

`manage.py serve` and `manage.py quickstart` both run through `serve()`. The web server is
gunicorn with threaded workers on the WSGI app, DEBUG off, so what the demo runs is what a
deployment runs. bench/serve.py (the annotator's vote+next loop over HTTP, same run, 2 cores) put
it first at 8 clients: 48.5 votes/s, p95 311 ms, against 45.1 for gunicorn sync, 43.2 granian,
33.1 uvicorn and 34.6 runserver (p95 669 ms), and level with the best at 1 client; runs on a busy
machine reordered the candidates, so rerun it where it matters. `dev=True` runs Django's development server instead, with DEBUG on, and only on
a loopback address: a debug page shows settings to whoever can reach it.

Each child runs in a session of its own so that only this process signals it: Ctrl-C or SIGTERM
stops both, then waits for them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

READY_TIMEOUT_S = 120
STOP_TIMEOUT_S = 20


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    threads: int = 4
    dev: bool = False
    worker: bool = True  # the django-q2 cluster beside the web server


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


def address_of(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def web_command(options: ServeOptions) -> list[str]:
    """The web server's command line."""
    address = address_of(options.host, options.port)
    if options.dev:
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        ipv6 = ["--ipv6"] if ":" in options.host else []
        return [sys.executable, manage, "runserver", "--noreload", address, *ipv6]
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        address,
        "--workers",
        str(options.workers),
        "--threads",
        str(options.threads),
        "--worker-class",
        "gthread",
        # Long enough for an export or a big import page, short enough to recycle a hung worker.
        "--timeout",
        "120",
        "--graceful-timeout",
        "15",
        # One control socket per user by default: several servers on a machine would share it.
        "--no-control-socket",
        "--access-logfile",
        "-",
        "--error-logfile",
        "-",
    ]


def child_environment(options: ServeOptions) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
        "PYTHONUNBUFFERED": "1",
        # Read by config.settings.dev; production settings have DEBUG off whatever it says.
        "DJANGO_DEBUG": "1" if options.dev else "0",
    }
    if not options.dev and not os.environ.get("ALLOWED_HOSTS"):
        if options.host in ("0.0.0.0", "::"):
            env["ALLOWED_HOSTS"] = "*"
        elif options.host not in settings.ALLOWED_HOSTS:
            env["ALLOWED_HOSTS"] = ",".join([*settings.ALLOWED_HOSTS, options.host])
    return env


def check_options(options: ServeOptions) -> None:
    if options.dev and not is_loopback(options.host):
        raise CommandError(
            f"--dev serves with DEBUG on, which shows settings on every error page: it binds "
            f"only loopback addresses, not {options.host}. Drop --dev to serve {options.host} "
            "with the production server."
        )
    if options.workers < 1 or options.threads < 1:
        raise CommandError("--workers and --threads must be at least 1")
    check_port_free(options.host, options.port)


def serve(options: ServeOptions, *, say: Callable[[str], None], banner: Callable[[str], str]):
    """Run the web server (and the worker) until SIGINT/SIGTERM or until a child exits."""
    check_options(options)
    env = child_environment(options)
    manage = str(Path(settings.BASE_DIR) / "manage.py")
    stop: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, frame: stop.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    children: dict[str, subprocess.Popen] = {}
    try:
        if options.worker:
            children["worker"] = spawn([sys.executable, manage, "qcluster"], env)
        children["web server"] = spawn(web_command(options), env)
        server = "Django's development server" if options.dev else "gunicorn"
        pids = " and ".join(f"the {name} (pid {child.pid})" for name, child in children.items())
        say(f"Started {pids}; web server: {server}.")
        if wait_ready(options.host, options.port, children, stop):
            say(banner(address_of(options.host, options.port)))
        while not stop and all(child.poll() is None for child in children.values()):
            time.sleep(0.2)
    finally:
        stop_all(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not stop:
        died = ", ".join(
            f"the {name} exited with code {child.returncode}"
            for name, child in children.items()
            if child.returncode not in (None, 0, -signal.SIGTERM)
        )
        raise CommandError(f"{died or 'a child process exited'}; see its output above")
    say("Stopped " + " and ".join(f"the {name}" for name in children) + ".")


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if its parent is killed, so no server is orphaned."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    # A session of its own: a terminal's Ctrl-C reaches only this process, which stops the
    # children in order, and killpg can later reach the worker's own pool processes.
    return subprocess.Popen(
        args, env=env, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent
    )


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise CommandError(
                f"cannot serve on {host}:{port} ({exc.strerror}): pass another --port or --host"
            ) from exc


def wait_ready(host: str, port: int, children: dict[str, subprocess.Popen], stop: list[int]):
    """True once the web server accepts connections; False if stopped or a child exited."""
    target = "127.0.0.1" if host == "0.0.0.0" else "::1" if host == "::" else host
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if stop or any(child.poll() is not None for child in children.values()):
            return False
        with contextlib.suppress(OSError), socket.create_connection((target, port), timeout=1):
            return True
        time.sleep(0.2)
    raise CommandError(f"the web server did not answer on {host}:{port} within {READY_TIMEOUT_S} s")


def stop_all(children: dict[str, subprocess.Popen]) -> None:
    """SIGTERM each child, wait, then kill what is left of each child's own process group."""
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in children.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
    for child in children.values():
        # The group is the child's own session (start_new_session): its pool, nothing else.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
