"""The API's JSON parser: DRF's, with a body nested deeper than the parser can follow refused as a 400."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser; a body nested past Python's recursion limit is a 400 ``parse_error``, not a 500.

    ``json`` raises ``RecursionError`` (not ``ValueError``) on such a body,
    which DRF's parser lets through as a server error.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
