"""``/api/v1/queue/``: the numbers ``/health/queue`` shows, for API clients and scripts.

Built from the same selectors as the health view, in the same shape
(without ``service``/``timestamp``). They describe the one shared queue and
are public on ``/health/queue`` already, so every key sees the same numbers.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from drf_spectacular.utils import extend_schema
from redis.exceptions import RedisError
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from daraja.api.views import ApiViewMixin
from daraja.health import QUEUE_NAME
from deadletter.selectors import open_dead_letters
from delivery.selectors import delivery_status_counts, redis_queue_counts

logger = logging.getLogger(__name__)

QUEUE_STATUSES = ["healthy", "unhealthy"]


class PriorityNumbersSerializer(serializers.Serializer):
    waiting = serializers.IntegerField(help_text="Jobs queued, not yet taken by a worker.")
    active = serializers.IntegerField(help_text="Jobs a worker is running.")
    scheduled = serializers.IntegerField(help_text="Retries waiting for their backoff to pass.")
    failed_jobs = serializers.IntegerField(help_text="RQ jobs that crashed (not failed deliveries).")


class QueueSerializer(serializers.Serializer):
    name = serializers.CharField()
    waiting = serializers.IntegerField(allow_null=True, help_text="Jobs waiting, all priorities (Redis).")
    active = serializers.IntegerField(allow_null=True, help_text="Jobs running, all priorities (Redis).")
    failed = serializers.IntegerField(allow_null=True, help_text="Open dead letters (database).")
    completed = serializers.IntegerField(allow_null=True, help_text="Delivered deliveries (database).")
    scheduled_retries = serializers.IntegerField(allow_null=True, help_text="Retries waiting (Redis).")
    dead_letters = serializers.IntegerField(allow_null=True, help_text="Open dead letters (database).")
    priorities = serializers.DictField(
        child=PriorityNumbersSerializer(),
        help_text="Per priority (urgent, high, normal, low); {} without Redis.",
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
        description="What /health/queue shows: jobs per priority from Redis, deliveries by state and open "
        "dead letters from the database. 503 with the same body (status `unhealthy`, `errors`) when "
        "Redis or the database is down.",
        responses={200: QueueNumbersSerializer, 503: QueueNumbersSerializer},
    )
    def get(self, request):
        problems = []
        redis_numbers = None
        try:
            redis_numbers = redis_queue_counts()
        except RedisError as exc:
            logger.error("❌ Redis connection lost: %s", exc)
            problems.append("redis: unreachable")
        deliveries = dead_letters = None
        try:
            deliveries, dead_letters = delivery_status_counts(), open_dead_letters().count()
        except DatabaseError as exc:
            logger.error("❌ Database unavailable: %s", exc)
            problems.append("database: unavailable")
        priorities = redis_numbers["priorities"] if redis_numbers else {}

        def total(name: str) -> int | None:
            return sum(numbers[name] for numbers in priorities.values()) if redis_numbers else None

        body = {
            "status": "unhealthy" if problems else "healthy",
            "queue": {
                "name": QUEUE_NAME,
                "waiting": total("waiting"),
                "active": total("active"),
                "failed": dead_letters,
                "completed": deliveries["delivered"] if deliveries else None,
                "scheduled_retries": total("scheduled"),
                "dead_letters": dead_letters,
                "priorities": priorities,
                "deliveries": deliveries or {},
            },
            "workers": redis_numbers["workers"] if redis_numbers else None,
            "redis": {"connected": redis_numbers is not None},
            "database": {"connected": deliveries is not None},
        }
        if problems:
            body["errors"] = problems
        return Response(body, status=503 if problems else 200)
