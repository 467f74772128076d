"""/api/v1/dead-letters/: list with filters, retry one and many (delivered for real), purge, analysis."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deadletter.models import DeadLetter
from delivery.models import Delivery
from tests.support import run_worker

pytestmark = pytest.mark.django_db(transaction=True)

DEAD_LETTERS = "/api/v1/dead-letters/"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def dead_letters(two_shops, receive, refuse, settings):
    """Two dead letters of shop_a and one of shop_b, each refused once with HTTP 400 (the receiver
    answers 200 afterwards), dead in that order (sent one at a time). Returns ``(a1, a2, b1)``."""
    settings.DELIVERY_WORKER_CONCURRENCY = 1
    refuse("/a", 2)
    refuse("/b", 1)
    for user_id in ("shop_a", "shop_a", "shop_b"):
        receive(user_id)
    run_worker()
    a1, a2 = DeadLetter.objects.filter(endpoint__user_id="shop_a").order_by("id")
    b1 = DeadLetter.objects.get(endpoint__user_id="shop_b")
    return a1, a2, b1


def test_list_and_filters(operator, dead_letters):
    a1, a2, b1 = dead_letters
    assert ids(operator.get(DEAD_LETTERS)) == [b1.pk, a2.pk, a1.pk]
    assert ids(operator.get(DEAD_LETTERS, {"user_id": "shop_a"})) == [a2.pk, a1.pk]
    assert ids(operator.get(DEAD_LETTERS, {"error_category": "client_error", "http_status": 400})) == [
        b1.pk,
        a2.pk,
        a1.pk,
    ]
    assert ids(operator.get(DEAD_LETTERS, {"error_category": "timeout"})) == []
    assert ids(operator.get(DEAD_LETTERS, {"http_status": 503})) == []
    assert ids(operator.get(DEAD_LETTERS, {"kind": "stk_callback", "state": "open"})) == [b1.pk, a2.pk, a1.pk]
    assert ids(operator.get(DEAD_LETTERS, {"state": "resolved"})) == []
    DeadLetter.objects.filter(pk=a1.pk).update(dead_at=timezone.now() - timedelta(days=1))
    an_hour_ago = (timezone.now() - timedelta(hours=1)).isoformat()
    assert ids(operator.get(DEAD_LETTERS, {"dead_before": an_hour_ago})) == [a1.pk]
    assert ids(operator.get(DEAD_LETTERS, {"dead_after": an_hour_ago})) == [b1.pk, a2.pk]
    row = operator.get(DEAD_LETTERS, {"user_id": "shop_b"}).json()["results"][0]
    assert (row["state"], row["attempts"], row["last_response_status"], row["kind"]) == (
        "open",
        1,
        400,
        "stk_callback",
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"error_category": "boom"}, "error_category"),
        ({"http_status": "abc"}, "http_status"),
        ({"http_status": "42"}, "http_status"),
        ({"http_status": "4.5"}, "http_status"),
        ({"kind": "nope"}, "kind"),
        ({"state": "closed"}, "state"),
        ({"dead_after": "last tuesday"}, "dead_after"),
        ({"dead_before": "0001-01-01T00:00:00+01:00"}, "dead_before"),
    ],
)
def test_a_bad_filter_is_400_naming_it(operator, params, field):
    response = operator.get(DEAD_LETTERS, params)
    assert response.status_code == 400
    assert list(response.json()["detail"]) == [field]


def test_detail_has_the_delivery_and_its_attempts(operator, dead_letters):
    _, _, b1 = dead_letters
    body = operator.get(f"{DEAD_LETTERS}{b1.pk}/").json()
    assert body["delivery"]["status"] == "dead"
    [attempt] = body["delivery"]["attempts"]
    assert (attempt["response_status"], attempt["outcome"]) == (400, "dead_lettered")
    # the technical detail and a sentence for people, side by side
    assert (body["last_error"], body["error_summary"]) == (
        "HTTP 400",
        "The shop's app rejected the callback (400)",
    )
    assert (attempt["error_message"], attempt["error_summary"]) == (
        "HTTP 400",
        "The shop's app rejected the callback (400)",
    )


def test_retry_one_delivers_it_and_a_second_retry_is_409(operator, dead_letters, receiver):
    a1, _, _ = dead_letters
    response = operator.post(f"{DEAD_LETTERS}{a1.pk}/retry/")
    assert response.json() == {"queued": 1}
    run_worker()
    assert Delivery.objects.get(pk=a1.delivery_id).status == Delivery.Status.DELIVERED
    response = operator.post(f"{DEAD_LETTERS}{a1.pk}/retry/")
    assert response.status_code == 409
    assert response.json() == {"error": "conflict", "detail": "This dead letter was already retried."}


def test_bulk_retry_by_ids_delivers_them_for_real(operator, dead_letters, receiver):
    a1, a2, b1 = dead_letters
    before = len(receiver.requests_to("/a"))
    response = operator.post(f"{DEAD_LETTERS}retry/", {"ids": [a1.pk, a2.pk, 999999]})
    assert response.status_code == 200
    assert response.json() == {"matched": 2, "queued": 2, "remaining": 0}
    run_worker()
    assert len(receiver.requests_to("/a")) == before + 2
    assert Delivery.objects.get(pk=a1.delivery_id).status == Delivery.Status.DELIVERED
    assert Delivery.objects.get(pk=a2.delivery_id).status == Delivery.Status.DELIVERED
    assert Delivery.objects.get(pk=b1.delivery_id).status == Delivery.Status.DEAD
    # the same webhook-id on the redelivery, so the receiver can de-duplicate
    webhook_ids = [r.headers["webhook-id"] for r in receiver.requests_to("/a")]
    assert webhook_ids.count(Delivery.objects.get(pk=a1.delivery_id).webhook_id) == 2


def test_bulk_retry_of_yesterdays_dead_letters_for_one_user(operator, dead_letters, receiver):
    a1, a2, b1 = dead_letters
    now = timezone.localtime()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    DeadLetter.objects.filter(pk__in=[a1.pk, b1.pk]).update(dead_at=today - timedelta(hours=5))
    response = operator.post(
        f"{DEAD_LETTERS}retry/",
        {
            "filter": {
                "user_id": "shop_a",
                "dead_after": (today - timedelta(days=1)).isoformat(),
                "dead_before": today.isoformat(),
            }
        },
    )
    assert response.json() == {"matched": 1, "queued": 1, "remaining": 0}
    run_worker()
    assert Delivery.objects.get(pk=a1.delivery_id).status == Delivery.Status.DELIVERED
    assert Delivery.objects.get(pk=a2.delivery_id).status == Delivery.Status.DEAD
    assert Delivery.objects.get(pk=b1.delivery_id).status == Delivery.Status.DEAD
    assert DeadLetter.objects.get(pk=a1.pk).resolution == DeadLetter.Resolution.RETRIED


BAD_BULK_BODIES = [
    ({}, "non_field_errors"),
    ({"ids": [1], "filter": {"user_id": "shop_a"}}, "non_field_errors"),
    ({"ids": []}, "ids"),
    ({"ids": ["one"]}, "ids"),
    ({"ids": list(range(1, 1002))}, "ids"),
    ({"filter": {}}, "filter"),
    ({"filter": {"error_category": "boom"}}, "filter"),
    ({"filter": {"dead_after": "0001-01-01T00:00:00+01:00"}}, "filter"),
    ({"filter": {"http_status": 99}}, "filter"),
]


def test_a_bad_bulk_request_is_400_naming_the_field_and_retries_nothing(operator, dead_letters):
    for body, field in BAD_BULK_BODIES:
        response = operator.post(f"{DEAD_LETTERS}retry/", body)
        assert response.status_code == 400, body
        assert field in response.json()["detail"], (body, response.json())
    assert DeadLetter.objects.filter(resolved_at__isnull=True).count() == 3


def test_operator_purges_one_and_many(operator, dead_letters):
    a1, a2, b1 = dead_letters
    response = operator.post(f"{DEAD_LETTERS}{a1.pk}/purge/")
    assert response.json() == {"matched": 1, "purged": 1, "remaining": 0}
    response = operator.post(f"{DEAD_LETTERS}purge/", {"filter": {"user_id": "shop_b"}})
    assert response.json() == {"matched": 1, "purged": 1, "remaining": 0}
    assert DeadLetter.objects.get(pk=a1.pk).resolution == DeadLetter.Resolution.PURGED
    assert DeadLetter.objects.get(pk=b1.pk).resolution == DeadLetter.Resolution.PURGED
    assert DeadLetter.objects.get(pk=a2.pk).is_open
    assert Delivery.objects.get(pk=a1.delivery_id).status == Delivery.Status.DEAD
    assert operator.post(f"{DEAD_LETTERS}{a1.pk}/purge/").status_code == 409


def test_purge_is_refused_to_merchant_keys_even_for_their_own(shop_a, dead_letters):
    a1, a2, _ = dead_letters
    for path, body in [
        (f"{DEAD_LETTERS}{a1.pk}/purge/", {}),
        (f"{DEAD_LETTERS}purge/", {"ids": [a1.pk, a2.pk]}),
    ]:
        response = shop_a.post(path, body)
        assert response.status_code == 403
        assert response.json()["error"] == "permission_denied"
    assert DeadLetter.objects.filter(resolved_at__isnull=True).count() == 3


def test_failure_analysis_over_a_window(operator, shop_a, dead_letters):
    a1, _, _ = dead_letters
    DeadLetter.objects.filter(pk=a1.pk).update(dead_at=timezone.now() - timedelta(days=3))
    body = operator.get(f"{DEAD_LETTERS}analysis/").json()
    assert body["window_hours"] == 24
    assert body["total"] == 2
    assert body["by_error_category"] == [{"error_category": "client_error", "count": 2}]
    assert sorted(body["by_user"], key=lambda row: row["user_id"]) == [
        {"user_id": "shop_a", "count": 1},
        {"user_id": "shop_b", "count": 1},
    ]
    assert sorted(body["by_destination"], key=lambda row: row["user_id"]) == [
        {"user_id": "shop_a", "destination": "main", "count": 1},
        {"user_id": "shop_b", "destination": "main", "count": 1},
    ]
    assert body["by_http_status"] == [{"http_status": 400, "count": 2}]
    assert operator.get(f"{DEAD_LETTERS}analysis/", {"window": "7d"}).json()["total"] == 3
    assert operator.get(f"{DEAD_LETTERS}analysis/", {"window": "96h"}).json()["window_hours"] == 96
    mine = shop_a.get(f"{DEAD_LETTERS}analysis/", {"window": "7d"}).json()
    assert (mine["total"], mine["by_user"]) == (2, [{"user_id": "shop_a", "count": 2}])


@pytest.mark.parametrize("window", ["24", "0h", "1w", "91d", "-1d", "10000h"])
def test_a_bad_analysis_window_is_400_naming_it(operator, window):
    response = operator.get(f"{DEAD_LETTERS}analysis/", {"window": window})
    assert response.status_code == 400
    assert list(response.json()["detail"]) == ["window"]
