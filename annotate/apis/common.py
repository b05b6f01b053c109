"""What every API view shares: error shape, pagination, schema helpers."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.exceptions import ValidationError as DrfValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.errors import ValidationError


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def _first_message(detail) -> tuple[str | None, str]:
    """The first field and message of DRF's nested error detail, e.g. ({"a": ["x"]}) -> (a, x)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            field, message = _first_message(value)
            name = key if key != "non_field_errors" else None
            return (f"{name}.{field}" if name and field else name or field), message
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return None, str(detail)


class Api(APIView):
    """Base view: every 400 has the same shape, {"field": ..., "detail": ...}.

    Service ValidationErrors carry their field; serializer errors keep their full detail too,
    under "errors", for clients that show every bad field at once.
    """

    def handle_exception(self, exc):
        if isinstance(exc, ValidationError):
            return Response({"field": exc.field, "detail": exc.message}, status=400)
        if isinstance(exc, DrfValidationError):
            field, message = _first_message(exc.detail)
            return Response({"field": field, "detail": message, "errors": exc.detail}, status=400)
        return super().handle_exception(exc)

    def paginate(self, queryset: QuerySet, serializer_class, **context) -> Response:
        paginator = Pagination()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        data = serializer_class(page, many=True, context={"request": self.request, **context}).data
        return paginator.get_paginated_response(data)


def int_param(request, name: str) -> int | None:
    """An optional id from the query string; a non-number is a 400 naming the parameter."""
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    if not value.isdigit():
        raise serializers.ValidationError({name: f"must be a {name} id"})
    return int(value)


class ErrorSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True)
    detail = serializers.CharField()

    class Meta:
        ref_name = "Error"


_PAGES: dict[str, type] = {}


def paginated(serializer_class: type[serializers.Serializer], name: str) -> type:
    """A schema-only serializer for a page of `serializer_class`, as Pagination returns it."""
    if name in _PAGES:
        return _PAGES[name]
    meta = type("Meta", (), {"ref_name": f"Paginated{name}List"})
    _PAGES[name] = type(
        f"Paginated{name}ListSerializer",
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
            "Meta": meta,
        },
    )
    return _PAGES[name]
