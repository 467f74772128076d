"""``/api/v1/endpoints/``: users' endpoints — list, create, read, change, pause, resume, rotate the secret.

Thin views: serializers validate, ``webhooks.services`` writes. A merchant
key sees and changes its own user's endpoint alone.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from daraja.api.schema import error_response
from daraja.api.views import ApiViewSet, Conflict, service_errors
from delivery.selectors import endpoints_with_held_counts
from webhooks.filters import EndpointFilter
from webhooks.models import Endpoint
from webhooks.serializers import (
    EndpointCreatedSerializer,
    EndpointCreateSerializer,
    EndpointSerializer,
    EndpointUpdateSerializer,
    SigningSecretSerializer,
)
from webhooks.services import endpoint_create_or_update, endpoint_rotate_secret, endpoint_set_active


@extend_schema_view(
    list=extend_schema(
        summary="List endpoints",
        description="Ordered by user id. Each `url` is shown without its credentials or query string "
        "(`https://[redacted]@host/path?[redacted]`); read the endpoint for the whole URL.",
    ),
    retrieve=extend_schema(summary="Read an endpoint"),
)
class EndpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Users' endpoints: where each user's callbacks are delivered, and the retry settings."""

    serializer_class = EndpointSerializer
    filterset_class = EndpointFilter
    lookup_field = "user_id"
    lookup_value_regex = r"[A-Za-z0-9_-]{1,64}"
    tenant_field = "user_id"
    cursor_ordering = "user_id"

    def base_queryset(self):
        return endpoints_with_held_counts(Endpoint.objects.all())

    def get_serializer_context(self):
        # A listing shows URLs without credentials or query; the detail (the page a change is made
        # from) shows them whole.
        return {**super().get_serializer_context(), "redact_urls": self.action == "list"}

    @extend_schema(
        summary="Create an endpoint",
        description="Returns the signing secret and the inbound path: the only time they are shown. "
        "A merchant key creates its own user's endpoint (user_id may be left out).",
        request=EndpointCreateSerializer,
        responses={
            201: EndpointCreatedSerializer,
            403: error_response("A merchant key asked for another user's endpoint."),
            409: error_response("This user already has an endpoint; PATCH it instead."),
        },
    )
    def create(self, request):
        serializer = EndpointCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        user_id = fields.pop("user_id", None) or self.client.user_id
        if user_id is None:
            raise ValidationError({"user_id": ["This field is required with an operator key."]})
        if not self.client.is_operator and user_id != self.client.user_id:
            raise PermissionDenied("A merchant key can create its own user's endpoint only.")
        if Endpoint.objects.filter(user_id=user_id).exists():
            raise Conflict("This user already has an endpoint; PATCH it instead.")
        with service_errors():
            endpoint, _ = endpoint_create_or_update(user_id=user_id, **fields)
        return Response(EndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change an endpoint's settings",
        description="Any subset of the URL, retry settings and `max_in_flight`. `is_active: false` pauses "
        "(callbacks are kept, deliveries wait); `true` resumes and queues what waited.",
        request=EndpointUpdateSerializer,
        responses={200: EndpointSerializer},
    )
    def partial_update(self, request, user_id: str):
        endpoint = self.get_object()
        serializer = EndpointUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        with service_errors():
            endpoint, _ = endpoint_create_or_update(user_id=endpoint.user_id, **serializer.validated_data)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(summary="Pause deliveries", request=None, responses={200: EndpointSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request, user_id: str):
        """Callbacks keep being received and kept; their deliveries wait until the endpoint resumes."""
        endpoint = self.get_object()
        endpoint_set_active(endpoint=endpoint, active=False)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(summary="Resume deliveries", request=None, responses={200: EndpointSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, user_id: str):
        """Deliveries that waited while the endpoint was paused are queued at once."""
        endpoint = self.get_object()
        endpoint_set_active(endpoint=endpoint, active=True)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Rotate the signing secret", request=None, responses={200: SigningSecretSerializer}
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, user_id: str):
        """A new signing secret, returned this once; deliveries from now on are signed with it.

        How long the old secret keeps signing alongside is the service's rule
        (``webhooks.services.endpoint_rotate_secret``).
        """
        endpoint = self.get_object()
        return Response({"signing_secret": endpoint_rotate_secret(endpoint=endpoint)})
