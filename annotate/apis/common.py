"""What every API view shares: error shape, pagination, schema helpers."""

from __future__ import annotations

from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Model, QuerySet
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError as DrfValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.errors import ValidationError
from annotate.services.text_checks import field_problem

# The widest id any table has (BigAutoField): a larger one can name nothing, and PostgreSQL
# refuses it in a query ("bigint out of range") instead of finding nothing.
MAX_ID = BaseDatabaseOperations.integer_field_ranges["BigIntegerField"][1]


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


def _plain(data) -> dict:
    """A QueryDict as {name: value or [values]}, without uploaded files (their importer reads
    those); JSON as it is."""
    if not hasattr(data, "getlist"):
        return data if isinstance(data, dict) else {"": data}
    values = {key: [v for v in data.getlist(key) if isinstance(v, str)] for key in data}
    return {key: vals[0] if len(vals) == 1 else vals for key, vals in values.items()}


def check_storable_input(request) -> None:
    """A 400 naming the field for any string of the query or the body the database cannot
    store or match (a lone surrogate, NUL) or JSON nested too deeply, before any serializer,
    filter, service or error message (which may echo it and fail to encode) sees it.
    annotate.services.text_checks says why."""
    found = field_problem(_plain(request.query_params))
    if found is None and request.method in ("POST", "PUT", "PATCH"):
        found = field_problem(_plain(request.data))
    if found:
        field, problem = found
        raise DrfValidationError({field or "non_field_errors": problem})


class ApiSchema(AutoSchema):
    """drf-spectacular's schema plus the errors every view may answer, in the error shape
    config.api_errors gives them: 401/403 (authentication, permission), 404 (an id that names
    nothing, a page past the end), 400 (a body, a query parameter, NUL in any query string). Clients and schemathesis then know
    every status code the API sends."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        # 400: any query string may hold NUL (check_storable_input); 404: an id names nothing.
        codes = ["400", "401", "403", "404"]
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    ErrorSerializer, code, None, direction
                )
        return responses


class ApiErrors:
    """How every API view fails: every error has the same shape, {"field": ..., "detail": ...}.

    Service ValidationErrors carry their field; serializer errors keep their full detail too,
    under "errors", for clients that show every bad field at once. Anything else unexpected is
    a JSON 500 (config.api_errors), never Django's HTML error page. Text the database cannot
    store is refused before any of the view runs (check_storable_input).
    """

    schema = ApiSchema()

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        check_storable_input(request)

    def get_exception_handler(self):
        from config.api_errors import exception_handler

        return exception_handler

    def handle_exception(self, exc):
        if isinstance(exc, ValidationError):
            return Response({"field": exc.field, "detail": exc.message}, status=400)
        if isinstance(exc, DrfValidationError):
            field, message = _first_message(exc.detail)
            return Response({"field": field, "detail": message, "errors": exc.detail}, status=400)
        return super().handle_exception(exc)


class Api(ApiErrors, APIView):
    """Base view of the API: its errors as ApiErrors says, pagination."""

    def paginate(self, queryset: QuerySet, serializer_class, **context) -> Response:
        paginator = Pagination()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        data = serializer_class(page, many=True, context={"request": self.request, **context}).data
        return paginator.get_paginated_response(data)


def int_param(request, name: str) -> int | None:
    """An optional id from the query string; anything but a number from 1 to MAX_ID (the
    widest id column) is a 400 naming the parameter."""
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_ID:
        raise serializers.ValidationError({name: f"must be a {name} id (1 to {MAX_ID})"})
    return int(value)


def id_field(**kwargs) -> serializers.IntegerField:
    """An object id in a request body: 1 to MAX_ID."""
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def column_int_field(model: type[Model], name: str, **kwargs) -> serializers.IntegerField:
    """An IntegerField bounded by the range of `model.name`'s column on every database we
    support (PostgreSQL's: smallint, integer, bigint), narrowed further by min_value/max_value."""
    column = model._meta.get_field(name)
    low, high = BaseDatabaseOperations.integer_field_ranges[column.get_internal_type()]
    kwargs["min_value"] = max(low, kwargs.get("min_value", low))
    kwargs["max_value"] = min(high, kwargs.get("max_value", high))
    return serializers.IntegerField(**kwargs)


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
