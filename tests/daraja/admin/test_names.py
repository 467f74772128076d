"""Names people use: M-Pesa's names for callback kinds, user ids instead of database ids, one date
format, breadcrumbs and page buttons that fit the page."""

import re

import pytest

from deadletter.models import DeadLetter
from delivery.models import Delivery
from tests.helpers import post_callback
from tests.support import Reply, run_worker
from webhooks.models import Callback
from webhooks.mpesa import CallbackKind
from webhooks.mpesa.kinds import KIND_LABELS, kind_label

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_kind_has_mpesas_name():
    assert set(KIND_LABELS) == set(CallbackKind)
    assert kind_label("stk_callback") == "STK Push result"
    assert kind_label("c2b_validation") == "C2B validation"
    assert kind_label("b2c_result") == "B2C result"
    assert kind_label("something_new") == "something_new"


@pytest.fixture
def one_dead(client, receiver, endpoint_factory):
    endpoint_factory(user_id="shop1", max_attempts=1)
    receiver.script("/hook", Reply(status=500))
    post_callback(client, "shop1")
    run_worker()
    return DeadLetter.objects.get()


def test_labels_use_mpesa_names_and_user_ids(one_dead):
    callback = Callback.objects.get()
    assert str(callback) == f"STK Push result {callback.pk} for shop1"
    assert callback.get_kind_display() == "STK Push result"
    assert str(one_dead) == f"dead letter {one_dead.pk} of shop1: Server error (5xx)"
    assert str(Delivery.objects.get()).endswith("to shop1 (Dead-lettered)")


def test_pages_speak_support_words(support_client, one_dead):
    delivery = one_dead.delivery
    page = support_client.get(f"/admin/delivery/delivery/{delivery.pk}/change/").content.decode()
    assert 'href="/admin/delivery/">Delivery</a>' in page  # not "Deliveries", then "Deliveries" again
    assert ">Retry</button>" in page
    assert "dead deliveries)</button>" not in page
    listing = support_client.get("/admin/webhooks/callback/").content.decode()
    assert "STK Push result" in listing
    assert "Stk callback" not in listing
    letter_page = support_client.get(f"/admin/deadletter/deadletter/{one_dead.pk}/change/").content.decode()
    assert ">Retry</button>" in letter_page
    # one date format: "6 Dec 2026, 10:05:31" and never Django's "Dec. 6, 2026, 10:05 a.m."
    assert re.search(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d:\d\d", letter_page)
    assert not re.search(r"[ap]\.m\.", letter_page)
