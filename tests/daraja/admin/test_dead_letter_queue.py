"""The dead-letter queue's pages: retry everything a filter matches, purge after a confirmation,
retry from a delivery's page, the failure analysis; each action in the admin log."""

import pytest
from django.contrib.admin.models import LogEntry

from deadletter.models import DeadLetter
from delivery.models import Delivery
from tests.helpers import post_callback
from tests.support import Reply, run_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def three_dead_letters(client, receiver, endpoint_factory):
    """Two server errors (shop1) and one client error (shop2), each after a single attempt."""
    endpoint_factory(user_id="shop1", max_attempts=1)
    endpoint_factory(user_id="shop2", max_attempts=1, url=receiver.url("/gone"))
    receiver.script("/hook", Reply(status=500), Reply(status=503))
    receiver.script("/gone", Reply(status=404))
    for user_id in ["shop1", "shop1", "shop2"]:
        post_callback(client, user_id)
    run_worker()
    assert DeadLetter.objects.count() == 3
    return DeadLetter.objects.all()


def test_retry_everything_matching_the_filter_states_the_count_then_retries(
    support_client, support_user, three_dead_letters
):
    url = "/admin/deadletter/deadletter/retry-matching/?error_category__exact=server_error"
    listing = support_client.get("/admin/deadletter/deadletter/?error_category__exact=server_error")
    assert (
        'href="/admin/deadletter/deadletter/retry-matching/?error_category__exact=server_error"'
        in listing.text
    )
    confirmation = support_client.get(url)
    assert "2 dead letters waiting in the queue match this filter." in confirmation.text
    assert "Server error (5xx)" in confirmation.text  # the filter in words, not its stored value
    assert "server_error" not in confirmation.text.replace("error_category__exact=server_error", "")
    assert DeadLetter.objects.filter(resolved_at__isnull=True).count() == 3  # nothing done yet

    response = support_client.post(url, follow=True)
    assert "2 deliveries sent back to the queue." in response.text
    run_worker()
    server_errors = three_dead_letters.filter(error_category="server_error")
    assert set(Delivery.objects.filter(dead_letters__in=server_errors).values_list("status", flat=True)) == {
        Delivery.Status.DELIVERED
    }
    assert DeadLetter.objects.get(error_category="client_error").is_open
    logged = LogEntry.objects.filter(user=support_user, change_message="Retried from the dead-letter queue.")
    assert sorted(int(entry.object_id) for entry in logged) == sorted(s.pk for s in server_errors)


def test_purge_needs_a_confirmation_and_keeps_the_record(staff_client, superuser, three_dead_letters):
    ids = list(three_dead_letters.filter(endpoint__user_id="shop1").values_list("pk", flat=True))
    confirmation = staff_client.post(
        "/admin/deadletter/deadletter/", {"action": "purge_selected", "_selected_action": ids}
    )
    assert "Purge 2 dead letters?" in confirmation.text
    assert DeadLetter.objects.filter(resolved_at__isnull=True).count() == 3

    response = staff_client.post(
        "/admin/deadletter/deadletter/",
        {"action": "purge_selected", "_selected_action": ids, "post": "yes"},
        follow=True,
    )
    assert "2 dead letters purged." in response.text
    assert set(DeadLetter.objects.filter(pk__in=ids).values_list("resolution", flat=True)) == {"purged"}
    assert DeadLetter.objects.filter(resolved_at__isnull=True).count() == 1
    assert (
        LogEntry.objects.filter(user=superuser, change_message="Purged from the dead-letter queue.").count()
        == 2
    )
    # purged letters leave the default (open) list, and stay visible under "Retried or purged"
    assert (
        f"/admin/deadletter/deadletter/{ids[0]}/change/"
        not in staff_client.get("/admin/deadletter/deadletter/").text
    )
    assert (
        f"/admin/deadletter/deadletter/{ids[0]}/change/"
        in staff_client.get("/admin/deadletter/deadletter/?state=resolved").text
    )


def test_a_dead_delivery_is_retried_from_its_own_page_and_the_timeline_tells_the_story(
    support_client, three_dead_letters
):
    dead_letter = three_dead_letters.filter(error_category="server_error").first()
    page = support_client.get(f"/admin/delivery/delivery/{dead_letter.delivery_id}/change/")
    button = f"/admin/delivery/delivery/{dead_letter.delivery_id}/do/retry_from_dead_letter_queue/"
    assert button in page.text
    assert "/do/retry_now/" not in page.text
    response = support_client.post(button, follow=True)
    assert "1 dead delivery sent back to the queue." in response.text
    run_worker()
    page = support_client.get(f"/admin/delivery/delivery/{dead_letter.delivery_id}/change/")
    text = page.text
    assert "Gave up: moved to the dead-letter queue" in text
    assert "Retried from the dead-letter queue" in text
    assert "Attempt 2 (round 2)" in text
    assert "Delivered: the shop&#x27;s app accepted it" in text
    assert text.index("Gave up") < text.index("Retried from") < text.index("Attempt 2 (round 2)")


def test_failure_analysis_counts_by_category_user_and_status(support_client, three_dead_letters):
    page = support_client.get("/admin/deadletter/deadletter/analysis/")
    assert "Last 24 hours: 3 dead letters" in page.text
    assert "Last 7 days: 3 dead letters" in page.text
    assert "Server error (5xx)" in page.text
    assert "shop1" in page.text
    assert "error_category__exact=server_error" in page.text
    # per destination too, each row linking to that destination's letters
    from webhooks.models import Endpoint

    destination = Endpoint.objects.get(user_id="shop1")
    assert "shop1/main" in page.text
    assert f"destination={destination.pk}" in page.text
    listed = support_client.get(f"/admin/deadletter/deadletter/?state=all&destination={destination.pk}")
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == DeadLetter.objects.filter(endpoint=destination).count() > 0
    other = support_client.get(f"/admin/deadletter/deadletter/?state=all&destination={destination.pk + 999}")
    assert other.context["cl"].result_count == 0
