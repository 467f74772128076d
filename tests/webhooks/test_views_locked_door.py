"""The locked inbound door: tokens, the legacy path, the source allowlist; no JSON object gets a 5xx."""

import json
import re

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.helpers import post_to
from tests.support import run_worker
from webhooks.inbound_tokens import FORBIDDEN_URL_WORDS, generate_inbound_token
from webhooks.models import Callback
from webhooks.sources import client_address

# --- tokens ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_right_token_delivers(client, receiver, endpoint_factory):
    endpoint = endpoint_factory(user_id="shop1")
    assert post_to(client, endpoint.inbound_path).status_code == 200
    run_worker()
    assert len(receiver.requests_to("/hook")) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "path", ["/webhook/shop1/{wrong}", "/webhook/shop1", "/webhook/shop1/", "/webhook/shop1/{short}"]
)
def test_a_wrong_or_missing_token_is_a_bare_404_and_nothing_is_stored_or_delivered(
    client, receiver, endpoint_factory, path
):
    endpoint_factory(user_id="shop1")
    response = post_to(client, path.format(wrong=generate_inbound_token(), short="abc"))
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not found."}
    run_worker()
    assert not Callback.objects.exists()
    assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
def test_the_bare_original_path_works_only_for_endpoints_marked_legacy(client, receiver, endpoint_factory):
    endpoint_factory(user_id="old-shop", allow_legacy_path=True)
    endpoint_factory(user_id="new-shop")
    assert post_to(client, "/webhook/old-shop").status_code == 200
    assert post_to(client, "/webhook/old-shop/").status_code == 200
    assert post_to(client, "/webhook/new-shop").status_code == 404
    assert Callback.objects.count() == 2


def test_tokens_are_long_random_and_free_of_words_m_pesa_rejects():
    tokens = {generate_inbound_token() for _ in range(2000)}
    assert len(tokens) == 2000
    assert all(re.fullmatch(r"[a-z0-9]{32}", t) for t in tokens)
    assert not any(word in t for t in tokens for word in FORBIDDEN_URL_WORDS)


@pytest.mark.django_db
def test_user_ids_with_words_m_pesa_rejects_are_refused():
    from django.core.exceptions import ValidationError

    from webhooks.services import endpoint_create_or_update

    for user_id in ["mpesa-shop", "MySQLshop", "exec1", "shop_Query"]:
        with pytest.raises(ValidationError, match="M-Pesa refuses"):
            endpoint_create_or_update(user_id=user_id, url="https://a.example/hook")


# --- source allowlist ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_allowlist_off_accepts_any_source(client, endpoint_factory, settings):
    settings.INBOUND_SOURCE_ALLOWLIST_ENABLED = False
    endpoint = endpoint_factory(user_id="shop1")
    assert post_to(client, endpoint.inbound_path, REMOTE_ADDR="203.0.113.9").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_allowlist_on_refuses_strangers_and_accepts_safaricom(client, endpoint_factory, settings):
    settings.INBOUND_SOURCE_ALLOWLIST_ENABLED = True
    endpoint = endpoint_factory(user_id="shop1")
    refused = post_to(client, endpoint.inbound_path, REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden_source"
    assert not Callback.objects.exists()
    assert post_to(client, endpoint.inbound_path, REMOTE_ADDR="196.201.214.200").status_code == 200
    assert Callback.objects.get().source_ip == "196.201.214.200"


@pytest.mark.django_db(transaction=True)
def test_x_forwarded_for_is_believed_only_from_trusted_proxies(client, endpoint_factory, settings):
    settings.INBOUND_SOURCE_ALLOWLIST_ENABLED = True
    endpoint = endpoint_factory(user_id="shop1")
    # a stranger claiming to be Safaricom through the header: not believed
    settings.INBOUND_TRUSTED_PROXIES = []
    forged = post_to(
        client, endpoint.inbound_path, REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="196.201.214.200"
    )
    assert forged.status_code == 403
    # the same through our own proxy: believed
    settings.INBOUND_TRUSTED_PROXIES = ["10.0.0.0/8"]
    proxied = post_to(
        client, endpoint.inbound_path, REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="196.201.214.200"
    )
    assert proxied.status_code == 200
    # a stranger behind our proxy, who prepends a forged hop: the proxy's view wins
    spoofed = post_to(
        client,
        endpoint.inbound_path,
        REMOTE_ADDR="10.1.2.3",
        HTTP_X_FORWARDED_FOR="196.201.214.200, 203.0.113.9",
    )
    assert spoofed.status_code == 403


def test_client_address():
    assert client_address("10.0.0.1", "1.2.3.4", []) == "10.0.0.1"
    assert client_address("10.0.0.1", "1.2.3.4, 10.0.0.2", ["10.0.0.0/8"]) == "1.2.3.4"
    assert client_address("10.0.0.1", "garbage", ["10.0.0.0/8"]) is None
    assert client_address("10.0.0.1", None, ["10.0.0.0/8"]) == "10.0.0.1"


# --- no JSON object ever makes the door answer 5xx ----------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
mpesa_keys = st.sampled_from(
    [
        "Body",
        "stkCallback",
        "Result",
        "ResultCode",
        "ResultDesc",
        "CallbackMetadata",
        "Item",
        "TransID",
        "MSISDN",
        "ResultParameters",
        "ResultParameter",
        "Key",
        "Value",
        "Name",
        "Amount",
        "TransAmount",
        "OrgAccountBalance",
    ]
)
mpesa_like = st.recursive(
    json_values, lambda children: st.dictionaries(mpesa_keys, children, max_size=5), max_leaves=30
)


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.dictionaries(st.text(max_size=12) | mpesa_keys, mpesa_like, max_size=6))
def test_no_json_object_makes_the_inbound_view_answer_5xx(client, endpoint_factory, data):
    from webhooks.models import Endpoint

    # Examples share the test's transaction: make the endpoint once.
    endpoint = Endpoint.objects.filter(user_id="fuzz").first() or endpoint_factory(user_id="fuzz")
    response = post_to(client, endpoint.inbound_path, json.dumps(data).encode())
    assert response.status_code < 500, response.content
