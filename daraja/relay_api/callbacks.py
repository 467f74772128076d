"""``/api/v1/callbacks/``: find a payment's callback, see its delivery and every attempt, retry it now.

Callbacks live in the webhooks app, but what an integrator asks of them here
is about delivery (its state, its attempts, "retry now"), hence this module.
"""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.response import Response

from daraja.relay_api.callback_filters import CallbackFilter
from daraja.relay_api.callback_serializers import (
    CallbackDetailSerializer,
    CallbackSerializer,
    QueuedSerializer,
)
from daraja.relay_api.views import ApiViewSet
from delivery.models import Delivery
from delivery.services import deliveries_retry_now
from webhooks.models import Callback

DELIVERY_EXAMPLE = {
    "id": 812,
    "webhook_id": "msg_5f0c2a9be1d84f3aa1f0b7c1f3e9d2a4",
    "status": "retrying",
    "priority": "high",
    "priority_reason": "high_value",
    "attempt_count": 2,
    "cycle": 1,
    "cycle_attempt_count": 2,
    "next_attempt_at": "2025-03-14T09:26:57Z",
    "last_error_category": "server_error",
    "last_response_status": 503,
    "delivered_at": None,
    "created_at": "2025-03-14T09:26:51Z",
}
CALLBACK_EXAMPLE = {
    "id": 4711,
    "user_id": "shop42",
    "kind": "stk_callback",
    "received_at": "2025-03-14T09:26:51Z",
    "result_code": "0",
    "result_description": "The service request is processed successfully.",
    "is_success": True,
    "amount": "150000.00",
    "receipt_number": "NLJ7RT61SV",
    "checkout_request_id": "ws_CO_191220191020363925",
    "merchant_request_id": "29115-34620561-1",
    "trans_id": "",
    "conversation_id": "",
    "originator_conversation_id": "",
    "transaction_time": "2025-03-14T09:26:50Z",
    "account_reference": "",
    "phone_number_masked": "2547****149",
    "duplicate_count": 0,
    "delivery": DELIVERY_EXAMPLE,
    "validation": None,
}
ATTEMPT_EXAMPLES = [
    {
        "attempt_number": 1,
        "cycle": 1,
        "started_at": "2025-03-14T09:26:51Z",
        "duration_ms": 120,
        "response_status": 503,
        "response_excerpt": "Service Unavailable",
        "error_category": "server_error",
        "error_message": "HTTP 503",
        "error_summary": "The shop's app answered 503",
        "outcome": "retry_scheduled",
        "next_attempt_at": "2025-03-14T09:26:53Z",
    },
    {
        "attempt_number": 2,
        "cycle": 1,
        "started_at": "2025-03-14T09:26:53Z",
        "duration_ms": 98,
        "response_status": 503,
        "response_excerpt": "Service Unavailable",
        "error_category": "server_error",
        "error_message": "HTTP 503",
        "error_summary": "The shop's app answered 503",
        "outcome": "retry_scheduled",
        "next_attempt_at": "2025-03-14T09:26:57Z",
    },
]
CALLBACK_DETAIL_EXAMPLE = {
    **CALLBACK_EXAMPLE,
    "payload": {"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_191220191020363925", "ResultCode": 0}}},
    "delivery": {**DELIVERY_EXAMPLE, "attempts": ATTEMPT_EXAMPLES},
}


@extend_schema_view(
    list=extend_schema(
        summary="List callbacks",
        description="Newest first. Find a payment with `q` (any of its ids) or the id's own parameter.",
        examples=[OpenApiExample("A high-value STK payment being retried", value=CALLBACK_EXAMPLE)],
    ),
    retrieve=extend_schema(
        summary="Read a callback with its delivery and every attempt",
        examples=[OpenApiExample("Two failed attempts, a retry due", value=CALLBACK_DETAIL_EXAMPLE)],
    ),
)
class CallbackViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Callbacks as M-Pesa sent them, each with its deliveries (one per destination that receives it)."""

    tenant_field = "merchant__user_id"

    filterset_class = CallbackFilter

    def base_queryset(self):
        deliveries = Delivery.objects.select_related("endpoint").order_by("pk")
        if self.action == "retrieve":
            deliveries = deliveries.prefetch_related("attempts")
        return (
            Callback.objects.select_related("merchant", "validation_exchange__destination")
            .prefetch_related(Prefetch("deliveries", queryset=deliveries))
            .order_by("-id")
        )

    def get_serializer_class(self):
        return CallbackDetailSerializer if self.action == "retrieve" else CallbackSerializer

    @extend_schema(
        summary="Retry now",
        description="Makes the callback's waiting delivery (pending or retrying) due now and queues it. "
        "`queued` is 0 when nothing was waiting: delivered, in flight, or dead (retry dead ones "
        "through /dead-letters/).",
        request=None,
        responses={200: QueuedSerializer},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk: str):
        callback = self.get_object()
        return Response({"queued": deliveries_retry_now(Delivery.objects.filter(callback=callback))})
