"""/api/v1/merchants/ and /api/v1/merchants/<user_id>/destinations/: a merchant's apps as a resource,
scoped like every other: a merchant key sees and changes its own merchant alone."""

import pytest

from delivery.models import Delivery
from tests.helpers import post_callback
from tests.support import run_worker
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db(transaction=True)


def destinations(user_id: str) -> str:
    return f"/api/v1/merchants/{user_id}/destinations/"


def test_a_merchant_adds_a_destination_and_its_kinds_route_the_next_callback(
    shop_a, two_shops, receiver, client
):
    # when shop_a adds an ERP that takes C2B confirmations only, and a shop app for STK results
    erp = shop_a.post(
        destinations("shop_a"), {"name": "erp", "url": receiver.url("/erp"), "kinds": ["c2b_confirmation"]}
    )
    app = shop_a.post(
        destinations("shop_a"), {"name": "app", "url": receiver.url("/app"), "kinds": ["stk_callback"]}
    )

    # then each is created with its own secret, shown this once
    assert (erp.status_code, app.status_code) == (201, 201), erp.content
    assert erp.json()["kinds"] == ["c2b_confirmation"]
    assert erp.json()["signing_secret"] == Endpoint.objects.get(user_id="shop_a", name="erp").signing_secret
    listed = shop_a.get(destinations("shop_a")).json()["results"]
    assert [(d["name"], d["kinds"]) for d in listed] == [
        ("main", []),
        ("erp", ["c2b_confirmation"]),
        ("app", ["stk_callback"]),
    ]
    assert "signing_secret" not in shop_a.get(destinations("shop_a")).text
    assert shop_a.get("/api/v1/merchants/shop_a/").json()["destinations"] == ["main", "erp", "app"]

    # and an STK result goes to the main app and the shop app, not the ERP
    post_callback(client, "shop_a")
    run_worker()
    assert [len(receiver.requests_to(path)) for path in ("/a", "/app", "/erp")] == [1, 1, 0]
    callback = shop_a.get("/api/v1/callbacks/").json()["results"][0]
    assert sorted(d["destination"] for d in callback["deliveries"]) == ["app", "main"]
    assert callback["delivery"]["destination"] == "main"  # the deprecated single delivery: the first


def test_kinds_change_and_bad_values_are_refused_plainly(shop_a, two_shops):
    path = destinations("shop_a") + "main/"
    changed = shop_a.patch(path, {"kinds": ["b2c_result", "c2b_confirmation"]})
    assert changed.status_code == 200
    assert Endpoint.objects.get(user_id="shop_a").kinds == ["b2c_result", "c2b_confirmation"]

    for bad in (["stk"], "b2c_result", ["b2c_result", "b2c_result"]):
        response = shop_a.patch(path, {"kinds": bad})
        assert response.status_code == 400, bad
        assert "kinds" in response.json()["detail"]
    assert Endpoint.objects.get(user_id="shop_a").kinds == ["b2c_result", "c2b_confirmation"]

    bad_name = shop_a.post(destinations("shop_a"), {"name": "Not OK", "url": "https://erp.example/hook"})
    assert bad_name.status_code == 400 and "name" in bad_name.json()["detail"]
    taken = shop_a.post(destinations("shop_a"), {"name": "main", "url": "https://erp.example/hook"})
    assert taken.status_code == 409
    assert Endpoint.objects.filter(user_id="shop_a").count() == 1


def test_a_merchant_key_cannot_see_or_touch_another_merchants_destinations(shop_a, two_shops):
    for response in (
        shop_a.get(destinations("shop_b")),
        shop_a.get(destinations("shop_b") + "main/"),
        shop_a.post(destinations("shop_b"), {"name": "erp", "url": "https://erp.example/hook"}),
        shop_a.post(destinations("shop_b") + "main/pause/"),
        shop_a.get("/api/v1/merchants/shop_b/"),
    ):
        assert response.status_code == 404, response.content
    assert [m["user_id"] for m in shop_a.get("/api/v1/merchants/").json()["results"]] == ["shop_a"]
    assert Endpoint.objects.filter(user_id="shop_b").count() == 1
    assert Endpoint.objects.get(user_id="shop_b").is_active


def test_only_a_destination_without_deliveries_can_be_removed(operator, two_shops, client):
    operator.post(destinations("shop_a"), {"name": "spare", "url": "https://spare.example/hook"})
    post_callback(client, "shop_a")  # main gets a delivery (and so does spare)

    used = operator.client.delete(destinations("shop_a") + "main/")
    assert used.status_code == 409
    assert "pause it instead" in used.json()["detail"]

    Delivery.objects.filter(endpoint__name="spare").delete()
    unused = operator.client.delete(destinations("shop_a") + "spare/")
    assert unused.status_code == 204
    assert list(Endpoint.objects.filter(user_id="shop_a").values_list("name", flat=True)) == ["main"]


def test_the_endpoints_resource_still_speaks_of_each_merchants_first_destination(operator, two_shops):
    operator.post(destinations("shop_a"), {"name": "erp", "url": "https://erp.example/hook"})

    listed = operator.get("/api/v1/endpoints/").json()["results"]
    assert [(e["user_id"], e["name"]) for e in listed] == [("shop_a", "main"), ("shop_b", "main")]
    assert operator.get("/api/v1/endpoints/shop_a/").json()["name"] == "main"
