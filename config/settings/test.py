import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F401,F403
from .base import DATABASES

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATA_DIR = Path(os.environ.get("PS_TEST_DATA_DIR", tempfile.mkdtemp(prefix="ps-test-")))
MEDIA_ROOT = DATA_DIR / "media"
STATIC_ROOT = None  # whitenoise serves the apps' static folders through the finders

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so a live server's threads share the test database for real.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
