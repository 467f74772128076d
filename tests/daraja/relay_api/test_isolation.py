"""A merchant key sees and acts on its own user's data alone: the other user's objects are 404 (or 403
for purging), and nothing of theirs changes."""

import pytest

from deadletter.models import DeadLetter
from delivery.models import Delivery
from tests.support import run_worker
from webhooks.models import Callback, Endpoint

pytestmark = pytest.mark.django_db(transaction=True)


def assert_not_found(response):
    assert response.status_code == 404, response.content
    assert response.json() == {"error": "not_found", "detail": "Not found."}


def test_endpoints_of_another_user_are_not_found_and_unchanged(shop_a, two_shops):
    _, b = two_shops
    assert [row["user_id"] for row in shop_a.get("/api/v1/endpoints/").json()["results"]] == ["shop_a"]
    assert_not_found(shop_a.get("/api/v1/endpoints/shop_b/"))
    assert_not_found(shop_a.patch("/api/v1/endpoints/shop_b/", {"url": "https://evil.example/"}))
    for action in ("pause", "resume", "rotate-secret"):
        assert_not_found(shop_a.post(f"/api/v1/endpoints/shop_b/{action}/"))
    after = Endpoint.objects.get(user_id="shop_b")
    assert (after.url, after.is_active, after.signing_secret) == (b.url, True, b.signing_secret)
    # nor can it create (or overwrite) another user's endpoint
    response = shop_a.post("/api/v1/endpoints/", {"user_id": "shop_b", "url": "https://evil.example/"})
    assert response.status_code == 403
    response = shop_a.post("/api/v1/endpoints/", {"user_id": "shop_c", "url": "https://evil.example/"})
    assert response.status_code == 403
    assert not Endpoint.objects.filter(user_id="shop_c").exists()


def test_callbacks_of_another_user_are_not_found_and_not_retried(shop_a, two_shops, receive):
    receive("shop_b")
    callback = Callback.objects.get()
    assert shop_a.get("/api/v1/callbacks/").json()["results"] == []
    assert shop_a.get("/api/v1/callbacks/", {"q": callback.checkout_request_id}).json()["results"] == []
    assert_not_found(shop_a.get(f"/api/v1/callbacks/{callback.pk}/"))
    before = Delivery.objects.get().updated_at
    assert_not_found(shop_a.post(f"/api/v1/callbacks/{callback.pk}/retry/"))
    assert Delivery.objects.get().updated_at == before


def test_dead_letters_of_another_user_cannot_be_read_retried_or_purged(
    shop_a, operator, two_shops, receive, refuse
):
    refuse("/b")
    receive("shop_b")
    run_worker()
    dead_letter = DeadLetter.objects.get()
    assert shop_a.get("/api/v1/dead-letters/").json()["results"] == []
    assert_not_found(shop_a.get(f"/api/v1/dead-letters/{dead_letter.pk}/"))
    assert_not_found(shop_a.post(f"/api/v1/dead-letters/{dead_letter.pk}/retry/"))
    assert shop_a.post("/api/v1/dead-letters/retry/", {"ids": [dead_letter.pk]}).json() == {
        "matched": 0,
        "queued": 0,
        "remaining": 0,
    }
    response = shop_a.post("/api/v1/dead-letters/retry/", {"filter": {"user_id": "shop_b"}})
    assert response.json()["matched"] == 0
    assert shop_a.post(f"/api/v1/dead-letters/{dead_letter.pk}/purge/").status_code == 403
    assert shop_a.post("/api/v1/dead-letters/purge/", {"ids": [dead_letter.pk]}).status_code == 403
    analysis = shop_a.get("/api/v1/dead-letters/analysis/").json()
    assert (analysis["total"], analysis["by_user"]) == (0, [])
    assert DeadLetter.objects.get().is_open
    assert Delivery.objects.get().status == Delivery.Status.DEAD
    # the operator sees it
    assert [row["id"] for row in operator.get("/api/v1/dead-letters/").json()["results"]] == [dead_letter.pk]
