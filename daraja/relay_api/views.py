"""What every integration API view shares: key authentication, per-key throttling, cursor pages,
validated filters, and scoping to the merchant a key belongs to."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.urls import Resolver404, resolve, reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from daraja.relay_api.authentication import ApiClient, ApiKeyAuthentication
from daraja.relay_api.pagination import ApiCursorPagination
from daraja.relay_api.parsers import BoundedJSONParser
from daraja.relay_api.permissions import HasApiKey
from daraja.relay_api.throttling import ApiKeyRateThrottle


class ApiViewMixin:
    """Key authentication, the key's permission and the per-key throttle, set explicitly.

    Set here rather than in ``REST_FRAMEWORK`` defaults, whose session
    authentication serves the admin-side views. Bodies are JSON only
    (anything else → 415).
    """

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [BoundedJSONParser]

    @property
    def client(self) -> ApiClient:
        return self.request.user


class ApiViewSet(ApiViewMixin, GenericViewSet):
    """A resource scoped to the caller: ``tenant_field`` names the user id on the queryset.

    A merchant key's queryset holds its own user's rows alone, so another
    user's object is simply not found (404) — the same answer as an id that
    does not exist, which tells nothing about other merchants.
    """

    pagination_class = ApiCursorPagination
    filter_backends = [DjangoFilterBackend]
    tenant_field = "endpoint__user_id"

    def base_queryset(self) -> QuerySet:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet:
        queryset = self.base_queryset()
        if getattr(self, "swagger_fake_view", False) or self.client.is_operator:
            return queryset
        return queryset.filter(**{self.tenant_field: self.client.user_id})

    def get_object(self):
        try:
            return super().get_object()
        except Http404:
            # DRF would turn it into a 404 too, but with the generic code "error".
            raise exceptions.NotFound() from None


class Conflict(exceptions.APIException):
    """409: the request clashes with the object's current state (already exists, already resolved…)."""

    status_code = 409
    default_code = "conflict"
    default_detail = "Conflicts with the current state."


@contextmanager
def service_errors() -> Iterator[None]:
    """Turn a service's ``django.core.exceptions.ValidationError`` into a 400 naming the fields."""
    try:
        yield
    except DjangoValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        raise serializers.ValidationError(detail) from None


HOW_TO_GET_IN = (
    "Send an API key (Authorization: Bearer drk_…; an operator makes one with "
    "`manage.py create_api_key NAME [--user-id USER]`, under `make run`: "
    '`make manage ARGS="create_api_key NAME"`), '
    "or, in a browser, log in to the admin as a staff user: {login}"
)


def how_to_get_in(request, next_path: str) -> str:
    """What to do without credentials: an API key, or the admin login that comes back to ``next_path``."""
    login = request.build_absolute_uri(f"{reverse('admin:login')}?next={next_path}")
    return HOW_TO_GET_IN.format(login=login)


@extend_schema(exclude=True)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
@throttle_classes([])
def api_index(request):
    """``/api/`` and ``/api/v1/``: the API's entry points and its docs, so that a first look finds them.

    Open like the 404 below: it tells only what the schema publishes.
    """
    absolute = request.build_absolute_uri
    return Response(
        {
            "name": "Daraja webhook relay API",
            "version": "v1",
            "authentication": how_to_get_in(request, reverse("api-docs")),
            "resources": {
                "merchants": absolute(reverse("api-merchant-list")),
                "endpoints": absolute(reverse("api-endpoint-list")),
                "callbacks": absolute(reverse("api-callback-list")),
                "dead_letters": absolute(reverse("api-dead-letter-list")),
                "queue": absolute(reverse("api-queue")),
            },
            "resources_per_merchant": {
                "destinations": absolute(reverse("api-merchant-list")) + "{user_id}/destinations/",
            },
            "docs": {
                "swagger_ui": absolute(reverse("api-docs")),
                "openapi_schema": absolute(reverse("api-schema")),
                "guide": "docs/api.md in the relay's repository",
            },
        }
    )


@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@authentication_classes([])
@permission_classes([AllowAny])
@throttle_classes([])
def api_not_found(request, path: str = ""):
    """Anything under ``/api/`` that matches no route: a JSON 404 (Django's would be an HTML page).

    Checked before authentication on purpose: the answer is the same with
    or without a key and reveals nothing but the route table, which the
    schema publishes anyway.
    """
    detail = "No such API path."
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            detail = f"No such API path; API paths end with a slash: {request.path}/"
    raise exceptions.NotFound(detail)
