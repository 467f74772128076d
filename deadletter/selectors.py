"""Reads on the dead-letter queue."""

from django.db.models import QuerySet

from deadletter.models import DeadLetter


def open_dead_letters() -> QuerySet[DeadLetter]:
    """Dead letters still waiting for a person (neither retried nor purged)."""
    return DeadLetter.objects.filter(resolved_at__isnull=True)
