"""Fixtures for the support admin's tests: the Support group as its migration makes it, and users."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

SUPPORT_GROUP_MIGRATION = "deadletter.migrations.0004_support_group"
SUPPORT_MERCHANTS_MIGRATION = "webhooks.migrations.0009_support_sees_merchants"
SUPPORT_VALIDATIONS_MIGRATION = "webhooks.migrations.0011_support_sees_validation_exchanges"
PASSWORD = "pw-for-tests-only"


def ensure_support_group():
    """The Support group as deadletter/migrations/0004 creates it (and webhooks/0009 and 0011 extend it).

    Transactional tests empty the database afterwards (groups too), so the
    migration's own function is run again rather than a copy of what it does.
    """
    importlib.import_module(SUPPORT_GROUP_MIGRATION).create_support_group(apps, None)
    importlib.import_module(SUPPORT_MERCHANTS_MIGRATION).let_support_see_merchants(apps, None)
    importlib.import_module(SUPPORT_VALIDATIONS_MIGRATION).let_support_see_validation_exchanges(apps, None)
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
