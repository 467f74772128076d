"""The OpenAPI schema's shared parts: the bearer-key scheme, the error body, and the error responses
every operation can give (added by a hook, so no view can forget one)."""

from __future__ import annotations

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

API_PATH_PREFIX = "/api/v1/"
ERROR_REF = {"$ref": "#/components/schemas/Error"}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {
            "type": "string",
            "description": "A short code: not_authenticated, authentication_failed, permission_denied, "
            "not_found, invalid, parse_error, unsupported_media_type, conflict, throttled…",
        },
        "detail": {
            "description": "What went wrong, for a person. For invalid input (400) an object naming each "
            "bad field or parameter with its messages.",
        },
    },
}

ERROR_EXAMPLES = {
    "400": {"error": "invalid", "detail": {"received_after": ["Enter a valid date/time."]}},
    "401": {"error": "not_authenticated", "detail": "Authentication credentials were not provided."},
    "403": {
        "error": "permission_denied",
        "detail": "Only an operator key may do this; merchant keys may not.",
    },
    "404": {"error": "not_found", "detail": "Not found."},
    "409": {"error": "conflict", "detail": "An endpoint for this user already exists."},
    "415": {"error": "unsupported_media_type", "detail": 'Unsupported media type "text/plain" in request.'},
    "429": {"error": "throttled", "detail": "Request was throttled. Expected available in 17 seconds."},
}

ERROR_DESCRIPTIONS = {
    "400": "Invalid input: a bad parameter, filter or body field (named in `detail`), or malformed JSON.",
    "401": "No API key, or a wrong or revoked one.",
    "403": "The key may not do this.",
    "404": "No such object, or it belongs to another user (a merchant key sees its own user's data only).",
    "409": "Conflicts with the current state.",
    "415": "The body is not JSON.",
    "429": "Too many requests with this key; wait `Retry-After` seconds.",
}


class ErrorSerializer(serializers.Serializer):
    """The project's error body (the hook below replaces the component with ``ERROR_SCHEMA``)."""

    error = serializers.CharField()
    detail = serializers.JSONField()


def openapi_error_response(description: str) -> OpenApiResponse:
    """An ``extend_schema`` response for a view-specific error status (403, 409, 503…)."""
    return OpenApiResponse(response=ErrorSerializer, description=description)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "daraja.relay_api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "drk_…",
            "description": "An API key from `python manage.py create_api_key`. Operator keys (no user id) "
            "see every user's data; merchant keys see their own user's alone.",
        }


def only_api_paths(endpoints):
    """Preprocessing hook: document the integration API only, not the inbound door or the admin."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith(API_PATH_PREFIX)]


def _error(status: str) -> dict:
    response = {
        "description": ERROR_DESCRIPTIONS[status],
        "content": {"application/json": {"schema": ERROR_REF, "example": ERROR_EXAMPLES[status]}},
    }
    if status == "401":
        response["headers"] = {
            "WWW-Authenticate": {"schema": {"type": "string"}, "description": 'Always `Bearer realm="api"`.'}
        }
    if status == "429":
        response["headers"] = {
            "Retry-After": {
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
                "description": "Seconds until this key may call again.",
            }
        }
    return response


def add_error_responses(result, generator, request, public):
    """Postprocessing hook: every operation documents the errors it can answer with.

    401 and 429 everywhere; 404 where the path names an object; 400 where
    there are query parameters or a body; 415 where there is a body.
    Statuses a view documents itself (403, 409, 503) keep their description.
    """
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            statuses = ["401", "429"]
            if re.search(r"{\w+}", path):
                statuses.append("404")
            has_query = any(p.get("in") == "query" for p in operation.get("parameters", []))
            if has_query or "requestBody" in operation:
                statuses.append("400")
            if "requestBody" in operation:
                statuses.append("415")
            for status in statuses:
                responses.setdefault(status, _error(status))
            for status, response in responses.items():
                if status in ERROR_EXAMPLES and "content" in response:
                    response["content"]["application/json"] = {
                        "schema": ERROR_REF,
                        "example": ERROR_EXAMPLES[status],
                    }
    return result
