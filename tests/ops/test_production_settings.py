"""``manage.py check --deploy`` is clean with the production environment of docs/operations.md."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from tests.ops.live import REPO

PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "relay.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://relay.example.com",
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "true",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
    "LOG_FORMAT": "json",
}


def manage(*args: str, env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "LOG_"))}
    base.update({"DJANGO_SETTINGS_MODULE": "daraja.settings", "DARAJA_VAR_DIR": str(tmp_path)})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_production_environment(tmp_path):
    done = manage("check", "--deploy", "--fail-level", "DEBUG", env=PRODUCTION, tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout


def test_check_deploy_names_what_is_missing_without_it(tmp_path):
    done = manage("check", "--deploy", env={"DJANGO_DEBUG": "false"}, tmp_path=tmp_path)
    for warning in ("security.W004", "security.W008", "security.W009", "security.W012", "security.W016"):
        assert warning in done.stdout + done.stderr


def test_the_https_switch_turns_on_redirect_and_secure_cookies_together(tmp_path):
    script = (
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
    )
    on = manage("shell", "-c", script, env={"DJANGO_SECURE_SSL_REDIRECT": "true"}, tmp_path=tmp_path)
    off = manage("shell", "-c", script, env={}, tmp_path=tmp_path)
    assert on.stdout.strip().splitlines()[-1].startswith("True True True")
    assert off.stdout.strip().splitlines()[-1].startswith("False False False")


@pytest.mark.django_db
def test_health_and_metrics_stay_on_plain_http_when_https_is_enforced(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/admin/login/").status_code == 301
    assert client.get("/health").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_an_unknown_log_format_is_refused_at_start(tmp_path):
    done = manage("check", env={"LOG_FORMAT": "xml"}, tmp_path=tmp_path)
    assert done.returncode != 0
    assert "LOG_FORMAT must be 'human' or 'json', not 'xml'" in done.stderr
