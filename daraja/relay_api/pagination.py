"""Cursor pagination for every list: stable while new rows arrive, and strict about its parameters."""

from __future__ import annotations

import binascii
import re
from base64 import b64decode
from urllib.parse import parse_qs

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# The largest value of a 64-bit signed integer column (Postgres bigint).
BIGINT_MAX = 2**63 - 1
_INTEGER = re.compile(r"-?[0-9]{1,19}")


class ApiCursorPagination(CursorPagination):
    """Pages of ``page_size`` (1 to 200, default 50) in the view's ``cursor_ordering`` (default newest first).

    A cursor points *after* the last row seen, so rows created while a
    client pages (new callbacks at the top) neither repeat nor push rows
    out of later pages. A bad ``page_size`` or ``cursor`` is a 400 naming
    the parameter, not a silent default: a cursor is accepted only as the
    API wrote it (strict base64 of known keys, an offset within DRF's cutoff,
    a position that fits the ordering's column).
    """

    page_size = DEFAULT_PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE
    page_size_query_param = "page_size"
    ordering = "-id"

    def get_ordering(self, request, queryset, view):
        ordering = getattr(view, "cursor_ordering", self.ordering)
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"Enter a whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model  # decode_cursor checks the position against the ordering's column
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        try:
            if encoded is not None:
                self._check_encoding(encoded)
            cursor = super().decode_cursor(request)
            if cursor is not None and cursor.position is not None:
                self._check_position(cursor.position)
        except (NotFound, ValueError, DjangoValidationError):
            raise ValidationError(
                {self.cursor_query_param: ["Invalid cursor: use the 'next' or 'previous' link as given."]}
            ) from None
        return cursor

    def _check_encoding(self, encoded: str) -> None:
        """Strict base64 of ``o``, ``r`` and ``p`` only, the offset within the cutoff (DRF clamps it)."""
        try:
            querystring = b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
        except (UnicodeError, binascii.Error):
            raise ValueError("not base64 text") from None
        tokens = parse_qs(querystring, keep_blank_values=True)
        if not tokens or set(tokens) - {"o", "r", "p"}:
            raise ValueError("unknown cursor keys")
        offset = tokens.get("o", ["0"])[0]
        if not offset.isdigit() or int(offset) > self.offset_cutoff:
            raise ValueError("offset out of range")

    def _check_position(self, position: str) -> None:
        """A position the ordering's column can hold: an integer column's in the 64-bit range."""
        try:
            field = self._model._meta.get_field(self.ordering[0].lstrip("-"))
        except (AttributeError, FieldDoesNotExist):
            return
        if isinstance(field, models.IntegerField | models.AutoField):
            if not _INTEGER.fullmatch(position) or abs(int(position)) > BIGINT_MAX:
                raise ValueError("position out of range")
        else:
            field.to_python(position)

    def get_paginated_response_schema(self, schema):
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["next"]["example"] = (
            "https://relay.example/api/v1/callbacks/?cursor=cD00ODY%3D"
        )
        paginated["properties"]["previous"]["example"] = None
        paginated["properties"]["next"]["description"] = "The next page's URL; null on the last page."
        return paginated

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size})
                parameter["description"] = (
                    f"Rows per page, 1 to {self.max_page_size} (default {self.page_size})."
                )
        return parameters
