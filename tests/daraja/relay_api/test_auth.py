"""Who may call the API: no key, a wrong key, a revoked key, an operator key, a merchant key."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from daraja.api_keys import api_keys_revoke
from daraja.models import ApiKey
from tests.daraja.relay_api.conftest import KeyedClient

pytestmark = pytest.mark.django_db(transaction=True)

CALLBACKS = "/api/v1/callbacks/"


def ids_of(response) -> set[str]:
    return {row["checkout_request_id"] for row in response.json()["results"]}


def test_no_key_is_401_with_a_json_error_and_a_bearer_challenge(two_shops):
    response = KeyedClient(None).get(CALLBACKS)
    assert response.status_code == 401
    assert response.json() == {
        "error": "not_authenticated",
        "detail": "Authentication credentials were not provided.",
    }
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    "key",
    [
        "drk_000000000000_" + "x" * 43,  # well-formed, unknown
        "not-a-key",
        "drk_",
        "drk_nounderscore",
        "x" * 500,
    ],
)
def test_a_wrong_key_is_401(operator, key):
    response = KeyedClient(key).get(CALLBACKS)
    assert response.status_code == 401
    assert response.json() == {"error": "authentication_failed", "detail": "Invalid API key."}


def test_a_right_prefix_with_a_wrong_secret_is_401(operator):
    forged = operator.key[: operator.key.rindex("_") + 1] + "A" * 43
    response = KeyedClient(forged).get(CALLBACKS)
    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"


def test_another_scheme_is_401(operator):
    client = KeyedClient(None)
    response = client.client.get(CALLBACKS, headers={"Authorization": f"Basic {operator.key}"})
    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"


def test_a_revoked_key_is_401_and_other_keys_keep_working(operator, shop_a, two_shops):
    assert operator.get(CALLBACKS).status_code == 200
    assert api_keys_revoke(ApiKey.objects.filter(user_id="")) == 1
    response = operator.get(CALLBACKS)
    assert response.status_code == 401
    assert response.json() == {"error": "authentication_failed", "detail": "This API key has been revoked."}
    assert shop_a.get(CALLBACKS).status_code == 200


def test_an_operator_key_sees_every_user_and_a_merchant_key_its_own(
    operator, shop_a, shop_b, two_shops, receive
):
    a1, a2, b1 = receive("shop_a"), receive("shop_a"), receive("shop_b")
    assert ids_of(operator.get(CALLBACKS)) == {a1, a2, b1}
    assert ids_of(shop_a.get(CALLBACKS)) == {a1, a2}
    assert ids_of(shop_b.get(CALLBACKS)) == {b1}
    # asking for the other user's rows by filter gives nothing, not their data
    assert ids_of(shop_a.get(CALLBACKS, {"user_id": "shop_b"})) == set()


def test_health_stays_public(client):
    assert client.get("/health").status_code == 200
    assert client.get("/health/queue").status_code == 200


def test_the_key_records_when_it_was_last_used(operator, two_shops):
    assert ApiKey.objects.get().last_used_at is None
    operator.get(CALLBACKS)
    assert ApiKey.objects.get().last_used_at is not None


def test_create_api_key_prints_the_key_once_and_stores_only_its_digest():
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", "ops scripts", stdout=out, stderr=err)
    printed = json.loads(out.getvalue())
    api_key = ApiKey.objects.get()
    assert printed["scope"] == "operator"
    assert printed["user_id"] is None
    assert printed["key"].startswith(f"drk_{api_key.prefix}_")
    assert api_key.name == "ops scripts"
    assert printed["key"] not in json.dumps(list(ApiKey.objects.values()), default=str)
    assert "cannot be shown again" in err.getvalue()
    assert KeyedClient(printed["key"]).get("/api/v1/endpoints/").status_code == 200


def test_create_api_key_for_a_merchant_limits_the_key_to_that_user(two_shops, receive):
    receive("shop_a")
    receive("shop_b")
    out = io.StringIO()
    call_command("create_api_key", "shop a", "--user-id", "shop_a", stdout=out, stderr=io.StringIO())
    printed = json.loads(out.getvalue())
    assert (printed["scope"], printed["user_id"]) == ("merchant", "shop_a")
    rows = KeyedClient(printed["key"]).get(CALLBACKS).json()["results"]
    assert [row["user_id"] for row in rows] == ["shop_a"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["", "--user-id", "shop_a"], "name: This field cannot be blank."),
        (["bad", "--user-id", "no spaces allowed"], "user_id: A user id is 1 to 64 letters"),
    ],
)
def test_create_api_key_refuses_bad_arguments_and_creates_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_key", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not ApiKey.objects.exists()


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("support", "support@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def test_the_admin_revokes_keys_and_never_shows_the_digest(staff_client, operator, shop_a):
    digests = list(ApiKey.objects.values_list("key_digest", flat=True))
    changelist = staff_client.get("/admin/daraja/apikey/")
    change = staff_client.get(f"/admin/daraja/apikey/{ApiKey.objects.get(user_id='').pk}/change/")
    for page in (changelist, change):
        assert page.status_code == 200
        assert not any(digest in page.text for digest in digests)
        assert operator.key not in page.text
    assert staff_client.get("/admin/daraja/apikey/add/").status_code == 403
    operator_prefix = ApiKey.objects.get(user_id="").prefix
    merchant_prefix = ApiKey.objects.get(user_id="shop_a").prefix
    live = staff_client.get("/admin/daraja/apikey/", {"state": "live"})
    assert operator_prefix in live.text and merchant_prefix in live.text

    response = staff_client.post(
        "/admin/daraja/apikey/",
        {"action": "revoke", "_selected_action": [ApiKey.objects.get(user_id="").pk]},
        follow=True,
    )
    assert "1 API key revoked." in response.text
    revoked = staff_client.get("/admin/daraja/apikey/", {"state": "revoked"})
    assert operator_prefix in revoked.text and merchant_prefix not in revoked.text
    assert operator.get(CALLBACKS).status_code == 401
    assert shop_a.get(CALLBACKS).status_code == 200


def test_the_schema_and_docs_need_a_key_or_a_staff_login(client, staff_client, operator):
    anonymous = KeyedClient(None)
    assert anonymous.get("/api/schema/").status_code == 401
    assert anonymous.get("/api/docs/").status_code == 401
    assert operator.get("/api/schema/").status_code == 200
    assert staff_client.get("/api/docs/").status_code == 200
    assert staff_client.get("/api/schema/").status_code == 200


def test_unknown_api_paths_answer_json_404_with_or_without_a_key(operator):
    for client in (operator, KeyedClient(None)):
        response = client.get("/api/v1/nothing-here/")
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
    response = operator.get("/api/v1/callbacks")
    assert response.status_code == 404
    assert response.json()["detail"] == "No such API path; API paths end with a slash: /api/v1/callbacks/"


def test_the_docs_without_credentials_say_how_to_get_in(client):
    # an API client gets JSON naming both ways in
    response = client.get("/api/docs/", HTTP_ACCEPT="application/json")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == "not_authenticated"
    assert "create_api_key" in body["detail"]
    assert "http://testserver/admin/login/?next=/api/docs/" in body["detail"]
    # a browser gets a page with a link to the admin's login, which comes back to the docs
    page = client.get("/api/docs/", HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert page.status_code == 401
    assert page["Content-Type"].startswith("text/html")
    assert 'href="http://testserver/admin/login/?next=/api/docs/"' in page.text
    assert "create_api_key NAME" in page.text
    # and the schema's JSON 401 says the same
    schema = client.get("/api/schema/")
    assert schema.status_code == 401
    assert "create_api_key" in schema.json()["detail"]


def test_a_logged_in_user_who_is_not_staff_is_told_the_docs_are_for_staff(client, django_user_model):
    clerk = django_user_model.objects.create_user("clerk", password="pw-1234567")
    client.force_login(clerk)  # (client.login has no request for django-axes to read)
    response = client.get("/api/schema/")
    assert response.status_code == 403
    assert "staff" in response.json()["detail"]
    page = client.get("/api/docs/", HTTP_ACCEPT="text/html")
    assert page.status_code == 403
    assert "Only staff users of the admin" in page.text


@pytest.mark.parametrize("path", ["/api/", "/api/v1/"])
def test_the_api_root_lists_the_entry_points_and_the_docs(path, operator):
    response = KeyedClient(None).get(path)
    assert response.status_code == 200
    body = response.json()
    assert set(body["resources"]) == {
        "merchants",
        "endpoints",
        "callbacks",
        "dead_letters",
        "queue",
    }
    assert body["docs"]["swagger_ui"] == "http://testserver/api/docs/"
    assert body["docs"]["openapi_schema"] == "http://testserver/api/schema/"
    assert "Bearer" in body["authentication"]
    # every listed URL is a live part of the API
    for url in [*body["resources"].values(), body["docs"]["openapi_schema"], body["docs"]["swagger_ui"]]:
        assert operator.get(url.removeprefix("http://testserver")).status_code == 200, url
