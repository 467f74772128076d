"""Admin login throttling (django-axes): ten wrong passwords lock that username from that address out."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from tests.daraja.admin.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Dozens of logins per test: a cheap hasher (the throttling does not depend on which)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def log_in(client: Client, username: str, password: str, address: str = "203.0.113.5"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def test_fifteen_wrong_passwords_lock_the_account_even_for_the_right_one(support_user):
    # given someone trying passwords for a support account
    client = Client()
    for _ in range(15):
        assert log_in(client, "agnes", "guess").status_code in (200, 429)

    # when the right password comes after them
    response = log_in(client, "agnes", PASSWORD)

    # then it is refused with a page that says why and what to do
    assert response.status_code == 429
    text = response.content.decode()
    assert "Too many wrong passwords" in text and "agnes" in text
    assert "axes_reset_username" in text
    assert not logged_in(client)


def test_nine_wrong_passwords_do_not_lock_and_a_success_starts_the_count_again(support_user):
    client = Client()
    for _ in range(9):
        assert log_in(client, "agnes", "guess").status_code == 200  # the form again, with its error
    assert log_in(client, "agnes", PASSWORD).status_code == 302
    assert logged_in(client)
    client.logout()
    for _ in range(9):
        log_in(client, "agnes", "guess")
    assert log_in(client, "agnes", PASSWORD).status_code == 302


def test_the_lockout_is_per_address_so_a_stranger_cannot_lock_a_colleague_out(support_user):
    stranger = Client()
    for _ in range(10):
        log_in(stranger, "agnes", "guess", address="198.51.100.9")
    assert log_in(stranger, "agnes", PASSWORD, address="198.51.100.9").status_code == 429

    agnes = Client()
    assert log_in(agnes, "agnes", PASSWORD, address="203.0.113.5").status_code == 302


def test_a_superuser_unlocks_with_the_command(support_user):
    client = Client()
    for _ in range(10):
        log_in(client, "agnes", "guess")
    assert log_in(client, "agnes", PASSWORD).status_code == 429

    call_command("axes_reset_username", "agnes")

    assert log_in(client, "agnes", PASSWORD).status_code == 302
    assert logged_in(client)


def test_a_superuser_sees_and_deletes_the_lockout_in_the_admin(support_user, staff_client):
    client = Client()
    for _ in range(10):
        log_in(client, "agnes", "guess")
    page = staff_client.get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and b"agnes" in page.content
    from axes.models import AccessAttempt

    attempt = AccessAttempt.objects.get(username="agnes")
    deleted = staff_client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302

    assert log_in(client, "agnes", PASSWORD).status_code == 302


def test_support_staff_cannot_unlock(support_client):
    assert support_client.get("/admin/axes/accessattempt/").status_code == 403
