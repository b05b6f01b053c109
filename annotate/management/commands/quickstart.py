"""`manage.py quickstart`: migrate, create demo accounts, load the demo project, then serve it.

Serving runs two children, each in a session of its own so that only this command signals them:
the django-q2 worker (`manage.py qcluster`) and the web server (`manage.py runserver
--noreload`). Ctrl-C or SIGTERM stops both, then waits for them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.urls import Resolver404, resolve
from django.utils.module_loading import import_string

from annotate.models import Project, Role, Vote
from annotate.services.demo import demo_load
from annotate.services.projects import membership_set

# Demo-only accounts: (username, password, superuser, role in the demo project).
DEMO_ACCOUNTS = (
    ("admin", "admin-demo", True, Role.ADMIN),
    ("alice", "alice-demo", False, Role.ANNOTATOR),
    ("bob", "bob-demo", False, Role.ANNOTATOR),
)

# Hook: dotted paths of callables `step(*, project: Project, stdout) -> None` run after the demo
# is loaded, in order, e.g. a training step that builds a tiny model so the demo can train.
# Import them lazily here so the web process never pays for heavy imports (torch).
EXTRA_STEPS: tuple[str, ...] = ("training.services.quickstart.quickstart_training",)

READY_TIMEOUT_S = 120
STOP_TIMEOUT_S = 20


class Command(BaseCommand):
    help = (
        "Set up Preference Studio with demo data (migrate, demo accounts, demo project) and serve "
        "it: the django-q2 worker and the web server, until Ctrl-C."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--no-serve", action="store_true", help="set up only; do not serve")
        parser.add_argument(
            "--skip-model",
            action="store_true",
            help="do not build the tiny offline model (generation and training need a model)",
        )
        parser.add_argument("--host", default="127.0.0.1", help="address to serve on")
        parser.add_argument("--port", type=int, default=8000, help="port to serve on")
        parser.add_argument(
            "--reset-demo", action="store_true", help="delete the Demo project and load it afresh"
        )

    def handle(self, *args, no_serve: bool, host: str, port: int, reset_demo: bool, **options):
        verbosity = options["verbosity"]
        self._say(f"Data directory: {settings.DATA_DIR}")
        self._migrate(verbosity)
        project = demo_load(reset=reset_demo)
        credentials = self._accounts(project)
        self._say(self._demo_summary(project))
        for path in () if options["skip_model"] else EXTRA_STEPS:
            import_string(path)(project=project, stdout=self.stdout)
        if no_serve:
            self._say(self._credentials_text(credentials))
            self._say("Set up done. Serve it: python manage.py quickstart (without --no-serve)")
            return
        self._serve(host, port, credentials)

    # --- setup ---------------------------------------------------------------------------------

    def _migrate(self, verbosity: int) -> None:
        Path(settings.DATA_DIR).mkdir(parents=True, exist_ok=True)
        db = settings.DATABASES["default"]
        if db["ENGINE"].endswith("sqlite3"):
            Path(db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        self._say("Migrating the database...")
        call_command("migrate", interactive=False, verbosity=max(0, verbosity - 1))

    def _accounts(self, project: Project) -> list[tuple[str, str]]:
        """Create the demo accounts, or reuse them as they are; (username, password note)."""
        User = get_user_model()
        shown = []
        for username, password, superuser, role in DEMO_ACCOUNTS:
            user = User.objects.filter(username=username).first()
            if user is None:
                create = User.objects.create_superuser if superuser else User.objects.create_user
                user = create(username=username, password=password)
                note = password
            elif user.check_password(password):
                note = password
            else:
                note = "(existing account: password unchanged)"
            if superuser and not user.is_superuser:
                self._say(f"Warning: the existing user {username!r} is not a superuser.")
            membership_set(project=project, user=user, role=role)
            shown.append((username, note))
        return shown

    def _demo_summary(self, project: Project) -> str:
        prompts = list(project.prompts.all())
        multi = sum(1 for p in prompts if p.turn_count >= 2)
        responses = sum(p.responses.count() for p in prompts)
        votes = Vote.objects.filter(
            comparison__project=project, rater__user__username__startswith="demo-rater-"
        ).count()
        return (
            f"Demo project {project.name!r}: {len(prompts)} prompts ({multi} multi-turn), "
            f"{responses} responses, {project.comparisons.count()} comparisons, "
            f"{votes} votes from demo raters."
        )

    @staticmethod
    def _credentials_text(credentials: list[tuple[str, str]]) -> str:
        lines = ["Demo accounts (DEMO ONLY: change these passwords before exposing the server):"]
        lines += [f"  {username:<8} {note}" for username, note in credentials]
        return "\n".join(lines)

    # --- serving -------------------------------------------------------------------------------

    def _serve(self, host: str, port: int, credentials: list[tuple[str, str]]) -> None:
        _check_port_free(host, port)
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
            "PYTHONUNBUFFERED": "1",
        }
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        web_args = ["runserver", "--noreload", address] + (["--ipv6"] if ":" in host else [])
        stop: list[int] = []
        previous = {
            sig: signal.signal(sig, lambda signum, frame: stop.append(signum))
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        children: dict[str, subprocess.Popen] = {}
        try:
            children["worker"] = _spawn([sys.executable, manage, "qcluster"], env)
            children["web server"] = _spawn([sys.executable, manage, *web_args], env)
            self._say(
                f"Started the worker (pid {children['worker'].pid}) and the web server "
                f"(pid {children['web server'].pid})."
            )
            if _wait_ready(host, port, children, stop):
                self._say(self._banner(address, credentials))
            while not stop and all(child.poll() is None for child in children.values()):
                time.sleep(0.2)
        finally:
            _stop_all(children)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if not stop:
            died = ", ".join(
                f"the {name} exited with code {child.returncode}"
                for name, child in children.items()
                if child.returncode not in (None, 0, -signal.SIGTERM)
            )
            raise CommandError(f"{died or 'a child process exited'}; see its output above")
        self._say("Stopped the worker and the web server.")

    def _banner(self, address: str, credentials: list[tuple[str, str]]) -> str:
        base = f"http://{address.replace('0.0.0.0', '127.0.0.1')}"
        lines = [
            "",
            f"Preference Studio is running at {base}/",
            f"  admin:     {base}/admin/",
        ]
        for label, path in (("API docs:", "/api/docs/"), ("schema:", "/api/schema/")):
            with contextlib.suppress(Resolver404):
                resolve(path)  # only advertise what this build serves
                lines.append(f"  {label:<10} {base}{path}")
        lines += [self._credentials_text(credentials), "Press Ctrl-C to stop.", ""]
        return "\n".join(lines)

    def _say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if quickstart itself is killed, so no server is orphaned."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    # A session of its own: a terminal's Ctrl-C reaches only quickstart, which stops the children
    # in order, and killpg can later reach the worker's own pool processes.
    return subprocess.Popen(
        args, env=env, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent
    )


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise CommandError(
                f"cannot serve on {host}:{port} ({exc.strerror}): pass another --port or --host"
            ) from exc


def _wait_ready(
    host: str, port: int, children: dict[str, subprocess.Popen], stop: list[int]
) -> bool:
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


def _stop_all(children: dict[str, subprocess.Popen]) -> None:
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
