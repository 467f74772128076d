"""``manage.py add_endpoint``: creates or updates, prints JSON, refuses bad arguments."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db


def add_endpoint(*args) -> dict:
    out = io.StringIO()
    call_command("add_endpoint", *args, stdout=out)
    return json.loads(out.getvalue())


def test_creates_an_endpoint_with_defaults_and_prints_what_m_pesa_and_the_merchant_need():
    printed = add_endpoint("shop1", "--url", "https://shop.example/hooks/mpesa")
    endpoint = Endpoint.objects.get(user_id="shop1")
    assert printed["created"] is True
    assert printed["user_id"] == "shop1"
    assert printed["url"] == "https://shop.example/hooks/mpesa"
    assert printed["inbound_path"] == f"/webhook/shop1/{endpoint.inbound_token}"
    assert len(endpoint.inbound_token) == 32
    assert printed["signing_secret"] == endpoint.signing_secret
    assert printed["signing_secret"].startswith("whsec_")
    assert (printed["max_attempts"], printed["initial_delay_seconds"], printed["backoff_multiplier"]) == (
        3,
        2.0,
        2.0,
    )
    assert (printed["timeout_seconds"], printed["default_priority"]) == (30.0, "normal")
    assert printed["max_in_flight"] == endpoint.max_in_flight == 32


def test_updates_only_the_given_settings_and_keeps_the_secret():
    first = add_endpoint("shop1", "--url", "https://shop.example/a")
    second = add_endpoint("shop1", "--max-attempts", "5", "--priority", "urgent", "--timeout", "10")
    assert second["created"] is False
    assert second["signing_secret"] == first["signing_secret"]
    assert second["url"] == "https://shop.example/a"
    endpoint = Endpoint.objects.get(user_id="shop1")
    assert (endpoint.max_attempts, endpoint.default_priority, endpoint.timeout_seconds) == (5, 20, 10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shop1"], "--url is required"),
        (["shop1", "--url", "ftp://shop.example"], "http:// or https://"),
        (["shop1", "--url", "not a url"], "http:// or https://"),
        (["shop1", "--url", "https://a.example", "--max-attempts", "0"], "at least 1 attempt"),
        (["shop1", "--url", "https://a.example", "--initial-delay", "-1"], "cannot be negative"),
        (["shop1", "--url", "https://a.example", "--max-delay", "-5"], "cannot be negative"),
        (["shop1", "--url", "https://a.example", "--timeout", "0"], "more than 0 seconds"),
        (["shop1", "--url", "https://a.example", "--multiplier", "0.5"], "1 or more"),
        (
            ["shop1", "--url", "https://a.example", "--initial-delay", "10", "--max-delay", "5"],
            "shorter than",
        ),
        (["bad id!", "--url", "https://a.example"], "user id"),
        (["shop1", "--url", "https://a.example", "--paused", "--active"], "not both"),
        (["shop1", "--url", "https://a.example", "--max-in-flight", "0"], "at least 1 delivery in flight"),
        (["shop1", "--url", "https://a.example", "--max-in-flight", "1001"], "At most 1000 deliveries"),
        (["shop1", "--url", "https://a.example", "--max-in-flight", "lots"], "must be a whole number"),
        (["shop1", "--url", "https://a.example", "--max-in-flight", "2.5"], "must be a whole number"),
    ],
)
def test_bad_arguments_exit_with_a_message_and_write_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("add_endpoint", *args, stdout=io.StringIO())
    assert not Endpoint.objects.exists()


def test_an_unknown_priority_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        from django.core.management import ManagementUtility

        ManagementUtility(
            ["manage.py", "add_endpoint", "shop1", "--url", "https://a.example", "--priority", "x"]
        ).execute()
    assert exit_info.value.code != 0
    assert "invalid choice" in capsys.readouterr().err
    assert not Endpoint.objects.exists()


def test_max_in_flight_is_set_on_create_and_update_and_a_bad_one_changes_nothing():
    assert add_endpoint("shop1", "--url", "https://a.example", "--max-in-flight", "4")["max_in_flight"] == 4
    assert add_endpoint("shop1", "--max-in-flight", "1000")["max_in_flight"] == 1000
    with pytest.raises(CommandError, match="at least 1 delivery in flight"):
        call_command("add_endpoint", "shop1", "--max-in-flight", "0", "--max-attempts", "9")
    endpoint = Endpoint.objects.get()
    assert (endpoint.max_in_flight, endpoint.max_attempts) == (1000, 3)


def test_a_max_in_flight_that_is_not_a_number_exits_non_zero_on_the_command_line(capsys):
    from django.core.management import ManagementUtility

    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(
            ["manage.py", "add_endpoint", "shop1", "--url", "https://a.example", "--max-in-flight", "x"]
        ).execute()
    assert exit_info.value.code != 0
    assert "--max-in-flight: must be a whole number, got 'x'" in capsys.readouterr().err
    assert not Endpoint.objects.exists()


def test_m_pesa_settings_and_token_rotation():
    first = add_endpoint(
        "shop1",
        "--url",
        "https://a.example/hook",
        "--validation-url",
        "https://a.example/validate",
        "--validation-fallback",
        "reject",
        "--high-value-threshold",
        "5000",
        "--priority-override",
        "urgent",
        "--legacy-path",
        "on",
    )
    assert first["validation_url"] == "https://a.example/validate"
    assert (first["validation_fallback"], first["high_value_threshold"]) == ("reject", "5000.00")
    assert (first["priority_override"], first["legacy_path_allowed"]) == ("urgent", True)
    assert first["c2b_validation_path"] == first["inbound_path"] + "/c2b-validation"
    rotated = add_endpoint("shop1", "--rotate-token", "--priority-override", "none")
    assert rotated["inbound_path"] != first["inbound_path"]
    assert rotated["signing_secret"] == first["signing_secret"]
    assert rotated["priority_override"] is None


def test_a_bad_threshold_is_refused():
    with pytest.raises(CommandError, match="must be a number"):
        call_command("add_endpoint", "shop1", "--url", "https://a.example", "--high-value-threshold", "lots")
    with pytest.raises(CommandError, match="cannot be negative"):
        call_command(
            "add_endpoint",
            "shop1",
            "--url",
            "https://a.example",
            "--high-value-threshold",
            "-1",
            stdout=io.StringIO(),
        )
    assert not Endpoint.objects.exists()
