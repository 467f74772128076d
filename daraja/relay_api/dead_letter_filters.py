"""Filters for the dead-letter queue: the listing's query parameters and bulk actions' ``filter``."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from daraja.core.error_categories import ErrorCategory
from daraja.relay_api.filters import DateTimeFilter, HttpStatusFilter
from deadletter.models import DeadLetter
from webhooks.models import KIND_CHOICES


class DeadLetterState:
    OPEN = "open"
    RESOLVED = "resolved"
    choices = [(OPEN, "Open (waiting for a person)"), (RESOLVED, "Resolved (retried or purged)")]


DEAD_LETTER_STATES = DeadLetterState.choices


class DeadLetterFilter(django_filters.FilterSet):
    error_category = django_filters.ChoiceFilter(choices=ErrorCategory.choices)
    user_id = django_filters.CharFilter(field_name="endpoint__user_id", max_length=64)
    kind = django_filters.ChoiceFilter(field_name="callback__kind", choices=KIND_CHOICES)
    http_status = HttpStatusFilter(
        field_name="last_response_status", help_text="The last HTTP status the user's app answered."
    )
    dead_after = DateTimeFilter(
        field_name="dead_at", lookup_expr="gte", help_text="Gave up at or after (ISO 8601)."
    )
    dead_before = DateTimeFilter(
        field_name="dead_at", lookup_expr="lt", help_text="Gave up before (ISO 8601)."
    )
    state = django_filters.ChoiceFilter(
        choices=DeadLetterState.choices, method="filter_state", help_text="Leave out for both."
    )

    class Meta:
        model = DeadLetter
        fields = []

    def filter_state(self, queryset, name, value):
        return queryset.filter(resolved_at__isnull=value == DeadLetterState.OPEN)


# The criteria a bulk action may select by (always among open letters, so no ``state``).
SELECTION_CRITERIA = ["error_category", "user_id", "kind", "http_status", "dead_after", "dead_before"]


def filter_dead_letters(queryset: QuerySet[DeadLetter], criteria: dict) -> tuple[QuerySet[DeadLetter], dict]:
    """``queryset`` narrowed by ``criteria`` (the listing's parameter names and formats).

    Returns ``(queryset, errors)``; ``errors`` names each bad criterion.
    """
    filterset = DeadLetterFilter(data=criteria, queryset=queryset)
    if not filterset.is_valid():
        return queryset.none(), filterset.errors
    return filterset.qs, {}
