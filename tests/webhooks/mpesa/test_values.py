"""Value parsers: amounts, EAT timestamps, phone masking, placeholder receipts; and module purity."""

import datetime as dt
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from webhooks.mpesa._shape import Params, text
from webhooks.mpesa._values import mask_phone, parse_amount, parse_time, party_phone, receipt_or_blank

REPO = Path(__file__).resolve().parents[3]
HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, Decimal(0)),
        (1, Decimal(1)),
        (1.0, Decimal("1.0")),
        (8959269.6, Decimal("8959269.6")),
        (-1980.0, Decimal("-1980.0")),
        ("1.00", Decimal("1.00")),
        (".5", Decimal("0.5")),
        ("1,234,567.89", Decimal("1234567.89")),
        ("+3", Decimal(3)),
    ],
)
def test_parse_amount(value, expected):
    assert parse_amount(value) == expected


@pytest.mark.parametrize(
    "value", [None, True, False, "", "KES 5", "1e3", "NaN", "Infinity", "1_000", "٣", "5" * 41, [], {}]
)
def test_parse_amount_rejects(value):
    assert parse_amount(value) is None


def test_float_amount_has_no_binary_noise():
    assert str(parse_amount(0.1)) == "0.1"


@pytest.mark.parametrize(
    "value",
    [
        "20191219102115",
        20191219102115,
        20191219102115.0,
        "19.12.2019 10:21:15",
        "2019-12-19 10:21:15",
        "2019-12-19T10:21:15",
    ],
)
def test_parse_time_forms_are_eat(value):
    assert parse_time(value) == dt.datetime(2019, 12, 19, 7, 21, 15, tzinfo=dt.UTC)


def test_parse_time_midnight_crosses_day_in_utc():
    assert parse_time("20240101010000") == dt.datetime(2023, 12, 31, 22, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "value",
    [
        "",
        None,
        "20191232000000",
        "20190229000000",
        "00000000000000",
        "00010101010000",
        "2019121910211",
        "201912191021150",
        "19.12.2019",
        "2019-12-19",
        "١٢٣٤٥٦٧٨٩٠١٢٣٤",
        20191219102115.5,
        [],
        {},
    ],
)
def test_parse_time_rejects(value):
    assert parse_time(value) is None


def test_parse_time_leap_day():
    assert parse_time("20240229120000") == dt.datetime(2024, 2, 29, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (254708374149, "2547*****149"),
        (254708374149.0, "2547*****149"),
        ("254708374149", "2547*****149"),
        ("2547 ***** 126", "2547 ***** 126"),
        (HASH, "sha256:e3b0c44298fc…"),
        ("12345", "12345"),
        ("123456", "***456"),
        ("9999999999999999", "9999*********999"),
        (True, ""),
    ],
)
def test_mask_phone(value, expected):
    assert mask_phone(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("254705912645 - NICHOLAS JOHN SONGOK", "2547*****645"),
        ("0712345678 - Jane", "07*****678"),
        ("2547 ***** 645 - Jane", "2547 ***** 645"),
        ("600310 - Safaricom333", ""),
        ("000000 - Biller Company", ""),
        ("NICHOLAS", ""),
        (HASH + " - X", "sha256:e3b0c44298fc…"),
        ("", ""),
        (None, ""),
        (5, ""),
    ],
)
def test_party_phone(value, expected):
    assert party_phone(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("NLJ0000000", ""), ("OA90000000", ""), ("MBN0000000", ""), ("SG632NMUAB", "SG632NMUAB"), ("", "")],
)
def test_receipt_placeholders(value, expected):
    assert receipt_or_blank(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "0"), (-0.0, "0"), (1e300, "1e+300"), (2.5, "2.5"), (float("nan"), ""), (" x ", "x"), (b"x", "")],
)
def test_text(value, expected):
    assert text(value) == expected


def test_params_keeps_order_duplicates_and_valueless_keys():
    params = Params(
        [{"Key": "A"}, {"Key": " A ", "Value": 1}, {"Key": "A", "Value": 2}, {"Key": "B", "Value": " "}]
    )
    assert params.names == {"A", "B"}
    assert params.all("A") == [1, 2]
    assert params.first("B", "A") == 1
    assert params.first("C") is None


def test_module_is_pure():
    code = (
        "import sys, webhooks.mpesa, webhooks.mpesa.facts, webhooks.mpesa.kinds\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('django', 'requests', 'urllib3', 'socket', 'http', 'rest_framework')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
