"""Local use: the demo, quickstart and `manage.py serve --dev`.

DEBUG follows DJANGO_DEBUG (on unless it is 0). `manage.py serve` and quickstart run the
production server with DJANGO_DEBUG=0, so a crash never shows a debug page with settings; only
`--dev` (Django's development server, loopback only) turns it on.
"""

import os

from .base import *  # noqa: F401,F403
from .base import ALLOWED_HOSTS as _DEFAULT_HOSTS
from .base import DATA_DIR

DEBUG = os.environ.get("DJANGO_DEBUG", "1") != "0"
# Any host only while debugging on loopback; otherwise ALLOWED_HOSTS (default localhost).
ALLOWED_HOSTS = ["*"] if DEBUG else _DEFAULT_HOSTS
DATA_DIR.mkdir(parents=True, exist_ok=True)
# Static files come from the apps through whitenoise's finders: nothing to collect.
STATIC_ROOT = None
