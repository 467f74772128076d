"""What the integration API shows of callbacks, their delivery and every attempt."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from daraja.core.error_categories import ErrorCategory
from daraja.relay_api.destination_serializers import PriorityField
from delivery.errors import error_summary
from delivery.models import Delivery, DeliveryAttempt
from webhooks.models import Callback, ValidationExchange

DELIVERY_STATUS_CHOICES = Delivery.Status.choices


def blank_or(choices) -> serializers.ChoiceField:
    """A read-only choice that may also be blank ("" when there was no error)."""
    return serializers.ChoiceField(choices=choices, allow_blank=True, read_only=True)


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    """One POST to the user's app: when, how long, what came back, and what happened next."""

    error_category = blank_or(ErrorCategory.choices)
    error_summary = serializers.SerializerMethodField(
        help_text="Why it failed, in a sentence for people (derived from the category, status and "
        "message); empty when it was delivered. `error_message` keeps the technical detail."
    )

    class Meta:
        model = DeliveryAttempt
        fields = [
            "attempt_number",
            "cycle",
            "started_at",
            "duration_ms",
            "response_status",
            "response_excerpt",
            "error_category",
            "error_message",
            "error_summary",
            "outcome",
            "next_attempt_at",
        ]
        read_only_fields = fields

    def get_error_summary(self, attempt: DeliveryAttempt) -> str:
        return error_summary(attempt.error_category, attempt.response_status, attempt.error_message)


class DeliverySerializer(serializers.ModelSerializer):
    """A delivery's overall state (``webhook_id`` is the ``webhook-id`` header, the same on every retry)."""

    priority = PriorityField()
    last_error_category = blank_or(ErrorCategory.choices)
    destination = serializers.CharField(
        source="endpoint.name", read_only=True, help_text="The name of the merchant's destination it goes to."
    )

    class Meta:
        model = Delivery
        fields = [
            "id",
            "destination",
            "webhook_id",
            "status",
            "priority",
            "priority_reason",
            "attempt_count",
            "cycle",
            "cycle_attempt_count",
            "next_attempt_at",
            "last_error_category",
            "last_response_status",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


class DeliveryWithAttemptsSerializer(DeliverySerializer):
    attempts = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "attempts"]
        read_only_fields = fields


class ValidationExchangeSerializer(serializers.ModelSerializer):
    """A C2B validation: what the destination's validation URL answered, and what M-Pesa was answered."""

    destination = serializers.CharField(
        source="destination.name", read_only=True, help_text="The destination whose validation URL was asked."
    )
    error_category = blank_or(ErrorCategory.choices)
    error_summary = serializers.CharField(
        read_only=True,
        help_text="Why the fallback answered, in a sentence for people; empty when the merchant answered.",
    )

    class Meta:
        model = ValidationExchange
        fields = [
            "destination",
            "webhook_id",
            "sent_at",
            "duration_ms",
            "response_status",
            "response_excerpt",
            "outcome",
            "answer_code",
            "error_category",
            "error_message",
            "error_summary",
        ]
        read_only_fields = fields


CALLBACK_FIELDS = [
    "id",
    "user_id",
    "kind",
    "received_at",
    "result_code",
    "result_description",
    "is_success",
    "amount",
    "receipt_number",
    "checkout_request_id",
    "merchant_request_id",
    "trans_id",
    "conversation_id",
    "originator_conversation_id",
    "transaction_time",
    "account_reference",
    "phone_number_masked",
    "duplicate_count",
]


def first_delivery(callback: Callback) -> Delivery | None:
    """The callback's first delivery (``deliveries`` is prefetched by the views, in id order)."""
    deliveries = list(callback.deliveries.all())
    return deliveries[0] if deliveries else None


class CallbackSerializer(serializers.ModelSerializer):
    """A callback as listed: what M-Pesa said (read from the payload) and where its deliveries stand.

    ``deliveries`` has one delivery per destination that receives the
    callback's kind (empty when none does, and for a C2B validation answered
    by a validation URL: ``validation`` shows that exchange). ``delivery`` is the first of
    them, kept for integrations written when a merchant had one destination
    (deprecated: docs/api.md).
    """

    user_id = serializers.CharField(source="merchant.user_id", read_only=True)
    deliveries = DeliverySerializer(many=True, read_only=True)
    delivery = serializers.SerializerMethodField(help_text="Deprecated: the first of `deliveries`.")
    validation = ValidationExchangeSerializer(
        source="validation_exchange",
        read_only=True,
        allow_null=True,
        help_text="For a C2B validation sent to a validation URL: that exchange (it is no delivery); "
        "otherwise null.",
    )

    class Meta:
        model = Callback
        fields = [*CALLBACK_FIELDS, "deliveries", "delivery", "validation"]
        read_only_fields = fields

    @extend_schema_field(DeliverySerializer(allow_null=True))
    def get_delivery(self, callback: Callback):
        delivery = first_delivery(callback)
        return None if delivery is None else DeliverySerializer(delivery).data


class CallbackDetailSerializer(CallbackSerializer):
    """A callback with its payload as received and its deliveries with every attempt."""

    deliveries = DeliveryWithAttemptsSerializer(many=True, read_only=True)
    delivery = serializers.SerializerMethodField(help_text="Deprecated: the first of `deliveries`.")

    class Meta(CallbackSerializer.Meta):
        fields = [*CALLBACK_FIELDS, "payload", "deliveries", "delivery", "validation"]
        read_only_fields = fields

    @extend_schema_field(DeliveryWithAttemptsSerializer(allow_null=True))
    def get_delivery(self, callback: Callback):
        delivery = first_delivery(callback)
        return None if delivery is None else DeliveryWithAttemptsSerializer(delivery).data


class QueuedSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="How many deliveries were queued.")
