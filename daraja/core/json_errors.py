"""One JSON error shape for every API and inbound error: ``{"error": code, "detail": message}``."""

from rest_framework.response import Response
from rest_framework.views import exception_handler


def error_body(code: str, detail) -> dict:
    """The project's error body: a machine-readable ``code`` and a ``detail`` for people (or per field)."""
    return {"error": code, "detail": detail}


def drf_error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    """A DRF response carrying the project's error body."""
    return Response(error_body(code, detail), status=status, headers=headers)


def json_exception_handler(exc, context):
    """Render DRF's exceptions in the project's error shape, keeping their status and headers."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    code = getattr(exc, "default_code", "error")
    detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
    response.data = error_body(code, detail)
    return response
