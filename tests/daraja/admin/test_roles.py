"""Roles: the Support group views everything, retries, pauses and resumes; purging, rotating secrets
and editing endpoints stay with superusers. Every admin action lands in the admin log."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from deadletter.models import DeadLetter
from tests.helpers import MPESA_PAYLOADS, post_callback
from tests.support import Reply, run_worker
from webhooks.models import Endpoint, ValidationExchange

SUPPORT_PERMISSIONS = {
    "webhooks.view_endpoint",
    "webhooks.view_merchant",
    "webhooks.view_callback",
    "webhooks.view_validationexchange",
    "delivery.view_delivery",
    "delivery.view_deliveryattempt",
    "deadletter.view_deadletter",
    "deadletter.retry_deadletter",
    "webhooks.pause_endpoint",
}


@pytest.mark.django_db
def test_the_migration_creates_the_support_group_with_exactly_its_permissions():
    # Non-transactional tests run first, on the database exactly as the migrations left it.
    group = Group.objects.get(name="Support")
    granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
    assert granted == SUPPORT_PERMISSIONS


@pytest.mark.django_db(transaction=True)
def test_the_pause_permission_moves_to_destinations_and_whoever_had_it_keeps_it(django_user_model):
    # given the database before the move, with a user given the permission on dead letters by hand
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate([("webhooks", "0009_support_sees_merchants")])
        on_dead_letters = Permission.objects.get(
            content_type__app_label="deadletter", codename="pause_endpoint"
        )
        user = django_user_model.objects.create_user("pauser", is_staff=True)
        user.user_permissions.add(on_dead_letters)
        # when the migrations run
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
    finally:
        MigrationExecutor(connection).migrate(latest)
    # then the same row is the destinations' permission, and the user still holds it
    moved = Permission.objects.get(pk=on_dead_letters.pk)
    assert (moved.content_type.app_label, moved.content_type.model) == ("webhooks", "endpoint")
    assert django_user_model.objects.get(pk=user.pk).has_perm("webhooks.pause_endpoint")
    assert not Permission.objects.filter(content_type__app_label="deadletter", codename="pause_endpoint")


@pytest.fixture
def dead_letter(client, receiver, endpoint_factory):
    endpoint_factory(user_id="shop1", max_attempts=1)
    receiver.script("/hook", Reply(status=500))
    post_callback(client, "shop1")
    run_worker()
    return DeadLetter.objects.get()


@pytest.mark.django_db(transaction=True)
def test_support_sees_every_page_but_cannot_edit_endpoints(support_client, dead_letter):
    endpoint = Endpoint.objects.get()
    for page in [
        "/admin/",
        "/admin/dashboard/",
        "/admin/webhooks/endpoint/",
        f"/admin/webhooks/endpoint/{endpoint.pk}/change/",
        "/admin/webhooks/callback/",
        f"/admin/webhooks/callback/{dead_letter.callback_id}/change/",
        "/admin/delivery/delivery/",
        f"/admin/delivery/delivery/{dead_letter.delivery_id}/change/",
        "/admin/deadletter/deadletter/",
        f"/admin/deadletter/deadletter/{dead_letter.pk}/change/",
        "/admin/deadletter/deadletter/analysis/",
    ]:
        assert support_client.get(page).status_code == 200, page
    response = support_client.post(
        f"/admin/webhooks/endpoint/{endpoint.pk}/change/", {"url": "https://evil.example/", "max_attempts": 9}
    )
    assert response.status_code == 403
    assert support_client.get("/admin/webhooks/endpoint/add/").status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.max_attempts == 1


@pytest.mark.django_db(transaction=True)
def test_support_is_refused_purge_and_secret_rotation(support_client, dead_letter):
    listing = support_client.get("/admin/deadletter/deadletter/")
    assert 'value="retry_selected"' in listing.text
    assert 'value="purge_selected"' not in listing.text
    # a hand-made POST of the action is ignored, the object's purge URL refuses
    support_client.post(
        "/admin/deadletter/deadletter/",
        {"action": "purge_selected", "_selected_action": [dead_letter.pk], "post": "yes"},
    )
    purge_url = f"/admin/deadletter/deadletter/{dead_letter.pk}/do/purge_selected/"
    assert support_client.post(purge_url, {"post": "yes"}).status_code == 403
    dead_letter.refresh_from_db()
    assert dead_letter.is_open
    endpoint = Endpoint.objects.get()
    secret = endpoint.signing_secret
    endpoints = support_client.get("/admin/webhooks/endpoint/")
    assert 'value="pause"' in endpoints.text
    assert 'value="rotate_secret"' not in endpoints.text
    assert 'value="send_test_delivery"' not in endpoints.text
    support_client.post(
        "/admin/webhooks/endpoint/", {"action": "rotate_secret", "_selected_action": [endpoint.pk]}
    )
    assert support_client.post(f"/admin/webhooks/endpoint/{endpoint.pk}/do/rotate_secret/").status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.signing_secret == secret


@pytest.mark.django_db(transaction=True)
def test_support_pauses_and_resumes_from_the_endpoint_page_and_it_is_logged(
    support_client, support_user, endpoint_factory
):
    endpoint = endpoint_factory(user_id="shop1")
    page = support_client.get(f"/admin/webhooks/endpoint/{endpoint.pk}/change/")
    assert f"/admin/webhooks/endpoint/{endpoint.pk}/do/pause/" in page.text
    assert "/do/resume/" not in page.text
    response = support_client.post(f"/admin/webhooks/endpoint/{endpoint.pk}/do/pause/", follow=True)
    assert "1 endpoint paused." in response.text
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    support_client.post(f"/admin/webhooks/endpoint/{endpoint.pk}/do/resume/")
    endpoint.refresh_from_db()
    assert endpoint.is_active
    messages = list(
        LogEntry.objects.filter(user=support_user, object_id=str(endpoint.pk))
        .order_by("pk")
        .values_list("change_message", flat=True)
    )
    assert messages == ["Paused: deliveries wait until it is resumed.", "Resumed: waiting deliveries sent."]


@pytest.mark.django_db(transaction=True)
def test_a_staff_member_without_the_retry_permission_cannot_retry(client, django_user_model, dead_letter):
    viewer = django_user_model.objects.create_user("viewer", password="pw-for-tests-only", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_deadletter"))
    client.force_login(viewer)
    assert client.get("/admin/deadletter/deadletter/").status_code == 200
    assert client.get("/admin/deadletter/deadletter/retry-matching/").status_code == 403
    client.post(
        "/admin/deadletter/deadletter/", {"action": "retry_selected", "_selected_action": [dead_letter.pk]}
    )
    dead_letter.refresh_from_db()
    assert dead_letter.is_open


@pytest.mark.django_db(transaction=True)
def test_support_reads_what_a_validation_url_answered_and_when(
    support_client, client, receiver, endpoint_factory
):
    # Given a C2B validation whose validation URL failed
    endpoint = endpoint_factory(user_id="shop1", validation_url=receiver.url("/validate"))
    receiver.script("/validate", Reply(status=500, body=b"validator crashed"))
    body = (MPESA_PAYLOADS / "c2b_validation.json").read_bytes()
    client.generic("POST", endpoint.inbound_path + "/c2b-validation", body, "application/json")
    exchange = ValidationExchange.objects.get()
    # When support opens the callback, the list of callbacks and the exchange's own pages
    callback_page = support_client.get(f"/admin/webhooks/callback/{exchange.callback_id}/change/")
    callbacks = support_client.get("/admin/webhooks/callback/")
    exchanges = support_client.get("/admin/webhooks/validationexchange/")
    exchange_page = support_client.get(f"/admin/webhooks/validationexchange/{exchange.pk}/change/")
    # Then each shows what the validation URL answered and what M-Pesa got
    for page in (callback_page, exchange_page):
        assert page.status_code == 200
        assert "validator crashed" in page.text
        assert "The shop&#x27;s app answered 500" in page.text
        assert "No usable answer: the fallback answered" in page.text
        assert exchange.webhook_id in page.text
    assert "C2B validation:" in callbacks.text
    found = support_client.get("/admin/webhooks/callback/", {"q": exchange.webhook_id})
    assert f"/admin/webhooks/callback/{exchange.callback_id}/change/" in found.text
    assert exchanges.status_code == 200
    assert "HTTP 500" in exchanges.text
