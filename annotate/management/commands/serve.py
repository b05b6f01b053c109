"""`manage.py serve`: the production web server (gunicorn) and the django-q2 worker, until Ctrl-C.

The same serving as quickstart's, without the demo set-up: for a deployment, run `migrate` first,
then this (docs/deploy.md). Static files are collected first when the settings serve them with
hashed names (config.settings.prod).
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from annotate.serving import ServeOptions, serve


class Command(BaseCommand):
    help = "Serve Preference Studio with gunicorn and run the django-q2 worker beside it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to serve on")
        parser.add_argument("--port", type=int, default=8000, help="port to serve on")
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("WEB_WORKERS", "2")),
            help="web server processes (WEB_WORKERS, default 2)",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=int(os.environ.get("WEB_THREADS", "4")),
            help="threads per web server process (WEB_THREADS, default 4)",
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="web server only (run `manage.py qcluster` elsewhere)",
        )
        parser.add_argument(
            "--dev",
            action="store_true",
            help="Django's development server with DEBUG on (loopback only) instead of gunicorn",
        )

    def handle(self, *args, host, port, workers, threads, no_worker, dev, **options):
        serve_options = ServeOptions(
            host=host, port=port, workers=workers, threads=threads, dev=dev, worker=not no_worker
        )
        storage = settings.STORAGES["staticfiles"]["BACKEND"]
        if not dev and "Manifest" in storage:
            call_command("collectstatic", interactive=False, verbosity=0)
        serve(serve_options, say=self._say, banner=self._banner)

    def _banner(self, address: str) -> str:
        base = f"http://{address.replace('0.0.0.0', '127.0.0.1')}"
        return f"Preference Studio is running at {base}/ (admin: {base}/admin/). Ctrl-C stops it."

    def _say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()
