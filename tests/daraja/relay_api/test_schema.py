"""The OpenAPI schema documents every operation, parameter and error, and the docs need no CDN."""

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("get", "/api/v1/endpoints/"),
    ("post", "/api/v1/endpoints/"),
    ("get", "/api/v1/endpoints/{user_id}/"),
    ("patch", "/api/v1/endpoints/{user_id}/"),
    ("post", "/api/v1/endpoints/{user_id}/pause/"),
    ("post", "/api/v1/endpoints/{user_id}/resume/"),
    ("post", "/api/v1/endpoints/{user_id}/rotate-secret/"),
    ("get", "/api/v1/merchants/"),
    ("get", "/api/v1/merchants/{user_id}/"),
    ("get", "/api/v1/merchants/{user_id}/destinations/"),
    ("post", "/api/v1/merchants/{user_id}/destinations/"),
    ("get", "/api/v1/merchants/{user_id}/destinations/{name}/"),
    ("patch", "/api/v1/merchants/{user_id}/destinations/{name}/"),
    ("delete", "/api/v1/merchants/{user_id}/destinations/{name}/"),
    ("post", "/api/v1/merchants/{user_id}/destinations/{name}/pause/"),
    ("post", "/api/v1/merchants/{user_id}/destinations/{name}/resume/"),
    ("post", "/api/v1/merchants/{user_id}/destinations/{name}/rotate-secret/"),
    ("get", "/api/v1/callbacks/"),
    ("get", "/api/v1/callbacks/{id}/"),
    ("post", "/api/v1/callbacks/{id}/retry/"),
    ("get", "/api/v1/dead-letters/"),
    ("get", "/api/v1/dead-letters/{id}/"),
    ("post", "/api/v1/dead-letters/{id}/retry/"),
    ("post", "/api/v1/dead-letters/{id}/purge/"),
    ("post", "/api/v1/dead-letters/retry/"),
    ("post", "/api/v1/dead-letters/purge/"),
    ("get", "/api/v1/dead-letters/analysis/"),
    ("get", "/api/v1/queue/"),
}


@pytest.fixture
def schema(operator):
    response = operator.client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def test_every_operation_is_documented_with_the_bearer_key_and_nothing_else(schema):
    assert schema["openapi"].startswith("3.")
    assert {(method, path) for method, path, _ in operations(schema)} == OPERATIONS
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "drk_…",
        "description": schema["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    for _, _, operation in operations(schema):
        assert operation["security"] == [{"ApiKey": []}]
        assert operation.get("summary")


def test_every_operation_documents_its_errors_with_the_error_body(schema):
    for method, path, operation in operations(schema):
        responses = operation["responses"]
        expected = {"401", "429"}
        if "{" in path:
            expected.add("404")
        if any(p["in"] == "query" for p in operation.get("parameters", [])) or "requestBody" in operation:
            expected.add("400")
        if "requestBody" in operation:
            expected.add("415")
        assert expected <= set(responses), (method, path)
        for status in expected:
            assert responses[status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
        assert responses["429"]["headers"]["Retry-After"]["required"] is True
    assert schema["components"]["schemas"]["Error"]["required"] == ["error", "detail"]
    purge = schema["paths"]["/api/v1/dead-letters/purge/"]["post"]["responses"]
    assert "403" in purge


def test_list_parameters_are_documented_with_their_types(schema):
    callbacks = {p["name"]: p for p in schema["paths"]["/api/v1/callbacks/"]["get"]["parameters"]}
    assert set(callbacks) >= {
        "status",
        "priority",
        "kind",
        "user_id",
        "received_after",
        "received_before",
        "q",
        "receipt_number",
        "checkout_request_id",
        "trans_id",
        "cursor",
        "page_size",
    }
    assert callbacks["received_after"]["schema"]["format"] == "date-time"
    assert callbacks["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}
    dead = {p["name"]: p for p in schema["paths"]["/api/v1/dead-letters/"]["get"]["parameters"]}
    assert set(dead) >= {
        "error_category",
        "user_id",
        "kind",
        "http_status",
        "dead_after",
        "dead_before",
        "state",
    }
    assert dead["http_status"]["schema"] == {"type": "integer", "minimum": 100, "maximum": 599}
    assert dead["state"]["schema"]["enum"] == ["open", "resolved"]


def test_callbacks_and_dead_letters_have_examples(schema):
    for path in ("/api/v1/callbacks/", "/api/v1/callbacks/{id}/", "/api/v1/dead-letters/"):
        content = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert content["examples"], path
    bulk = schema["paths"]["/api/v1/dead-letters/retry/"]["post"]["requestBody"]["content"][
        "application/json"
    ]
    assert {example["summary"] for example in bulk["examples"].values()} == {
        "By ids",
        "Yesterday's for one user",
    }


def test_secrets_appear_only_where_they_are_returned_once(schema):
    components = schema["components"]["schemas"]
    assert "signing_secret" not in components["Endpoint"]["properties"]
    assert "inbound_token" not in str(components)
    assert "signing_secret" in components["EndpointCreated"]["properties"]
    assert "signing_secret" in components["SigningSecret"]["properties"]


def test_the_docs_page_loads_its_assets_from_our_own_static_files(operator):
    response = operator.get("/api/docs/")
    assert response.status_code == 200
    html = response.text
    assert "cdn" not in html.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", html)
    assert assets
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), asset


def test_max_in_flight_is_documented_writable_with_its_bounds_and_readable(schema):
    components = schema["components"]["schemas"]
    for name in ("EndpointCreateRequest", "PatchedEndpointUpdateRequest"):
        field = components[name]["properties"]["max_in_flight"]
        assert (field["type"], field["minimum"], field["maximum"]) == ("integer", 1, 1000), name
    assert components["Endpoint"]["properties"]["max_in_flight"]["readOnly"] is True
    assert components["Endpoint"]["properties"]["in_flight"]["readOnly"] is True
