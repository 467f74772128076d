"""The merchants and their destinations.

* ``/api/v1/merchants/``: merchants, read only (a merchant is made with its first destination).
* ``/api/v1/merchants/<user_id>/destinations/``: a merchant's destinations — list, create, read,
  change, delete (never used ones), pause, resume, rotate the secret.
* ``/api/v1/endpoints/``: the single-destination view kept for existing integrations — each merchant's
  first destination, by user id (deprecated; docs/api.md).

Thin views: serializers validate, ``webhooks.services`` writes. A merchant
key sees and changes its own merchant alone.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import OuterRef, Prefetch, Subquery
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from daraja.relay_api.destination_filters import EndpointFilter
from daraja.relay_api.destination_serializers import (
    DestinationCreatedSerializer,
    DestinationCreateSerializer,
    EndpointCreatedSerializer,
    EndpointCreateSerializer,
    EndpointSerializer,
    EndpointUpdateSerializer,
    MerchantSerializer,
    SigningSecretSerializer,
)
from daraja.relay_api.schema import openapi_error_response
from daraja.relay_api.views import ApiViewSet, Conflict, service_errors
from delivery.selectors import endpoints_with_held_counts
from webhooks.models import Endpoint, Merchant
from webhooks.services import (
    destination_delete,
    endpoint_create_or_update,
    endpoint_rotate_secret,
    endpoint_set_active,
)

USER_ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"


class DestinationActions:
    """Change, pause, resume and rotate the secret of the view's object (a destination); listings
    without URL secrets."""

    def get_serializer_context(self):
        # A listing shows URLs without credentials or query; the detail (the page a change is made
        # from) shows them whole.
        return {**super().get_serializer_context(), "redact_urls": self.action == "list"}

    @extend_schema(request=EndpointUpdateSerializer, responses={200: EndpointSerializer})
    def partial_update(self, request, **kwargs):
        endpoint = self.get_object()
        serializer = EndpointUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        with service_errors():
            endpoint, _ = endpoint_create_or_update(
                user_id=endpoint.user_id, destination=endpoint.name, **serializer.validated_data
            )
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(summary="Pause deliveries", request=None, responses={200: EndpointSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request, **kwargs):
        """Callbacks keep being received and kept; their deliveries wait until the destination resumes."""
        endpoint = self.get_object()
        endpoint_set_active(endpoint=endpoint, active=False)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(summary="Resume deliveries", request=None, responses={200: EndpointSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, **kwargs):
        """Deliveries that waited while the destination was paused are queued at once."""
        endpoint = self.get_object()
        endpoint_set_active(endpoint=endpoint, active=True)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Rotate the signing secret", request=None, responses={200: SigningSecretSerializer}
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, **kwargs):
        """A new signing secret, returned this once; deliveries from now on are signed with it.

        How long the old secret keeps signing alongside is the service's rule
        (``webhooks.services.endpoint_rotate_secret``).
        """
        endpoint = self.get_object()
        return Response({"signing_secret": endpoint_rotate_secret(endpoint=endpoint)})


def first_destinations():
    """Each merchant's first destination (what the single-endpoint resource shows)."""
    first = Endpoint.objects.filter(merchant_id=OuterRef("merchant_id")).order_by("pk").values("pk")[:1]
    return Endpoint.objects.filter(pk=Subquery(first))


@extend_schema_view(
    list=extend_schema(summary="List merchants", description="Ordered by user id."),
    retrieve=extend_schema(summary="Read a merchant"),
)
class MerchantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Merchants: one inbound door each, and the names of its destinations."""

    serializer_class = MerchantSerializer
    lookup_field = "user_id"
    lookup_value_regex = USER_ID_PATTERN
    tenant_field = "user_id"
    cursor_ordering = "user_id"

    def base_queryset(self):
        return Merchant.objects.prefetch_related(
            Prefetch(
                "destinations", queryset=Endpoint.objects.order_by("pk").only("pk", "name", "merchant_id")
            )
        )


@extend_schema_view(
    list=extend_schema(summary="List a merchant's destinations", description="Oldest first."),
    retrieve=extend_schema(summary="Read a destination"),
    partial_update=extend_schema(
        summary="Change a destination's settings",
        description="Any subset of the URL, kinds, retry settings and `max_in_flight`. `is_active: false` "
        "pauses (callbacks are kept, deliveries wait); `true` resumes and queues what waited.",
    ),
)
class DestinationViewSet(DestinationActions, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """A merchant's destinations: each app that receives the callback kinds it subscribes to."""

    serializer_class = EndpointSerializer
    filterset_class = EndpointFilter
    lookup_field = "name"
    lookup_value_regex = r"[a-z0-9][a-z0-9_-]{0,39}"
    tenant_field = "user_id"
    cursor_ordering = "id"

    def base_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no URL to read
            return Endpoint.objects.none()
        return endpoints_with_held_counts(Endpoint.objects.filter(user_id=self.kwargs["user_id"]))

    def _merchant(self) -> Merchant:
        user_id = self.kwargs["user_id"]
        if not self.client.is_operator and user_id != self.client.user_id:
            raise NotFound()
        merchant = Merchant.objects.filter(user_id=user_id).first()
        if merchant is None:
            raise NotFound(f"No merchant has user id {user_id!r}.")
        return merchant

    def list(self, request, *args, **kwargs):
        self._merchant()  # an unknown merchant is a 404, not an empty list
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Add a destination",
        description="Returns the destination's signing secret: the only time it is shown.",
        request=DestinationCreateSerializer,
        responses={
            201: DestinationCreatedSerializer,
            409: openapi_error_response("The merchant has one by that name."),
        },
    )
    def create(self, request, user_id: str):
        merchant = self._merchant()
        serializer = DestinationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        name = fields.pop("name")
        if merchant.destinations.filter(name=name).exists():
            raise Conflict(f"{user_id} already has a destination named {name!r}; PATCH it instead.")
        with service_errors():
            endpoint, _ = endpoint_create_or_update(user_id=user_id, destination=name, **fields)
        return Response(DestinationCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Remove a destination",
        description="Only a destination that never had a delivery; one with history is paused instead.",
        responses={
            204: None,
            409: openapi_error_response("The destination has deliveries: pause it instead."),
        },
    )
    def destroy(self, request, user_id: str, name: str):
        endpoint = self.get_object()
        try:
            destination_delete(endpoint=endpoint)
        except DjangoValidationError as exc:
            raise Conflict(" ".join(exc.messages)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(
        summary="List endpoints",
        description="Ordered by user id. Each `url` is shown without its credentials or query string "
        "(`https://[redacted]@host/path?[redacted]`); read the endpoint for the whole URL.",
    ),
    retrieve=extend_schema(summary="Read an endpoint"),
    partial_update=extend_schema(
        summary="Change an endpoint's settings",
        description="Any subset of the URL, retry settings and `max_in_flight`. `is_active: false` pauses "
        "(callbacks are kept, deliveries wait); `true` resumes and queues what waited.",
    ),
)
class EndpointViewSet(DestinationActions, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Each merchant's first destination, by user id: the resource from before merchants had several
    (deprecated: use ``/merchants/<user_id>/destinations/``)."""

    serializer_class = EndpointSerializer
    filterset_class = EndpointFilter
    lookup_field = "user_id"
    lookup_value_regex = USER_ID_PATTERN
    tenant_field = "user_id"
    cursor_ordering = "user_id"

    def base_queryset(self):
        return endpoints_with_held_counts(first_destinations())

    @extend_schema(
        summary="Create an endpoint",
        description="Returns the signing secret and the inbound path: the only time they are shown. "
        "A merchant key creates its own user's endpoint (user_id may be left out).",
        request=EndpointCreateSerializer,
        responses={
            201: EndpointCreatedSerializer,
            403: openapi_error_response("A merchant key asked for another user's endpoint."),
            409: openapi_error_response("This user already has an endpoint; PATCH it instead."),
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
        if Merchant.objects.filter(user_id=user_id).exists():
            raise Conflict("This user already has an endpoint; PATCH it instead.")
        with service_errors():
            endpoint, _ = endpoint_create_or_update(user_id=user_id, **fields)
        return Response(EndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)
