"""Fixtures for the support admin's tests: the Support group as its migration makes it, and users."""

from __future__ import annotations

import functools
import importlib

import pytest

SUPPORT_GROUP_MIGRATION = ("deadletter", "0004_support_group", "create_support_group")
SUPPORT_MERCHANTS_MIGRATION = ("webhooks", "0009_support_sees_merchants", "let_support_see_merchants")
PAUSE_PERMISSION_MIGRATION = (
    "webhooks",
    "0010_pause_permission_on_endpoints",
    "move_pause_permission_to_endpoints",
)
SUPPORT_VALIDATIONS_MIGRATION = (
    "webhooks",
    "0012_support_sees_validation_exchanges",
    "let_support_see_validation_exchanges",
)
PASSWORD = "pw-for-tests-only"


@functools.cache
def _models_at(app_label: str, migration: str):
    """The models as they were when ``migration`` ran (what its function was written for)."""
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    return MigrationLoader(connection).project_state((app_label, migration)).apps


def ensure_support_group():
    """The Support group as deadletter/migrations/0004 creates it (webhooks 0009, 0010 and 0012 change it).

    Transactional tests empty the database afterwards (groups too), so the
    migrations' own functions are run again, each with the models of its
    time, rather than a copy of what they do.
    """
    for app_label, migration, function in (
        SUPPORT_GROUP_MIGRATION,
        SUPPORT_MERCHANTS_MIGRATION,
        PAUSE_PERMISSION_MIGRATION,
        SUPPORT_VALIDATIONS_MIGRATION,
    ):
        module = importlib.import_module(f"{app_label}.migrations.{migration}")
        getattr(module, function)(_models_at(app_label, migration), None)
    from django.contrib.auth.models import Group

    return Group.objects.get(name="Support")


@pytest.fixture
def support_user(django_user_model):
    user = django_user_model.objects.create_user("agnes", "agnes@example.com", PASSWORD, is_staff=True)
    user.groups.add(ensure_support_group())
    return user


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)


@pytest.fixture
def support_client(support_user):
    from django.test import Client

    client = Client()
    client.force_login(support_user)
    return client


@pytest.fixture
def staff_client(superuser):
    from django.test import Client

    client = Client()
    client.force_login(superuser)
    return client
