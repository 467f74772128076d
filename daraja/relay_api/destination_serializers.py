"""What the integration API shows of merchants and their destinations (endpoints), and what it accepts
to create or change one.

The signing secret and the inbound token never appear in a listing or a
detail: only creation (``EndpointCreatedSerializer``) and rotation show a
secret, once. A listing shows each URL without its credentials or query
string (``[redacted]``); the detail, which the same key may change, shows
it whole.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from drf_spectacular.utils import extend_schema_field
from redis.exceptions import RedisError
from rest_framework import serializers

from daraja.core.masking import redact_url
from delivery.models import CircuitState
from delivery.priority import Priority
from delivery.selectors import in_flight
from webhooks.models import Endpoint, Merchant, user_id_validator, validate_no_forbidden_word
from webhooks.mpesa import CallbackKind
from webhooks.services import API_WRITABLE_SETTINGS

PRIORITY_NAMES = [priority.queue_name for priority in Priority]


class PriorityField(serializers.ChoiceField):
    """A priority by name (``urgent``, ``high``, ``normal``, ``low``), stored as its level."""

    def __init__(self, **kwargs):
        super().__init__(choices=PRIORITY_NAMES, **kwargs)

    def to_representation(self, value):
        return None if value is None else Priority(value).queue_name

    def to_internal_value(self, data):
        return Priority.from_name(super().to_internal_value(data))


KIND_NAMES = [kind.value for kind in CallbackKind]


class KindsField(serializers.ListField):
    """The callback kinds a destination receives, by name; an empty list means every kind."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.ChoiceField(choices=KIND_NAMES), **kwargs)

    def to_internal_value(self, data):
        kinds = super().to_internal_value(data)
        if len(set(kinds)) != len(kinds):
            raise serializers.ValidationError("Each callback kind may be listed once.")
        return kinds


class EndpointSerializer(serializers.ModelSerializer):
    """A destination as listed and read: where deliveries go, which kinds, and how hard the relay tries."""

    default_priority = PriorityField()
    kinds = KindsField(help_text="The callback kinds delivered here; empty: every kind.")
    priority_override = PriorityField(allow_null=True)
    held_deliveries = serializers.IntegerField(
        read_only=True, default=0, help_text="Deliveries waiting for a resume or for the circuit to close."
    )
    in_flight = serializers.SerializerMethodField(
        help_text="Deliveries being sent right now (null: Redis down)."
    )
    circuit_state = serializers.ChoiceField(
        choices=CircuitState.choices, source="circuit.state", read_only=True
    )
    consecutive_failures = serializers.IntegerField(source="circuit.consecutive_failures", read_only=True)

    def to_representation(self, endpoint):
        data = super().to_representation(endpoint)
        if self.context.get("redact_urls") and data.get("url"):
            data["url"] = redact_url(data["url"])
        return data

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_in_flight(self, endpoint) -> int | None:
        try:
            return in_flight(endpoint.pk)
        except RedisError:
            return None

    class Meta:
        model = Endpoint
        fields = [
            "user_id",
            "name",
            *API_WRITABLE_SETTINGS,
            "priority_override",
            "use_payment_rules",
            "high_value_threshold",
            "allow_legacy_path",
            "paused_reason",
            "circuit_state",
            "consecutive_failures",
            "held_deliveries",
            "in_flight",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EndpointUpdateSerializer(serializers.ModelSerializer):
    """The settings a PATCH may change (any subset); ``is_active: false`` pauses, ``true`` resumes."""

    default_priority = PriorityField(required=False)
    kinds = KindsField(required=False, help_text="The callback kinds delivered here; empty: every kind.")

    class Meta:
        model = Endpoint
        fields = list(API_WRITABLE_SETTINGS)  # written through webhooks.services.endpoint_create_or_update
        extra_kwargs = {name: {"required": False} for name in API_WRITABLE_SETTINGS}

    def validate_url(self, value: str) -> str:
        # URLValidator lets a port above 65535 through, and reading it later raises ValueError.
        try:
            _ = urlsplit(value).port
        except ValueError:
            raise serializers.ValidationError("The port must be a number from 1 to 65535.") from None
        return value


# Creating needs the URL; every other setting may be left out (its default).
CREATION_EXTRA_KWARGS = {**EndpointUpdateSerializer.Meta.extra_kwargs, "url": {"required": True}}


class EndpointCreateSerializer(EndpointUpdateSerializer):
    """A new endpoint: its user id (a merchant key may leave it out: its own) and URL; the rest defaults."""

    # Uniqueness is the view's business (409), so only the format validators are kept.
    user_id = serializers.CharField(
        max_length=64, required=False, validators=[user_id_validator, validate_no_forbidden_word]
    )

    class Meta(EndpointUpdateSerializer.Meta):
        fields = ["user_id", *API_WRITABLE_SETTINGS]
        extra_kwargs = CREATION_EXTRA_KWARGS


class DestinationCreateSerializer(EndpointUpdateSerializer):
    """A new destination of a merchant: its name and URL; the kinds default to every kind."""

    name = serializers.RegexField(
        r"^[a-z0-9][a-z0-9_-]{0,39}$",
        help_text="1 to 40 lower-case letters, digits, '_' or '-' (e.g. shop, erp).",
        error_messages={"invalid": "A destination name is 1 to 40 lower-case letters, digits, '_' or '-'."},
    )

    class Meta(EndpointUpdateSerializer.Meta):
        fields = ["name", *API_WRITABLE_SETTINGS]
        extra_kwargs = CREATION_EXTRA_KWARGS


class DestinationCreatedSerializer(EndpointSerializer):
    """A created destination with its signing secret: shown this once."""

    signing_secret = serializers.CharField(
        read_only=True, help_text="The whsec_ secret deliveries are signed with. Shown once: keep it."
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "signing_secret"]
        read_only_fields = fields


class EndpointCreatedSerializer(DestinationCreatedSerializer):
    """A created endpoint, with what the merchant and M-Pesa need: shown this once."""

    inbound_path = serializers.CharField(
        read_only=True, help_text="Append to the relay's address to get the callback URL to give M-Pesa."
    )

    class Meta(DestinationCreatedSerializer.Meta):
        fields = [*DestinationCreatedSerializer.Meta.fields, "inbound_path"]
        read_only_fields = fields


class MerchantSerializer(serializers.ModelSerializer):
    """A merchant: its user id and its destinations' names (never the secret part of its inbound URL)."""

    destinations = serializers.SerializerMethodField(help_text="Its destinations' names, oldest first.")
    inbound_url_changed_at = serializers.DateTimeField(
        source="inbound_token_rotated_at",
        read_only=True,
        allow_null=True,
        help_text="When the inbound URL's secret part was last changed (null: never since creation).",
    )

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_destinations(self, merchant) -> list[str]:
        return [destination.name for destination in merchant.destinations.all()]

    class Meta:
        model = Merchant
        fields = ["user_id", "allow_legacy_path", "destinations", "inbound_url_changed_at", "created_at"]
        read_only_fields = fields


class SigningSecretSerializer(serializers.Serializer):
    signing_secret = serializers.CharField(
        read_only=True, help_text="The new whsec_ secret deliveries are signed with from now on. Shown once."
    )
