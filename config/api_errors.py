"""DRF's exception handler for every API view: errors are JSON, never Django's HTML 500 page.

DRF's own handler answers its exceptions (400, 401, 403, 404, 405, 415) and gives anything else
back to Django, whose 500 page (in DEBUG its technical page) renders the request, and itself
fails when the request held text that cannot be encoded (a lone surrogate). Here that is a JSON
500 in the API's error shape, logged with its traceback as Django logs its own 500s. It is a
last line: bad input is meant to be a 400 long before it (annotate.apis.common).

annotate.apis.common.Api uses it through get_exception_handler, so views outside that base
(DRF's own) only get it once settings name it:
REST_FRAMEWORK["EXCEPTION_HANDLER"] = "config.api_errors.exception_handler".

Django's own error views (handler400/404/500 in config/urls.py) answer JSON under /api/ too: a
path no route matches there (/api/projects/-1/) is a 404 in the same shape.
"""

from __future__ import annotations

import logging

from django.http import JsonResponse
from django.views import defaults
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

logger = logging.getLogger("django.request")


def exception_handler(exc: Exception, context: dict) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is not None:
        if isinstance(response.data, dict) and "detail" in response.data:
            response.data.setdefault("field", None)  # one error shape: {"field", "detail"}
        return response
    request = context.get("request")
    path = getattr(request, "path", "?")
    logger.error("Internal Server Error: %s", path, exc_info=exc, extra={"status_code": 500})
    set_rollback()
    return Response(
        {"field": None, "detail": f"internal error ({type(exc).__name__}); it has been logged"},
        status=500,
    )


def _api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    """handler404: a URL under /api/ that names nothing (a negative or non-numeric id) is JSON
    like every other API error; elsewhere, Django's page."""
    if _api(request):
        return JsonResponse({"field": None, "detail": f"no API route {request.path}"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """handler500: JSON under /api/ (no request data echoed, so nothing can fail to encode)."""
    if _api(request):
        return JsonResponse(
            {"field": None, "detail": "internal error; it has been logged"}, status=500
        )
    return defaults.server_error(request)


def bad_request(request, exception=None):
    """handler400 (a bad Host header, a malformed multipart body): JSON under /api/."""
    if _api(request):
        return JsonResponse({"field": None, "detail": "bad request"}, status=400)
    return defaults.bad_request(request, exception)
