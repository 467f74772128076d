"""Filter fields shared by the API's filter sets: date-times and HTTP statuses that never reach the
database out of range (a year-1 date in another time zone cannot be converted to UTC; that must be
a 400, not a 500)."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field


class BoundedIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, returned in UTC (what the database compares in).

    Converting here matters: ISO 8601 allows offsets such as ``+17:20`` that Postgres refuses
    ("time zone displacement out of range"), while the same instant in UTC is fine."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError("Enter a date-time between the years 1 and 9999.") from None


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = BoundedIsoDateTimeField


class StrictBooleanField(forms.Field):
    """``true`` or ``false`` (any case); anything else is an error, not "no filter"."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        normalized = str(value).strip().lower()
        if normalized not in ("true", "false"):
            raise forms.ValidationError("Enter true or false.")
        return normalized == "true"


@extend_schema_field({"type": "boolean"})
class BooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


@extend_schema_field({"type": "integer", "minimum": 100, "maximum": 599})
class HttpStatusFilter(django_filters.NumberFilter):
    """A whole-number HTTP status, 100 to 599."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 100)
        kwargs.setdefault("max_value", 599)
        super().__init__(*args, **kwargs)
