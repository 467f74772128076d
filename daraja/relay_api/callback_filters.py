"""Filters for the callback listing: delivery state, priority, kind, user, time, and payment ids."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef

from daraja.relay_api.filters import DateTimeFilter
from delivery.models import Delivery
from delivery.priority import Priority
from webhooks.models import KIND_CHOICES, Callback
from webhooks.selectors import callbacks_matching


def _with_delivery(queryset, **delivery_lookup):
    # EXISTS rather than a join: a callback appears once whatever its deliveries.
    return queryset.filter(Exists(Delivery.objects.filter(callback=OuterRef("pk"), **delivery_lookup)))


class CallbackFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=Delivery.Status.choices, method="filter_status", help_text="The state of its delivery."
    )
    priority = django_filters.ChoiceFilter(
        choices=[(p.queue_name, p.label) for p in Priority],
        method="filter_priority",
        help_text="The priority of its delivery.",
    )
    kind = django_filters.ChoiceFilter(choices=KIND_CHOICES)
    user_id = django_filters.CharFilter(field_name="merchant__user_id", max_length=64)
    received_after = DateTimeFilter(
        field_name="received_at", lookup_expr="gte", help_text="Received at or after (ISO 8601)."
    )
    received_before = DateTimeFilter(
        field_name="received_at", lookup_expr="lt", help_text="Received before (ISO 8601)."
    )
    q = django_filters.CharFilter(
        method="filter_search",
        max_length=128,
        help_text="A payment id, matched exactly against the receipt number (MpesaReceiptNumber, any case), "
        "CheckoutRequestID, MerchantRequestID, TransID, ConversationID and OriginatorConversationID; "
        "3 or 4 digits also match the end of the (masked) phone number.",
    )
    receipt_number = django_filters.CharFilter(max_length=64, help_text="MpesaReceiptNumber.")
    checkout_request_id = django_filters.CharFilter(max_length=128, help_text="CheckoutRequestID (STK).")
    trans_id = django_filters.CharFilter(max_length=64, help_text="TransID (C2B).")
    conversation_id = django_filters.CharFilter(max_length=128, help_text="ConversationID (B2C, B2B…).")

    class Meta:
        model = Callback
        fields = []

    def filter_status(self, queryset, name, value):
        return _with_delivery(queryset, status=value)

    def filter_priority(self, queryset, name, value):
        return _with_delivery(queryset, priority=Priority.from_name(value))

    def filter_search(self, queryset, name, value):
        return queryset.filter(pk__in=callbacks_matching(value).order_by().values("pk"))
