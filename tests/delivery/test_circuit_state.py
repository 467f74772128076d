"""The circuit's state has one owner: delivery's ``Circuit`` row, made with each destination, kept
across the upgrade (both ways), and a pause delivery asks for is never dropped silently."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from delivery.circuit import pause_for_gone
from delivery.models import Circuit, CircuitState
from delivery.signals import destination_pause_requested
from webhooks.models import Endpoint
from webhooks.receivers import pause_destination
from webhooks.services import endpoint_create_or_update

BEFORE_THE_MOVE = [
    ("webhooks", "0012_support_sees_validation_exchanges"),
    ("delivery", "0005_attempt_outcome_probe_failed"),
]


def delivery_check_ids() -> list[str]:
    return [message.id for message in checks.run_checks() if message.id.startswith("delivery.")]


@pytest.fixture
def nothing_receives_pauses():
    destination_pause_requested.disconnect(dispatch_uid="pause_destination")
    try:
        yield
    finally:
        destination_pause_requested.connect(pause_destination, dispatch_uid="pause_destination")


@pytest.mark.django_db
def test_every_new_destination_has_a_closed_circuit(endpoint_factory):
    # when destinations are made, by the service and by a plain save
    made, _ = endpoint_create_or_update(user_id="shop1", url="https://shop.example/hook")
    saved = endpoint_factory(user_id="shop2")
    # then each has its circuit, closed and counting nothing
    for endpoint in (made, saved):
        circuit = Circuit.objects.get(pk=endpoint.pk)
        assert (circuit.state, circuit.consecutive_failures, circuit.opened_at) == (
            CircuitState.CLOSED,
            0,
            None,
        )


@pytest.mark.django_db
def test_the_system_check_fails_when_nothing_pauses_destinations(nothing_receives_pauses):
    assert delivery_check_ids() == ["delivery.E001"]


@pytest.mark.django_db
def test_the_system_check_passes_with_webhooks_installed():
    assert delivery_check_ids() == []


@pytest.mark.django_db
def test_a_pause_nobody_receives_is_an_error_not_silence(endpoint_factory, nothing_receives_pauses):
    endpoint = endpoint_factory(user_id="shop1")
    with pytest.raises(ImproperlyConfigured):
        pause_for_gone(endpoint)
    endpoint.refresh_from_db()
    assert endpoint.is_active


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def endpoint_circuit_columns(endpoint_id: int) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT circuit_state, consecutive_failures, circuit_opened_at IS NOT NULL, circuit_probes "
            "FROM webhooks_endpoint WHERE id = %s",
            [endpoint_id],
        )
        return tuple(cursor.fetchone())


@pytest.mark.django_db(transaction=True)
def test_the_circuit_is_kept_when_the_migrations_go_back_and_forth(endpoint_factory):
    # given an open circuit after two failed probes, and a healthy one
    broken, healthy = endpoint_factory(user_id="shop-down"), endpoint_factory(user_id="shop-up")
    opened = timezone.now() - timedelta(hours=1)
    Circuit.objects.filter(pk=broken.pk).update(
        state=CircuitState.OPEN, consecutive_failures=7, opened_at=opened, failed_probes=2
    )
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        # when the migrations go back to before the move, the destination's columns hold it again
        migrate([node for node in latest if node[0] not in {"webhooks", "delivery"}] + BEFORE_THE_MOVE)
        assert endpoint_circuit_columns(broken.pk) == ("open", 7, True, 2)
        assert endpoint_circuit_columns(healthy.pk) == ("closed", 0, False, 0)
    finally:
        migrate(latest)
    # and forward again, each destination has its circuit as it was
    circuit = Endpoint.objects.get(pk=broken.pk).circuit
    assert (circuit.state, circuit.consecutive_failures, circuit.opened_at, circuit.failed_probes) == (
        CircuitState.OPEN,
        7,
        opened,
        2,
    )
    assert Endpoint.objects.get(pk=healthy.pk).circuit.state == CircuitState.CLOSED
    assert Circuit.objects.count() == 2
