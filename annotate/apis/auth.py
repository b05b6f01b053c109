"""Token authentication for scripts: trade a username and password for a token."""

from __future__ import annotations

from rest_framework.authtoken.views import ObtainAuthToken


class TokenObtainApi(ObtainAuthToken):
    """POST username and password; get {"token": ...} for `Authorization: Token <token>`.

    No session authentication here, so a logged-in browser needs no CSRF token to call it.
    """

    authentication_classes = ()
