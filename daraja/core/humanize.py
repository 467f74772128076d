"""Words for people: the one date format of the admin and short phrases built from numbers."""

from __future__ import annotations

from datetime import datetime

from django.utils import formats, timezone


def when(value: datetime | None, *, empty: str = "—") -> str:
    """``value`` in the admin's one date format (``daraja/formats/en``), in the site's time zone."""
    if value is None:
        return empty
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return formats.date_format(value, "DATETIME_FORMAT")


def plural(count: int, singular: str, many: str | None = None) -> str:
    """``"1 delivery"``, ``"4 deliveries"``."""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"
