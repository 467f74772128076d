"""``/api/v1/queue/``: the numbers ``/health/queue`` shows, for API clients and scripts.

The same body (``daraja.queue_report.queue_report``) without
``service``/``timestamp``, with ``errors`` (every key may see what is down,
as on ``/health/queue``) and without ``endpoints`` (merchants' rows are the
destinations resources' business). The numbers describe the one shared
queue and are public on ``/health/queue`` already, so every key sees the
same ones.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from daraja.queue_report import queue_report
from daraja.relay_api.views import ApiViewMixin

QUEUE_STATUSES = ["healthy", "unhealthy"]


class PriorityNumbersSerializer(serializers.Serializer):
    waiting = serializers.IntegerField(help_text="Deliveries due now, not yet being sent (database).")
    active = serializers.IntegerField(help_text="Deliveries being sent now (database).")
    scheduled = serializers.IntegerField(help_text="Retries waiting for their backoff to pass (database).")
    held = serializers.IntegerField(help_text="Deliveries held: endpoint paused or circuit open (database).")
    jobs = serializers.IntegerField(
        required=False, help_text="RQ jobs (wake-ups) waiting in this priority's queue; absent without Redis."
    )


class QueueSerializer(serializers.Serializer):
    name = serializers.CharField()
    waiting = serializers.IntegerField(allow_null=True, help_text="Deliveries due now, all priorities.")
    active = serializers.IntegerField(allow_null=True, help_text="Deliveries being sent, all priorities.")
    failed = serializers.IntegerField(
        allow_null=True, help_text="Deprecated: the same number as `open_dead_letters`, under its old name."
    )
    completed = serializers.IntegerField(allow_null=True, help_text="Delivered deliveries (database).")
    scheduled_retries = serializers.IntegerField(allow_null=True, help_text="Retries not yet due (database).")
    dead_letters = serializers.IntegerField(
        allow_null=True, help_text="Deprecated: the same number as `open_dead_letters`, under its old name."
    )
    open_dead_letters = serializers.IntegerField(
        allow_null=True, help_text="Dead letters waiting for a person to retry or purge them (database)."
    )
    priorities = serializers.DictField(
        child=PriorityNumbersSerializer(),
        help_text="Per priority (urgent, high, normal, low); {} without the database.",
    )
    deliveries = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Deliveries by state (pending, delivering, retrying, delivered, dead…); {} without the "
        "database.",
    )


class ConnectedSerializer(serializers.Serializer):
    connected = serializers.BooleanField()


class QueueNumbersSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=QUEUE_STATUSES)
    queue = QueueSerializer()
    workers = serializers.IntegerField(allow_null=True)
    redis = ConnectedSerializer()
    database = ConnectedSerializer()
    errors = serializers.ListField(child=serializers.CharField(), required=False)


class QueueView(ApiViewMixin, APIView):
    @extend_schema(
        summary="Queue numbers",
        description="What /health/queue shows: deliveries waiting, active and scheduled per priority, by "
        "state, and open dead letters from the database (the queue itself); workers and wake-up jobs from "
        "Redis. 503 with the same body (status `unhealthy`, `errors`) when Redis or the database is down.",
        responses={200: QueueNumbersSerializer, 503: QueueNumbersSerializer},
    )
    def get(self, request):
        report, problems = queue_report(with_endpoints=False)
        return Response(report, status=503 if problems else 200)
