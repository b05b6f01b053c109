"""Token authentication for scripts: trade a username and password for a token."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response

from annotate.apis.common import ApiErrors, ErrorSerializer


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)

    class Meta:
        ref_name = "TokenRequest"


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()

    class Meta:
        ref_name = "Token"


class LockedOutSerializer(serializers.Serializer):
    detail = serializers.CharField()

    class Meta:
        ref_name = "LockedOut"


class TokenObtainApi(ApiErrors, ObtainAuthToken):
    """POST username and password; get {"token": ...} for `Authorization: Token <token>`.

    No session authentication here, so a logged-in browser needs no CSRF token to call it.
    """

    authentication_classes = ()

    def get_serializer_context(self):
        # The Django request, not DRF's wrapper: django-axes marks a locked-out request on it,
        # and its middleware answers that with 429 (config.lockout) instead of this view's 400.
        return {**super().get_serializer_context(), "request": self.request._request}

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, 400: ErrorSerializer, 429: LockedOutSerializer},
        description="429 (with Retry-After) after too many failed logins for this username "
        "from this address.",
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        token, _ = Token.objects.get_or_create(user=user)
        # A token is a login: the signal resets django-axes' failure count, as a page login
        # does, and records last_login.
        user_logged_in.send(sender=type(user), request=request._request, user=user)
        return Response({"token": token.key})
