"""`manage.py quickstart`: migrate, create demo accounts, load the demo project, then serve it.

Serving is `manage.py serve`'s (annotate/serving.py): the django-q2 worker and the production web
server (gunicorn, DEBUG off) on 127.0.0.1; `--dev` runs Django's development server instead.
Ctrl-C or SIGTERM stops both, then waits for them.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.urls import Resolver404, resolve
from django.utils.module_loading import import_string

from annotate.models import Project, Role, Vote
from annotate.services.demo import demo_load
from annotate.services.projects import membership_set
from annotate.serving import ServeOptions, check_options, serve

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
            "--dev",
            action="store_true",
            help="Django's development server with DEBUG on (loopback only) instead of gunicorn",
        )
        parser.add_argument(
            "--reset-demo", action="store_true", help="delete the Demo project and load it afresh"
        )

    def handle(
        self, *args, no_serve: bool, host: str, port: int, dev: bool, reset_demo: bool, **options
    ):
        verbosity = options["verbosity"]
        serve_options = ServeOptions(host=host, port=port, dev=dev)
        if not no_serve:
            check_options(serve_options)  # before minutes of setup, not after
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
        self._serve(serve_options, credentials)

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

    def _serve(self, options: ServeOptions, credentials: list[tuple[str, str]]) -> None:
        serve(options, say=self._say, banner=lambda address: self._banner(address, credentials))

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
