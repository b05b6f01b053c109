"""Deployments: DEBUG off, a real secret key, HTTPS everywhere (see docs/deploy.md).

Behind a reverse proxy that terminates TLS, set SECURE_PROXY_SSL_HEADER's header there
(X-Forwarded-Proto) so Django knows the request was HTTPS. `manage.py check --deploy` passes with
the documented environment.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403
from .base import DEV_SECRET_KEY

DEBUG = False


def secret_key_from_env(value: str | None) -> str:
    """DJANGO_SECRET_KEY, refused when missing or weak (Django's own test: 50+ characters, 5+
    distinct ones, not an insecure default), so a deployment never signs sessions with a
    guessable key."""
    if not value:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set: production needs a secret key of its own, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    if value == DEV_SECRET_KEY or value.startswith("django-insecure") or "change-me" in value:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is the insecure development key")
    if len(value) < 50 or len(set(value)) < 5:
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY is weak ({len(value)} characters, {len(set(value))} distinct): "
            "use at least 50 random characters"
        )
    return value


SECRET_KEY = secret_key_from_env(os.environ.get("DJANGO_SECRET_KEY"))

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_SSL_REDIRECT = os.environ.get("SECURE_SSL_REDIRECT", "1") != "0"
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = os.environ.get("SECURE_HSTS_INCLUDE_SUBDOMAINS", "1") != "0"
SECURE_HSTS_PRELOAD = os.environ.get("SECURE_HSTS_PRELOAD", "1") != "0"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if os.environ.get("SECURE_PROXY_SSL_HEADER", "1") != "0":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

# Collected once (`manage.py serve` runs collectstatic), served compressed with hashed names.
WHITENOISE_USE_FINDERS = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# The API schema and its browsable docs describe every endpoint: signed-in users only, unless
# PS_PUBLIC_API_DOCS=1 publishes them.
if os.environ.get("PS_PUBLIC_API_DOCS") != "1":
    SPECTACULAR_SETTINGS = {
        **SPECTACULAR_SETTINGS,  # noqa: F405
        "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    }
