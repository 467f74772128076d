"""Indexes that earn their place on the webhooks, delivery and dead-letter tables (the migrations' result).

The test database is built by the migrations, so what is checked here is
what an upgraded production database has.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from deadletter.models import DeadLetter
from delivery.models import Delivery, DeliveryAttempt
from webhooks.models import Callback, Endpoint


def indexes(model) -> dict[str, tuple[str, ...]]:
    """The table's indexes: name → columns."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {name: tuple(details["columns"]) for name, details in constraints.items() if details["index"]}


def index_names(model) -> set[str]:
    return set(indexes(model))


@pytest.mark.django_db
def test_no_like_index_is_left_on_the_webhooks_delivery_and_dead_letter_tables():
    for model in (Callback, Endpoint, DeadLetter, Delivery, DeliveryAttempt):
        assert not {name for name in index_names(model) if name.endswith("_like")}, model


@pytest.mark.django_db
def test_callbacks_keep_the_indexes_their_queries_use_and_nothing_a_composite_covers():
    assert "callback_duplicate_idx" in index_names(Callback)
    columns = set(indexes(Callback).values())
    # the ids people search by and the listing's order keep their own index
    for column in ("receipt_number", "checkout_request_id", "trans_id", "conversation_id", "received_at"):
        assert (column,) in columns, column
    # the merchant alone is served by callback_duplicate_idx, which leads with it
    assert ("merchant_id",) not in columns


@pytest.mark.django_db(transaction=True)
def test_the_index_migrations_go_back_and_forth():
    # given the database at the latest migrations
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        # when they are unapplied, the dropped indexes come back
        executor.migrate([("webhooks", "0003_endpoint_max_in_flight"), ("deadletter", "0004_support_group")])
        names = index_names(Callback)
        if connection.vendor == "postgresql":
            assert any(name.endswith("_like") for name in names)
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, Callback._meta.db_table)
        assert any(
            details["columns"] == ["endpoint_id"] and details["index"] for details in constraints.values()
        )
    finally:
        # and applied again, they go
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(latest)
    assert not {name for name in index_names(Callback) if name.endswith("_like")}


@pytest.mark.django_db
def test_deliveries_have_the_claim_indexes_and_no_single_column_index_they_cover():
    names, columns = index_names(Delivery), set(indexes(Delivery).values())
    assert {"delivery_claim_idx", "delivery_inflight_idx", "delivery_due_idx"} <= names
    for column in ("status", "priority", "next_attempt_at"):
        assert (column,) not in columns, column
    # attempts: the unique (delivery, attempt number) key leads with the delivery
    assert ("delivery_id",) not in set(indexes(DeliveryAttempt).values())
