"""Fixtures of the fault suite: the receiver, a migrated template database, a private PostgreSQL."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.faults.processes import Database, PostgresCluster, throwaway_postgres
from tests.faults.stack import make_template, postgres_server_url
from tests.faults.traffic import FaultyReceiver


@pytest.fixture(scope="session")
def fault_receiver():
    receiver = FaultyReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="session")
def faults_dir():
    # Not under pytest's basetemp: the private PostgreSQL runs as another user and must reach its directory.
    directory = Path(tempfile.mkdtemp(prefix="daraja-faults-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def template(faults_dir, fault_receiver):
    """SQLite in a temp dir, or a throwaway database on the PostgreSQL server of ``postgres_server_url()``."""
    server = postgres_server_url()
    directory = faults_dir / "main"
    directory.mkdir()
    database = (
        throwaway_postgres(server, "daraja_faults") if server else Database.sqlite(directory / "t.sqlite3")
    )
    yield make_template(directory, database, fault_receiver.url("/hook"))
    database.drop()


@pytest.fixture(scope="session")
def private_postgres(faults_dir):
    cluster = PostgresCluster(faults_dir / "pg")
    cluster.start()
    yield cluster
    cluster.stop("immediate")


@pytest.fixture(scope="session")
def private_template(faults_dir, fault_receiver, private_postgres):
    """The template on the private cluster, for the scenario that restarts the database."""
    directory = faults_dir / "private"
    directory.mkdir()
    yield make_template(
        directory, throwaway_postgres(private_postgres.url(), "daraja"), fault_receiver.url("/hook")
    )
