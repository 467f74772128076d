"""List pages cost the same number of queries with 5 rows as with 50 (no N+1), and the
generate_volume command that fills a scratch database for a check at real volume."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from daraja.management.commands.generate_volume import generate_volume
from deadletter.models import DeadLetter
from delivery.models import Delivery, DeliveryAttempt
from webhooks.models import Callback, Endpoint

pytestmark = pytest.mark.django_db

PAGES = [
    "/admin/webhooks/endpoint/",
    "/admin/webhooks/callback/",
    "/admin/webhooks/callback/?status=dead",
    "/admin/webhooks/callback/?kind=stk_callback&priority=5",
    "/admin/webhooks/callback/?q=149",
    "/admin/delivery/delivery/",
    "/admin/delivery/delivery/?status__exact=dead&kind=stk_callback",
    "/admin/deadletter/deadletter/",
    "/admin/deadletter/deadletter/?error_category__exact=server_error",
    "/admin/deadletter/deadletter/?state=all&last_response_status__exact=503",
    "/admin/deadletter/deadletter/analysis/",
    "/admin/dashboard/",
]


def queries_for(client, page) -> int:
    client.get(page)  # warm: the first request may fill caches (content types…)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(page)
    assert response.status_code == 200
    return len(queries)


def rows_listed(client, page) -> int:
    return client.get(page).text.count('<th class="field-')


@pytest.mark.parametrize("page", PAGES)
def test_a_list_page_costs_the_same_queries_with_5_rows_as_with_50(support_client, page):
    generate_volume(callbacks=5, dead_letters=5, endpoints=5, days=0.5)
    few = queries_for(support_client, page)
    listed_few = rows_listed(support_client, page)
    generate_volume(callbacks=45, dead_letters=45, endpoints=45, days=0.5)
    many = queries_for(support_client, page)
    assert many == few
    if "analysis" not in page and "dashboard" not in page and "q=" not in page and "503" not in page:
        assert rows_listed(support_client, page) > listed_few > 0


def test_generate_volume_writes_what_it_says(capsys):
    call_command("generate_volume", "--callbacks", "300", "--dead-letters", "40", "--endpoints", "3")
    assert "Wrote 3 endpoints, 300 callbacks, 300 deliveries" in capsys.readouterr().out
    assert Callback.objects.count() == Delivery.objects.count() == 300
    assert DeadLetter.objects.filter(resolved_at__isnull=True).count() == 40
    assert Delivery.objects.filter(status=Delivery.Status.DEAD).count() == 40
    assert DeliveryAttempt.objects.filter(delivery__status=Delivery.Status.DELIVERED).exists()
    assert not Delivery.objects.filter(attempt_count=0).exists()


@pytest.mark.parametrize(
    "arguments",
    [
        ["--callbacks", "5", "--dead-letters", "6"],
        ["--callbacks", "-1"],
        ["--endpoints", "0"],
        ["--days", "0"],
    ],
)
def test_generate_volume_refuses_bad_numbers_and_writes_nothing(arguments):
    with pytest.raises(CommandError):
        call_command("generate_volume", *arguments)
    assert not Endpoint.objects.exists()
    assert not Callback.objects.exists()
