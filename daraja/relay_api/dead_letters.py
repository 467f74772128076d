"""``/api/v1/dead-letters/``: the dead-letter queue — list, read, retry one or many, purge, analyse.

Thin views over ``deadletter.services`` (retry, purge) and
``deadletter.analysis`` (failure breakdown). Bulk actions select open
letters by ids or by the listing's filters, always within the key's scope.
Purging takes an operator key.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from daraja.relay_api.callback_serializers import QueuedSerializer
from daraja.relay_api.dead_letter_filters import SELECTION_CRITERIA, DeadLetterFilter, filter_dead_letters
from daraja.relay_api.dead_letter_serializers import (
    MAX_BULK_IDS,
    DeadLetterDetailSerializer,
    DeadLetterSelectionSerializer,
    DeadLetterSerializer,
    FailureBreakdownSerializer,
    PurgeResultSerializer,
    RetryResultSerializer,
)
from daraja.relay_api.permissions import IsOperatorKey
from daraja.relay_api.schema import openapi_error_response
from daraja.relay_api.views import ApiViewSet, Conflict
from deadletter.analysis import failure_breakdown
from deadletter.models import DeadLetter
from deadletter.services import dead_letters_purge
from delivery.services import dead_letters_retry

WINDOW_PATTERN = r"^([1-9][0-9]{0,3})([hd])$"
MAX_WINDOW = timedelta(days=90)

DEAD_LETTER_EXAMPLE = {
    "id": 77,
    "user_id": "shop42",
    "callback_id": 4711,
    "delivery_id": 812,
    "webhook_id": "msg_5f0c2a9be1d84f3aa1f0b7c1f3e9d2a4",
    "kind": "stk_callback",
    "receipt_number": "NLJ7RT61SV",
    "checkout_request_id": "ws_CO_191220191020363925",
    "trans_id": "",
    "amount": "150000.00",
    "error_category": "server_error",
    "last_error": "HTTP 503",
    "error_summary": "The shop's app answered 503",
    "last_response_status": 503,
    "attempts": 3,
    "dead_at": "2025-03-14T09:27:05Z",
    "state": "open",
    "resolved_at": None,
    "resolution": "",
}
BULK_EXAMPLES = [
    OpenApiExample("By ids", value={"ids": [77, 78, 91]}, request_only=True),
    OpenApiExample(
        "Yesterday's for one user",
        value={
            "filter": {
                "user_id": "shop42",
                "dead_after": "2025-03-13T00:00:00+03:00",
                "dead_before": "2025-03-14T00:00:00+03:00",
            }
        },
        request_only=True,
    ),
]


class WindowSerializer(serializers.Serializer):
    window = serializers.RegexField(
        WINDOW_PATTERN,
        default="24h",
        error_messages={"invalid": "Write the window as hours or days: 24h, 7d."},
    )

    def validate_window(self, value: str) -> timedelta:
        number, unit = re.fullmatch(WINDOW_PATTERN, value).groups()
        window = timedelta(hours=int(number)) if unit == "h" else timedelta(days=int(number))
        if window > MAX_WINDOW:
            raise serializers.ValidationError("The window is at most 90 days (90d or 2160h).")
        return window


@extend_schema_view(
    list=extend_schema(
        summary="List dead letters",
        description="Newest first; every state unless `state` is given.",
        examples=[
            OpenApiExample("A payment its app answered 503 to, three times", value=DEAD_LETTER_EXAMPLE)
        ],
    ),
    retrieve=extend_schema(summary="Read a dead letter with its delivery and every attempt"),
)
class DeadLetterViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Deliveries that gave up, waiting for someone to retry or purge them."""

    filterset_class = DeadLetterFilter
    lookup_value_regex = r"[0-9]+"

    def base_queryset(self) -> QuerySet[DeadLetter]:
        queryset = DeadLetter.objects.select_related("endpoint", "callback", "delivery").order_by("-id")
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("delivery__attempts")
        return queryset

    def get_serializer_class(self):
        return DeadLetterDetailSerializer if self.action == "retrieve" else DeadLetterSerializer

    def _open_letter(self) -> DeadLetter:
        dead_letter = self.get_object()
        if not dead_letter.is_open:
            raise Conflict(f"This dead letter was already {dead_letter.resolution}.")
        return dead_letter

    def _selected(self) -> QuerySet[DeadLetter]:
        """The open letters in the key's scope that the body's ``ids`` or ``filter`` selects."""
        selection = DeadLetterSelectionSerializer(data=self.request.data)
        selection.is_valid(raise_exception=True)
        open_letters = self.get_queryset().filter(resolved_at__isnull=True).order_by("dead_at", "id")
        if "ids" in selection.validated_data:
            return open_letters.filter(pk__in=selection.validated_data["ids"])
        criteria = {k: v for k, v in self.request.data["filter"].items() if k in SELECTION_CRITERIA}
        selected, errors = filter_dead_letters(open_letters, criteria)
        if errors:
            raise serializers.ValidationError({"filter": errors})
        return selected

    @extend_schema(
        summary="Retry one dead letter",
        operation_id="dead_letters_retry",
        description="Its delivery starts a new cycle of attempts with the same webhook-id.",
        request=None,
        responses={200: QueuedSerializer, 409: openapi_error_response("Already retried or purged.")},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk: str):
        dead_letter = self._open_letter()
        return Response({"queued": dead_letters_retry(dead_letter_ids=[dead_letter.pk])})

    @extend_schema(
        summary="Purge one dead letter (operator keys)",
        operation_id="dead_letters_purge",
        description="Takes it out of the queue for good; the row stays as history, the delivery stays dead.",
        request=None,
        responses={
            200: PurgeResultSerializer,
            403: openapi_error_response("Merchant keys may not purge."),
            409: openapi_error_response("Already retried or purged."),
        },
    )
    @action(detail=True, methods=["post"], permission_classes=[IsOperatorKey])
    def purge(self, request, pk: str):
        dead_letter = self._open_letter()
        purged = dead_letters_purge(dead_letter_ids=[dead_letter.pk])
        return Response({"matched": 1, "purged": purged, "remaining": 1 - purged})

    @extend_schema(
        summary="Retry many dead letters",
        operation_id="dead_letters_bulk_retry",
        description=f"By `ids`, or by `filter` (the listing's filters; the oldest {MAX_BULK_IDS} open "
        "letters per call). Answers how many deliveries were queued.",
        request=DeadLetterSelectionSerializer,
        responses={200: RetryResultSerializer},
        examples=BULK_EXAMPLES,
    )
    @action(detail=False, methods=["post"], url_path="retry")
    def bulk_retry(self, request):
        selected = self._selected()
        matched = selected.count()
        ids = list(selected.values_list("pk", flat=True)[:MAX_BULK_IDS])
        queued = dead_letters_retry(dead_letter_ids=ids)
        return Response({"matched": matched, "queued": queued, "remaining": selected.count()})

    @extend_schema(
        summary="Purge many dead letters (operator keys)",
        operation_id="dead_letters_bulk_purge",
        description=f"By `ids`, or by `filter` (the oldest {MAX_BULK_IDS} open letters per call).",
        request=DeadLetterSelectionSerializer,
        responses={200: PurgeResultSerializer, 403: openapi_error_response("Merchant keys may not purge.")},
        examples=BULK_EXAMPLES,
    )
    @action(detail=False, methods=["post"], url_path="purge", permission_classes=[IsOperatorKey])
    def bulk_purge(self, request):
        selected = self._selected()
        matched = selected.count()
        purged = dead_letters_purge(
            dead_letter_ids=list(selected.values_list("pk", flat=True)[:MAX_BULK_IDS])
        )
        return Response({"matched": matched, "purged": purged, "remaining": selected.count()})

    @extend_schema(
        summary="Failure analysis",
        operation_id="dead_letters_analysis",
        description="Dead letters (open or resolved) that gave up within the window, by error category, "
        "by user and by HTTP status; a merchant key sees its own.",
        parameters=[
            OpenApiParameter(
                "window",
                str,
                pattern=WINDOW_PATTERN,
                default="24h",
                description="How far back: hours (`24h`) or days (`7d`), at most 90 days.",
            )
        ],
        responses={200: FailureBreakdownSerializer},
        filters=False,
    )
    @action(detail=False, methods=["get"], pagination_class=None, filterset_class=None)
    def analysis(self, request):
        query = WindowSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        breakdown = failure_breakdown(self.get_queryset(), window=query.validated_data["window"])
        return Response(FailureBreakdownSerializer(breakdown).data)
