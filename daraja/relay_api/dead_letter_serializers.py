"""What the integration API shows of dead letters and their failure analysis, and the bulk bodies."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from daraja.core.error_categories import ErrorCategory
from daraja.relay_api.callback_serializers import DeliveryWithAttemptsSerializer, blank_or
from daraja.relay_api.dead_letter_filters import DeadLetterState
from deadletter.models import DeadLetter
from delivery.errors import error_summary
from webhooks.models import KIND_CHOICES

# Most ids one bulk request may name.
MAX_BULK_IDS = 1000


class DeadLetterSerializer(serializers.ModelSerializer):
    """A delivery that gave up: why, after how many attempts, and whether someone dealt with it."""

    user_id = serializers.CharField(source="endpoint.user_id", read_only=True)
    destination = serializers.CharField(
        source="endpoint.name", read_only=True, help_text="The name of the merchant's destination."
    )
    webhook_id = serializers.CharField(source="delivery.webhook_id", read_only=True)
    kind = serializers.ChoiceField(source="callback.kind", choices=KIND_CHOICES, read_only=True)
    receipt_number = serializers.CharField(source="callback.receipt_number", read_only=True)
    checkout_request_id = serializers.CharField(source="callback.checkout_request_id", read_only=True)
    trans_id = serializers.CharField(source="callback.trans_id", read_only=True)
    amount = serializers.DecimalField(
        source="callback.amount", max_digits=16, decimal_places=2, allow_null=True, read_only=True
    )
    state = serializers.SerializerMethodField()
    resolution = blank_or(DeadLetter.Resolution.choices)
    error_summary = serializers.SerializerMethodField(
        help_text="Why it gave up, in a sentence for people (derived from `error_category`, "
        "`last_response_status` and `last_error`, which keeps the technical detail)."
    )

    class Meta:
        model = DeadLetter
        fields = [
            "id",
            "user_id",
            "destination",
            "callback_id",
            "delivery_id",
            "webhook_id",
            "kind",
            "receipt_number",
            "checkout_request_id",
            "trans_id",
            "amount",
            "error_category",
            "last_error",
            "error_summary",
            "last_response_status",
            "attempts",
            "dead_at",
            "state",
            "resolved_at",
            "resolution",
        ]
        read_only_fields = fields

    def get_error_summary(self, dead_letter: DeadLetter) -> str:
        return error_summary(
            dead_letter.error_category, dead_letter.last_response_status, dead_letter.last_error
        )

    @extend_schema_field(serializers.ChoiceField(choices=DeadLetterState.choices))
    def get_state(self, dead_letter: DeadLetter) -> str:
        return DeadLetterState.OPEN if dead_letter.is_open else DeadLetterState.RESOLVED


class DeadLetterDetailSerializer(DeadLetterSerializer):
    """A dead letter with its delivery and every attempt (all cycles)."""

    delivery = DeliveryWithAttemptsSerializer(read_only=True)

    class Meta(DeadLetterSerializer.Meta):
        fields = [*DeadLetterSerializer.Meta.fields, "delivery"]
        read_only_fields = fields


class DeadLetterCriteriaSerializer(serializers.Serializer):
    """Which open dead letters a bulk action takes: the listing's filters, at least one of them."""

    error_category = serializers.ChoiceField(choices=ErrorCategory.choices, required=False)
    user_id = serializers.CharField(max_length=64, required=False)
    kind = serializers.ChoiceField(choices=KIND_CHOICES, required=False)
    http_status = serializers.IntegerField(min_value=100, max_value=599, required=False)
    dead_after = serializers.DateTimeField(required=False, help_text="Gave up at or after (ISO 8601).")
    dead_before = serializers.DateTimeField(required=False, help_text="Gave up before (ISO 8601).")

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Name at least one criterion (or send ids instead).")
        return attrs


class DeadLetterSelectionSerializer(serializers.Serializer):
    """Exactly one of ``ids`` and ``filter``."""

    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=MAX_BULK_IDS,
        required=False,
        help_text=f"Dead-letter ids (at most {MAX_BULK_IDS}). Ids that are not open, or not yours, are "
        "skipped.",
    )
    filter = DeadLetterCriteriaSerializer(required=False, help_text="Select open dead letters by criteria.")

    def validate(self, attrs):
        if ("ids" in attrs) == ("filter" in attrs):
            raise serializers.ValidationError("Send either ids or filter (one of them).")
        return attrs


class BulkResultSerializer(serializers.Serializer):
    matched = serializers.IntegerField(help_text="Open dead letters (yours) the request selected.")
    remaining = serializers.IntegerField(
        help_text=f"Of those, how many are still open afterwards: a filter takes the oldest {MAX_BULK_IDS} "
        "per call, so repeat the call while this is above 0."
    )


class RetryResultSerializer(BulkResultSerializer):
    queued = serializers.IntegerField(help_text="Deliveries back in the queue, to be delivered again.")


class PurgeResultSerializer(BulkResultSerializer):
    purged = serializers.IntegerField(help_text="Dead letters taken out of the queue (kept as history).")


class CategoryCountSerializer(serializers.Serializer):
    error_category = serializers.CharField()
    count = serializers.IntegerField()


class UserCountSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    count = serializers.IntegerField()


class DestinationCountSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    destination = serializers.CharField(help_text="The merchant's destination (app) the letters were for.")
    count = serializers.IntegerField()


class StatusCountSerializer(serializers.Serializer):
    http_status = serializers.IntegerField(allow_null=True, help_text="null: no response (network, timeout).")
    count = serializers.IntegerField()


class FailureBreakdownSerializer(serializers.Serializer):
    """Dead letters that gave up within the window, counted four ways, largest first."""

    window_hours = serializers.IntegerField()
    total = serializers.IntegerField()
    by_error_category = CategoryCountSerializer(many=True)
    by_user = UserCountSerializer(many=True)
    by_destination = DestinationCountSerializer(many=True)
    by_http_status = StatusCountSerializer(many=True)
