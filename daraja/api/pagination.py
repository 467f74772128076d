"""Cursor pagination for every list: stable while new rows arrive, and strict about its parameters."""

from __future__ import annotations

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class ApiCursorPagination(CursorPagination):
    """Pages of ``page_size`` (1 to 200, default 50) in the view's ``cursor_ordering`` (default newest first).

    A cursor points *after* the last row seen, so rows created while a
    client pages (new callbacks at the top) neither repeat nor push rows
    out of later pages. A bad ``page_size`` or ``cursor`` is a 400 naming
    the parameter, not a silent default.
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

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError(
                {self.cursor_query_param: ["Invalid cursor: use the 'next' or 'previous' link as given."]}
            ) from None

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
