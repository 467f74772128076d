"""A support person in a real browser: filters the dead-letter queue by error category, retries the
selection against an app that now answers 200, sees the deliveries delivered in their timeline;
and is refused purge. Screenshots of the dashboard, the dead-letter list and a timeline."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from deadletter.models import DeadLetter
from delivery.models import Delivery
from tests.browser.conftest import log_in
from tests.daraja.admin.conftest import PASSWORD
from tests.helpers import post_callback
from tests.support import Reply, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def failures(client, receiver, endpoint_factory):
    """A morning's trouble: shop-down answered 500/503, shop-gone 404, shop-auth 401; shop-ok is fine
    (one 503 first, retried). Every failing shop allows a single attempt, so each failure is dead."""
    endpoint_factory(user_id="shop-down", max_attempts=1, url=receiver.url("/down"))
    endpoint_factory(user_id="shop-gone", max_attempts=1, url=receiver.url("/gone"))
    endpoint_factory(user_id="shop-auth", max_attempts=1, url=receiver.url("/auth"))
    endpoint_factory(user_id="shop-ok", url=receiver.url("/ok"))
    receiver.script(
        "/down", Reply(status=500, body=b"upstream exploded"), Reply(status=503, body=b"maintenance")
    )
    receiver.script("/gone", Reply(status=404, body=b"no such page"))
    receiver.script("/auth", Reply(status=401, body=b"bad token"))
    receiver.script("/ok", Reply(status=503, body=b"warming up"))
    for user_id in ["shop-ok", "shop-down", "shop-down", "shop-gone", "shop-auth", "shop-ok", "shop-ok"]:
        post_callback(client, user_id)
    run_worker()
    assert DeadLetter.objects.filter(resolved_at__isnull=True).count() == 4


def test_support_bulk_retries_a_category_and_sees_it_delivered(
    live_server, page, screenshot, support_user, failures
):
    log_in(page, live_server, support_user.username, PASSWORD)
    page.goto(f"{live_server.url}/admin/deadletter/deadletter/")
    expect(page.locator("#result_list tbody tr")).to_have_count(4)

    # filter by error category, from the sidebar
    page.locator("#changelist-filter").get_by_role("link", name="Server error (5xx)").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("shop-down")
    screenshot("dead-letter-queue")

    # retry the whole selection
    page.locator("#action-toggle").check()
    page.select_option("select[name=action]", "retry_selected")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist")).to_contain_text("2 deliveries sent back to the queue.")
    expect(page.locator("#result_list tbody tr")).to_have_count(0)  # no longer waiting in the queue

    run_worker()  # the shop's app answers 200 now (its scripted failures are used up)

    # follow a retried letter to its delivery's timeline
    page.goto(f"{live_server.url}/admin/deadletter/deadletter/?state=all&error_category__exact=server_error")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    page.locator("#result_list tbody tr").first.get_by_role(
        "link", name=re.compile(r"^open delivery \d+$")
    ).click()
    timeline = page.locator("table.daraja-timeline")
    expect(timeline).to_contain_text("Gave up: moved to the dead-letter queue")
    expect(timeline).to_contain_text("Retried from the dead-letter queue")
    expect(timeline).to_contain_text("Delivered: the shop's app accepted it")
    expect(timeline).to_contain_text("Now: delivered")
    expect(page.locator(".daraja-status").first).to_have_text("Delivered")
    screenshot("delivery-timeline")

    retried = DeadLetter.objects.filter(error_category="server_error").values("delivery_id")
    assert set(Delivery.objects.filter(pk__in=retried).values_list("status", flat=True)) == {"delivered"}
    assert DeadLetter.objects.filter(resolved_at__isnull=True).count() == 2  # the 404 and the 401 wait

    page.goto(f"{live_server.url}/admin/dashboard/")
    expect(page.locator("#redis-status")).to_have_text("OK")
    expect(page.locator("#dead-letters-open")).to_have_text("2")
    expect(page.locator("svg#delivery-chart rect.delivered")).to_have_count(24)
    screenshot("dashboard")


def test_support_is_refused_purge(live_server, page, support_user, failures):
    log_in(page, live_server, support_user.username, PASSWORD)
    page.goto(f"{live_server.url}/admin/deadletter/deadletter/")
    options = page.locator("select[name=action] option").evaluate_all("nodes => nodes.map(n => n.value)")
    assert "retry_selected" in options
    assert "purge_selected" not in options

    letter = DeadLetter.objects.filter(resolved_at__isnull=True).first()
    page.goto(f"{live_server.url}/admin/deadletter/deadletter/{letter.pk}/change/")
    expect(page.get_by_role("button", name="Retry", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Purge"))).to_have_count(0)

    # even a purge request made by hand (with a valid CSRF token) is refused
    purge_url = f"/admin/deadletter/deadletter/{letter.pk}/do/purge_selected/"
    with page.expect_navigation() as navigation:
        page.evaluate(
            """(url) => {
                const form = document.createElement('form');
                form.method = 'post';
                form.action = url;
                form.appendChild(document.querySelector('[name=csrfmiddlewaretoken]').cloneNode());
                document.body.appendChild(form);
                form.submit();
            }""",
            purge_url,
        )
    assert navigation.value.status == 403
    letter.refresh_from_db()
    assert letter.is_open


def test_a_superuser_purges_after_confirming(live_server, page, superuser, failures):
    log_in(page, live_server, superuser.username, PASSWORD)
    page.goto(f"{live_server.url}/admin/deadletter/deadletter/?error_category__exact=client_error")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.locator("#action-toggle").check()
    page.select_option("select[name=action]", "purge_selected")
    page.get_by_role("button", name="Go").click()
    expect(page.locator("#content-main")).to_contain_text("Purge 1 dead letter?")
    assert DeadLetter.objects.get(error_category="client_error").is_open  # not before confirming
    page.get_by_role("button", name="Yes, purge 1").click()
    expect(page.locator(".messagelist")).to_contain_text("1 dead letter purged.")
    assert DeadLetter.objects.get(error_category="client_error").resolution == "purged"
