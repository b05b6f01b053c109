"""Settings shared by every environment.

Integrations switch on with environment variables, never by editing this file:
- DATABASE_URL: any dj-database-url URL (default: SQLite file var/db.sqlite3)
- Q_BROKER=redis (+ REDIS_URL): django-q2 on Redis instead of the ORM broker
- PS_DATA_DIR: where exports, snapshots and models are written (default: var/)
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(os.environ.get("PS_DATA_DIR", BASE_DIR / "var"))

DEV_SECRET_KEY = "dev-only-insecure-key-change-me"  # refused by config.settings.prod
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
DEBUG = False
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "annotate",
    "judges",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files from the production server itself (gunicorn has no static file serving).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

# Login lockout (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username from
# one address, that pair is refused with 429 for AXES_COOLOFF_MINUTES, on the annotator login,
# the admin login and POST /api/auth/token/ alike. Keyed on the pair, so nobody can lock a
# colleague out from elsewhere by guessing at their name.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.lockout.lockout_response"  # 429, JSON for the API
# Behind a proxy, the client address comes from X-Forwarded-For only when the proxy is trusted.
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
    if os.environ.get("SECURE_PROXY_SSL_HEADER") == "1"
    else ["REMOTE_ADDR"]
)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_from_env(url: str | None) -> dict:
    """One database config from a URL, tuned so concurrent raters do not trip over SQLite locks."""
    default = f"sqlite:///{DATA_DIR / 'db.sqlite3'}"
    config = dj_database_url.parse(url or default, conn_max_age=0)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of one failing
        # with "database is locked" on lock upgrade; WAL lets readers run beside the writer.
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


DATABASES = {"default": database_from_env(os.environ.get("DATABASE_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's standard validators: `password` and `12345678` are refused.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("PS_STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
# Served from the apps' static folders as they are, without collectstatic: the demo and the
# tests need no build step. Production collects them into STATIC_ROOT with hashed names instead.
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = DATA_DIR / "media"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: anonymous API callers then get 401 with WWW-Authenticate, not 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # One error shape for every API answer: {"field": ..., "detail": ...}.
    "EXCEPTION_HANDLER": "config.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Preference Studio API",
    "DESCRIPTION": "Prompts, responses, comparisons, votes, import and export of preference data.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from the installed sidecar package: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ProjectRoleEnum": "annotate.models.Role",
        "MessageRoleEnum": "annotate.models.MessageRole",
        "JudgeKindEnum": "judges.models.JudgeKind",
        "JudgeModeEnum": "judges.models.JudgeMode",
        "JudgingModeEnum": "judges.models.JudgingMode",
        "ProjectModeEnum": "annotate.models.ProjectMode",
        "RunKindEnum": "training.models.RunKind",
        "ModelKindEnum": "training.models.ModelKind",
        "SnapshotKindEnum": "annotate.models.SnapshotKind",
        "RaterKindEnum": "annotate.models.RaterKind",
        "MetricKindEnum": "training.models.RunMetric.Kind",
    },
}


def q_cluster_from_env() -> dict:
    """django-q2: ORM broker by default (no extra server); Redis when Q_BROKER=redis."""
    cluster = {
        "name": "preference-studio",
        "workers": int(os.environ.get("Q_WORKERS", "2")),
        # Training tasks hand the heavy work to a child process; the task itself may wait long.
        "timeout": 6 * 3600,
        "retry": 6 * 3600 + 600,
        "max_attempts": 1,
        "catch_up": False,
        "label": "Background jobs",
        "orm": "default",
    }
    if os.environ.get("Q_BROKER") == "redis":
        cluster.pop("orm")
        cluster["redis"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    return cluster


Q_CLUSTER = q_cluster_from_env()

# Multi-GPU training: an accelerate config file (accelerate launch --config_file ...) for runs.
ACCELERATE_CONFIG = os.environ.get("ACCELERATE_CONFIG", "")

# Import guards: a line longer than this is refused with a clear error, not parsed.
IMPORT_MAX_LINE_BYTES = int(os.environ.get("PS_IMPORT_MAX_LINE_BYTES", 2 * 1024 * 1024))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
